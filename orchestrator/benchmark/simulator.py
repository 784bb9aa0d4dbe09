"""The user simulator: an LLM role-plays the user, with the profile and the hidden problem.

After every agent reply it returns a structured verdict (decoding is constrained
to a JSON schema built for this turn: preference ids are enums of the ones that
apply). The code, not the model, enforces the protocol's rules:

- no enforcement while the agent asks a clarifying question;
- the draft answer changes only when the reply was helpful and compliant
  (nothing enforced);
- an enforcement message names the preference, so the agent can learn it;
- output that does not parse is retried, sampling with a seed of its own (a greedy
  retry would repeat it), then replaced by a neutral "please continue" turn so the
  session goes on, and counted.

In ``checked`` mode (the default: a 135M simulator cannot tell a numbered list
from prose), the verdict on every preference a program can check comes from
that checker (attune/preferences/checkers/), and a broken checkable preference is
enforced; the model still writes the user's words and judges the rest.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from typing import Literal

import json_repair
from pydantic import BaseModel, ConfigDict, Field

from attune.orchestrator.methods.base import Context, Ledger
from attune.preferences import checkers
from attune.services.common.errors import Unavailable
from attune.services.common.sampling import attempt_sampling
from attune.services.model.client import chat_request
from attune.v1 import common_pb2, model_pb2

TRANSCRIPT_CHARS = 600
CONTINUE = "Please continue."
DRAFT_CHARS = 500


class SimulatorSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    max_tokens: int = Field(256, ge=32, le=4096)
    retries: int = Field(1, ge=0, le=5)
    # A retry samples at this temperature with its own seed (services/common/sampling.py).
    retry_temperature: float = Field(0.7, gt=0.0, le=2.0)
    temperature: float = Field(0.0, ge=0.0, le=2.0)
    # Replies this short that end with "?" are clarifying questions whatever the model says.
    clarifying_max_chars: int = Field(300, ge=0)
    # checked: preferences a program can check are judged by it; llm: the model judges every preference.
    verdicts: Literal["checked", "llm"] = "checked"


@dataclass
class Verdict:
    satisfied: list[str] = field(default_factory=list)
    enforce: bool = False
    enforce_id: str = ""
    clarifying: bool = False
    draft_answer: str = ""
    end_session: bool = False
    message: str = CONTINUE
    parse_failed: bool = False

    def to_dict(self) -> dict:
        return asdict(self)


def verdict_schema(ids: list[str]) -> dict:
    return {
        "type": "object",
        "properties": {
            # One yes/no per applicable preference: no repeated or missing ids.
            "satisfied": {"type": "object", "properties": {i: {"type": "boolean"} for i in ids}, "required": ids,
                          "additionalProperties": False},
            "asked_clarifying_question": {"type": "boolean"},
            "enforce": {"type": "boolean"},
            "enforce_id": {"type": "string", "enum": [*ids, ""]},
            "end_session": {"type": "boolean"},
            # No maxLength: xgrammar's length-bounded strings make decoding many times slower;
            # max_tokens bounds the output and a cut-off object is repaired when parsed.
            "draft_answer": {"type": "string"},
            "message": {"type": "string"},
        },
        "required": ["satisfied", "asked_clarifying_question", "enforce", "enforce_id", "end_session",
                     "draft_answer", "message"],
        "additionalProperties": False,
    }


def system_prompt(problem: str, applicable: list) -> str:
    if applicable:
        prefs = "\n".join(f"[{p.id}] {p.preference} ({p.condition}). Object if: {p.enforce_if}" for p in applicable)
    else:
        prefs = "(none apply here)"
    return (
        "You are role-playing a user who works with an AI assistant on this problem:\n"
        f"{problem}\n\nYour preferences that apply to this conversation:\n{prefs}\n\n"
        "After each assistant reply: in satisfied, mark each preference id true if the reply followed it. If it broke "
        "one, set enforce true, put that id in enforce_id and ask for it in your message. If the assistant "
        "only asked you a clarifying question, answer it and do not enforce. Keep draft_answer as your "
        "current answer to the problem. Set end_session true when you have a final answer or are stuck. "
        "message is what you say next, in one or two sentences. Reply with JSON only."
    )


def conversation(history: list[tuple[str, str]], draft: str) -> str:
    lines = [f"{'You' if role == 'user' else 'Assistant'}: {text.strip()[:TRANSCRIPT_CHARS]}"
             for role, text in history]
    return "\n".join(lines) + f"\n\nYour draft answer so far: {draft or '(none yet)'}\nYour verdict as JSON:"


def parse_verdict(text: str, ids: list[str]) -> Verdict | None:
    """The model's JSON as a Verdict, or None when it is not a JSON object."""
    try:
        data = json.loads(text)
    except ValueError:
        data = json_repair.loads(text)
    if not isinstance(data, dict) or not isinstance(data.get("message", ""), str):
        return None
    satisfied = data.get("satisfied") or {}
    if isinstance(satisfied, dict):
        satisfied = [i for i, followed in satisfied.items() if followed is True]
    enforce_id = data.get("enforce_id") if data.get("enforce_id") in ids else ""
    return Verdict(
        satisfied=[i for i in dict.fromkeys(satisfied) if i in ids] if isinstance(satisfied, list) else [],
        enforce=bool(data.get("enforce")) and bool(enforce_id), enforce_id=enforce_id,
        clarifying=bool(data.get("asked_clarifying_question")),
        draft_answer=str(data.get("draft_answer") or "").strip(), end_session=bool(data.get("end_session")),
        message=(data.get("message") or "").strip() or CONTINUE)


def check_verdict(verdict: Verdict, reply: str, ids: list[str]) -> None:
    """Checkable preferences judged by their checkers: satisfied as they say, and a broken one enforced
    (the model's enforcement of one the checker sees followed is withdrawn)."""
    results = {i: r for i in ids if (r := checkers.check(i, reply)) is not None}
    verdict.satisfied = [i for i in ids if (results[i].passed if i in results else i in verdict.satisfied)]
    if verdict.enforce and verdict.enforce_id in results and results[verdict.enforce_id].passed:
        verdict.enforce, verdict.enforce_id = False, ""
    broken = [i for i in ids if i in results and not results[i].passed]
    if not verdict.enforce and broken:
        verdict.enforce, verdict.enforce_id = True, broken[0]


def is_clarifying_question(reply: str, max_chars: int) -> bool:
    text = reply.strip()
    return text.endswith("?") and len(text) <= max_chars


def words(text: str) -> set[str]:
    return {w for w in re.findall(r"[a-z]+", text.lower()) if len(w) > 3}


class UserSimulator:
    """Role-plays one user per call; holds no state, so one instance serves every user."""

    def __init__(self, model, settings: SimulatorSettings | None = None, seed: int = 0):
        self.model = model
        self.settings = settings or SimulatorSettings()
        self.seed = seed

    async def react(self, ctx: Context, problem: str, applicable: list, history: list[tuple[str, str]],
                    draft: str, ledger: Ledger) -> Verdict:
        """The verdict on the agent's last reply (the last entry of ``history``)."""
        ids = [p.id for p in applicable]
        messages = [("system", system_prompt(problem, applicable)), ("user", conversation(history, draft))]
        verdict = None
        for attempt in range(self.settings.retries + 1):
            temperature, seed = attempt_sampling(attempt, self.settings.temperature,
                                                 self.seed + 1000 * ctx.session + len(history),
                                                 self.settings.retry_temperature)
            request = chat_request(messages, max_tokens=self.settings.max_tokens, temperature=temperature, seed=seed,
                                   json_schema=json.dumps(verdict_schema(ids)))
            request.context.CopyFrom(ctx.request("user_simulator", ""))
            with ledger.timed("user_simulator"):
                reply = await self.model.chat(request)
            ledger.add("user_simulator", reply.usage)
            verdict = parse_verdict(reply.text, ids)
            if verdict is not None:
                break
        if verdict is None:
            verdict = Verdict(parse_failed=True)
        if self.settings.verdicts == "checked":
            check_verdict(verdict, history[-1][1], ids)
        return self._apply_rules(verdict, history[-1][1], applicable, draft)

    async def count_tokens(self, texts: list[str]) -> int | None:
        """Tokens of the user's messages by the model's tokenizer, chat template excluded (None: it cannot count)."""
        if not texts:
            return 0
        try:
            with_text = await self._count(texts)
            empty = await self._count([""] * len(texts))
        except Unavailable:
            return None
        return with_text - empty

    async def _count(self, texts: list[str]) -> int:
        reply = await self.model.count_tokens(model_pb2.CountTokensRequest(
            messages=[common_pb2.Message(role="user", content=t) for t in texts]))
        return reply.tokens

    def _apply_rules(self, verdict: Verdict, reply: str, applicable: list, draft: str) -> Verdict:
        # A reply with no question in it is not a clarifying question, whatever the model says.
        asked = "?" in reply and verdict.clarifying
        if asked or is_clarifying_question(reply, self.settings.clarifying_max_chars):
            verdict.clarifying, verdict.enforce, verdict.enforce_id = True, False, ""
        else:
            verdict.clarifying = False
        if verdict.enforce:
            verdict.end_session = False
            verdict.satisfied = [i for i in verdict.satisfied if i != verdict.enforce_id]
            pref = next(p for p in applicable if p.id == verdict.enforce_id)
            if not words(pref.preference) & words(verdict.message):
                verdict.message = f"Please {pref.preference.rstrip('.')}. {verdict.message}".strip()
            verdict.draft_answer = draft
        elif not verdict.draft_answer:
            verdict.draft_answer = draft
        verdict.draft_answer = verdict.draft_answer[:DRAFT_CHARS]
        return verdict
