"""The judge: verdicts with reasons on task success, compliance, conflicts and over-personalization.

Every question is put to a program where one can decide it (the dataset's own
answer check, a preference checker from attune.preferences.checkers) and to the
LLM judge; the program decides where it exists and the LLM otherwise, and both
opinions are kept so that their agreement can be reported. The LLM is asked with
greedy decoding, a fixed seed and a JSON schema; output that does not parse is
asked again, sampling with a seed of its own (services/common/sampling.py), then
recorded as unjudged with the reason, never as a silent zero.

Every verdict names the judge (model, backend, a hash of the prompts and the
seed), so a run judged twice, or by two judges, can be told apart.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

import json_repair

from attune.preferences import checkers
from attune.services.common import metrics
from attune.services.common.errors import InvalidArgument, Unavailable
from attune.services.common.logging import get_logger, request_context
from attune.services.common.sampling import attempt_sampling
from attune.services.common.validation import check_id
from attune.services.judge.client import NO, YES, opinion
from attune.services.judge.settings import JudgeSettings
from attune.services.model.client import chat_request
from attune.v1 import common_pb2, judge_pb2

log = get_logger(__name__)

TASK_PROMPT = (
    "You grade answers to problems. Compare the candidate's final answer with the reference answer. It is "
    "correct only if it states the same final result (equivalent forms count; a different value, a wrong "
    "choice or no final answer is incorrect). Reply with JSON: correct, then a one-sentence reason.")
COMPLIANCE_PROMPT = (
    "You check whether an assistant's reply follows a user's preferences. For each preference id, answer "
    "true only if the reply clearly follows it, false if it ignores or breaks it. Reply with JSON: followed "
    "with one true or false per id, then a one-sentence reason.")
CONFLICT_PROMPT = (
    "A user holds two preferences that pull in different directions for this request. Say which one the "
    "assistant's reply follows: A, B, both or neither. Reply with JSON: followed, then a one-sentence reason.")
OVER_PROMPT = (
    "A user holds the preferences below, but none of them applies to this request: their conditions do not "
    "hold. For each id, answer true if the reply nevertheless applies that preference, false otherwise. "
    "Reply with JSON: applied with one true or false per id, then a one-sentence reason.")
PROMPTS = (TASK_PROMPT, COMPLIANCE_PROMPT, CONFLICT_PROMPT, OVER_PROMPT)
PROMPT_HASH = hashlib.sha256("\n\n".join(PROMPTS).encode()).hexdigest()[:12]


# The decision comes first and the reason last: a reply cut at max_tokens inside its reason still
# carries the decision (the cut JSON is repaired when parsed).
def _ids_schema(key: str, ids: list[str]) -> dict:
    return {"type": "object", "additionalProperties": False, "required": [key, "reason"],
            "properties": {key: {"type": "object", "additionalProperties": False, "required": ids,
                                 "properties": {i: {"type": "boolean"} for i in ids}},
                           "reason": {"type": "string"}}}


TASK_SCHEMA = {"type": "object", "additionalProperties": False, "required": ["correct", "reason"],
               "properties": {"correct": {"type": "boolean"}, "reason": {"type": "string"}}}
CONFLICT_SCHEMA = {"type": "object", "additionalProperties": False, "required": ["followed", "reason"],
                   "properties": {"followed": {"enum": ["A", "B", "both", "neither"]}, "reason": {"type": "string"}}}


@dataclass
class Asked:
    """The LLM's parsed answer (None: it never parsed), its reason and the tokens it cost."""

    answer: dict | None
    reason: str
    usage: common_pb2.TokenUsage


def card_text(card: common_pb2.PreferenceCard) -> str:
    when = "" if card.condition in ("", "always") else f" (when {card.condition})"
    return f"{card.preference}{when}"


class JudgeService:
    """Judges one question per call; ``model`` is a ModelService or a ModelClient (the judge role)."""

    def __init__(self, settings: JudgeSettings, model):
        self.settings = settings
        self.model = model
        self.ready = False
        self.info = judge_pb2.JudgeInfo(prompt_hash=PROMPT_HASH, seed=settings.seed)

    async def start(self) -> None:
        served = await self.model.get_info()
        self.info.model, self.info.backend = served.model, served.backend
        self.ready = True

    async def close(self) -> None:
        self.ready = False

    async def get_info(self, request: judge_pb2.JudgeInfoRequest | None = None) -> judge_pb2.JudgeInfo:
        self._check_ready()
        return judge_pb2.JudgeInfo(model=self.info.model, backend=self.info.backend,
                                   prompt_hash=self.info.prompt_hash, seed=self.info.seed)

    # ---- the four questions ---------------------------------------------------------------------------

    async def judge_task_success(self, request: judge_pb2.TaskSuccessRequest) -> judge_pb2.Verdict:
        self._check_ready()
        self._require(request.problem, "problem")
        if request.programmatic in (YES, NO):  # the dataset's check decides: the LLM is not asked
            passed = request.programmatic == YES
            return _counted("task", request.context, judge_pb2.Verdict(
                passed=passed, decided_by="checker", checker=request.programmatic, judge=self.info,
                reason=f"the dataset's check says {'correct' if passed else 'incorrect'}"))
        with request_context(request.context):
            asked = await self._ask(request.context, TASK_PROMPT, TASK_SCHEMA, (
                f"Problem:\n{self._cut(request.problem)}\n\nReference answer:\n{self._cut(request.reference_answer)}"
                f"\n\nCandidate answer:\n{self._cut(request.answer) or '(no answer)'}"))
        llm = None if asked.answer is None else asked.answer.get("correct") is True
        return _counted("task", request.context, self._decide(request.programmatic, llm, asked))

    async def judge_compliance(self, request: judge_pb2.ComplianceRequest) -> judge_pb2.ComplianceVerdict:
        self._check_ready()
        cards = self._cards(request.preferences, "preferences")
        with request_context(request.context):
            details, usage = await self._per_preference(request.context, COMPLIANCE_PROMPT, "followed",
                                                        request.query, request.reply, cards, checkers.check)
        judged = [d for d in details if not d.unjudged]
        compliance = sum(d.satisfied for d in judged) / len(judged) if judged else 0.0
        for detail in details:
            metrics.count_verdict("compliance", request.context.method, "unjudged" if detail.unjudged else
                                  "followed" if detail.satisfied else "not_followed")
        return judge_pb2.ComplianceVerdict(verdicts=details, compliance=compliance, usage=usage,
                                           judge=self.info)

    async def judge_conflict(self, request: judge_pb2.ConflictRequest) -> judge_pb2.Verdict:
        self._check_ready()
        cards = self._cards(request.triggered, "triggered")
        expected = next((c for c in cards if c.card_id == request.expected_card_id), None)
        losers = [c for c in cards if c.card_id != request.expected_card_id]
        if expected is None or len(losers) != 1:
            raise InvalidArgument("expected_card_id", "must name one of exactly two triggered preferences")
        loser = losers[0]
        with request_context(request.context):
            first = await self._ask_conflict(request, expected, loser)
            second = await self._ask_conflict(request, loser, expected)
        both = Asked(None, _orders_reason(first, second), _sum_usage(first.usage, second.usage))  # for its reason
        verdict = self._decide(self._conflict_check(expected, loser, request.reply),
                               _consistent(first, second, expected.card_id), both)
        verdict.positions.extend(_position(asked) for asked in (first, second))
        return _counted("conflict", request.context, verdict)

    async def _ask_conflict(self, request: judge_pb2.ConflictRequest, a: common_pb2.PreferenceCard,
                            b: common_pb2.PreferenceCard) -> Asked:
        """One order of the rivals; the answer's ``choice`` is what it picked, named by card (or both, neither)."""
        asked = await self._ask(request.context, CONFLICT_PROMPT, CONFLICT_SCHEMA, (
            f"Request:\n{self._cut(request.query)}\n\nReply:\n{self._cut(request.reply)}\n\n"
            f"A: {card_text(a)}\nB: {card_text(b)}"))
        if asked.answer is not None:
            followed = asked.answer.get("followed")
            asked.answer["choice"] = {"A": a.card_id, "B": b.card_id}.get(followed, followed)
        return asked

    async def judge_over_personalization(self, request: judge_pb2.OverPersonalizationRequest) -> judge_pb2.Verdict:
        """``passed``: the reply applied none of the inapplicable preferences; ``preferences`` says which it did."""
        self._check_ready()
        cards = self._cards(request.inapplicable, "inapplicable", allow_empty=True)
        with request_context(request.context):
            details, usage = await self._per_preference(request.context, OVER_PROMPT, "applied", request.query,
                                                        request.reply, cards, checkers.applied)
        applied_ids = [d.card_id for d in details if d.satisfied and not d.unjudged]
        unjudged = [d for d in details if d.unjudged]
        reason = f"applied: {', '.join(applied_ids)}" if applied_ids else "applied none of them"
        return _counted("over_personalization", request.context, judge_pb2.Verdict(
            passed=not applied_ids, unjudged=bool(unjudged) and not applied_ids, reason=reason,
            decided_by=",".join(sorted({d.decided_by for d in details})) or "none", usage=usage,
            preferences=details, judge=self.info))

    # ---- deciding -------------------------------------------------------------------------------------

    def _decide(self, program: int, llm: bool | None, asked: Asked) -> judge_pb2.Verdict:
        """The program decides where it has an opinion, the LLM otherwise."""
        verdict = judge_pb2.Verdict(checker=program, llm=opinion(llm), usage=asked.usage, judge=self.info)
        if program in (YES, NO):
            verdict.passed, verdict.decided_by = program == YES, "checker"
            verdict.reason = asked.reason or "decided by the program"
        elif llm is None:
            verdict.unjudged, verdict.decided_by = True, "llm"
            verdict.reason = asked.reason
        else:
            verdict.passed, verdict.decided_by, verdict.reason = llm, "llm", asked.reason
        return verdict

    @staticmethod
    def _conflict_check(expected: common_pb2.PreferenceCard, loser: common_pb2.PreferenceCard, reply: str) -> int:
        """YES/NO when both preferences have a checker (expected followed and loser not), else unspecified."""
        won, lost = checkers.check(expected.card_id, reply), checkers.check(loser.card_id, reply)
        if won is None or lost is None:
            return judge_pb2.OPINION_UNSPECIFIED
        return YES if won.passed and not lost.passed else NO

    async def _per_preference(self, context, prompt: str, key: str, query: str, reply: str,
                              cards: list[common_pb2.PreferenceCard], program) -> tuple[list, common_pb2.TokenUsage]:
        """One LLM call for all the cards; per card the program's result where it has one, else the LLM's."""
        if not cards:
            return [], common_pb2.TokenUsage()
        ids = [c.card_id for c in cards]
        listing = "\n".join(f"[{c.card_id}] {card_text(c)}" for c in cards)
        asked = await self._ask(context, prompt, _ids_schema(key, ids),
                                f"Request:\n{self._cut(query)}\n\nReply:\n{self._cut(reply)}\n\nPreferences:\n{listing}")
        answers = answers_by_id(asked.answer, key)
        details = []
        for card in cards:
            result = program(card.card_id, reply)
            llm = answers.get(card.card_id) if isinstance(answers.get(card.card_id), bool) else None
            detail = judge_pb2.PreferenceVerdict(card_id=card.card_id, llm=opinion(llm),
                                                 checker=opinion(result.passed) if result else 0)
            if result is not None:
                detail.satisfied, detail.decided_by, detail.reason = result.passed, "checker", result.reason
            elif llm is None:
                detail.unjudged, detail.decided_by, detail.reason = True, "llm", asked.reason
            else:
                detail.satisfied, detail.decided_by, detail.reason = llm, "llm", asked.reason
            details.append(detail)
        return details, asked.usage

    # ---- asking the LLM -------------------------------------------------------------------------------

    async def _ask(self, context, system: str, schema: dict, text: str) -> Asked:
        """The LLM's JSON answer; None after ``retries`` more tries that did not parse."""
        usage = common_pb2.TokenUsage()
        last = ""
        for attempt in range(self.settings.retries + 1):
            temperature, seed = attempt_sampling(attempt, 0.0, self.settings.seed, self.settings.retry_temperature)
            request = chat_request([("system", system), ("user", text)], max_tokens=self.settings.max_tokens,
                                   temperature=temperature, seed=seed, json_schema=json.dumps(schema))
            request.context.CopyFrom(context)
            request.context.caller_role = "judge"
            reply = await self.model.chat(request)
            usage.prompt_tokens += reply.usage.prompt_tokens
            usage.completion_tokens += reply.usage.completion_tokens
            last = reply.text
            answer = parse_json(reply.text)
            decision = schema["required"][0]
            if answer is not None and decision in answer:
                return Asked(answer, " ".join(str(answer.get("reason", "")).split())[:300], usage)
        log.info("judge_unparsed", tries=self.settings.retries + 1, output=last[:200])
        return Asked(None, f"the judge's output did not parse after {self.settings.retries + 1} tries: "
                           f"{last[:120]!r}", usage)

    # ---- validation -----------------------------------------------------------------------------------

    def _check_ready(self) -> None:
        if not self.ready:
            raise Unavailable("the judge is starting")

    def _cut(self, text: str) -> str:
        return text[: self.settings.max_text_chars]

    @staticmethod
    def _require(value: str, field: str) -> None:
        if not value.strip():
            raise InvalidArgument(field, "must not be empty")

    def _cards(self, cards, field: str, allow_empty: bool = False) -> list[common_pb2.PreferenceCard]:
        cards = list(cards)
        if not cards and not allow_empty:
            raise InvalidArgument(field, "must name at least one preference")
        if len(cards) > self.settings.max_preferences:
            raise InvalidArgument(field, f"at most {self.settings.max_preferences} preferences")
        ids = [c.card_id for c in cards]
        for i, card in enumerate(cards):
            # Ids become the answer schema's keys: an unbounded id made a schema that took seconds to compile.
            check_id(f"{field}[{i}].card_id", card.card_id)
            self._require(card.preference, f"{field}[{i}].preference")
        if len(set(ids)) != len(ids):
            raise InvalidArgument(f"{field}.card_id", "every preference needs a distinct card_id")
        return cards


def answers_by_id(answer: dict | None, key: str) -> dict:
    """The answer's ``key`` object (preference id -> bool). An answer cut inside its ids can repair to a list
    or a string there: then no preference was judged."""
    found = (answer or {}).get(key)
    return found if isinstance(found, dict) else {}


def parse_json(text: str) -> dict | None:
    try:
        data = json.loads(text)
    except ValueError:
        data = json_repair.loads(text)
    return data if isinstance(data, dict) else None


def _choices_differ(first: Asked, second: Asked) -> bool:
    """Both orders parsed and named different choices: the choice followed the position."""
    return first.answer is not None and second.answer is not None and first.answer["choice"] != second.answer["choice"]


def _consistent(first: Asked, second: Asked, expected_id: str) -> bool | None:
    """The LLM's opinion of a conflict asked in both orders: whether it chose the expected preference, counted
    only when both orders name the same choice (a choice that follows the position is no opinion)."""
    if first.answer is None or second.answer is None or _choices_differ(first, second):
        return None
    return first.answer["choice"] == expected_id


def _position(asked: Asked) -> str:
    return "" if asked.answer is None else str(asked.answer.get("followed", ""))


def _orders_reason(first: Asked, second: Asked) -> str:
    if _choices_differ(first, second):
        return (f"the LLM's choice followed the order ({_position(first)} with the expected preference as A, "
                f"{_position(second)} with it as B): no opinion; {first.reason}")
    return first.reason if first.answer is not None else second.reason


def _sum_usage(*usages: common_pb2.TokenUsage) -> common_pb2.TokenUsage:
    return common_pb2.TokenUsage(prompt_tokens=sum(u.prompt_tokens for u in usages),
                                 completion_tokens=sum(u.completion_tokens for u in usages))


def _counted(check: str, context, verdict: judge_pb2.Verdict) -> judge_pb2.Verdict:
    """Count the verdict in the service's metrics (by check, the benchmark method, and outcome)."""
    outcome = "unjudged" if verdict.unjudged else "passed" if verdict.passed else "failed"
    metrics.count_verdict(check, context.method, outcome)
    return verdict


async def build(context) -> JudgeService:
    """The registry's factory: the judge asks its ``model`` peer (the judge role's model service)."""
    return JudgeService(context.settings, context.peers["model"])
