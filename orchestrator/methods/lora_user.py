"""lora_user: a LoRA adapter per user, learned between sessions from the replies the user accepted.

No memory goes into the prompt: the agent sees the base prompt and the
session, and the model answers through the user's own adapter once one exists
(the first session uses the base model). What the adapter learns comes from
the user's reactions, judged by the next user turn as rag_vector judges them
(``RuleRewardScorer``):

- a reply the next turn accepts (or the last reply, which the user leaves
  without complaint) becomes a training row: the prompt it answered, and it;
- a reply the next turn corrects is dropped, and the reply to the correction
  is judged in its place *against the original prompt*: once accepted, it
  teaches the adapter to give the corrected reply at the first asking.

After each session the user's most recent ``lora_user_max_rows`` rows train a
fresh ``lora`` adapter (scope ``user``) as a trainer job from the base model,
so the adapter serving session k+1 depends only on sessions 1..k (a resumed
run rebuilds exactly the same one, and an adapter already published under its
name is reused). The tokens trained on are counted under the ledger role
``training``. This is rejection-sampling fine-tuning per user; none of the
published multi-session systems compares a per-user adapter.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass

from attune.orchestrator.methods.base import Context, Ledger, Method, Recall, register_method, train_adapter
from attune.orchestrator.prompts import agent_messages
from attune.orchestrator.reward import RuleRewardScorer
from attune.v1 import common_pb2


@dataclass
class Pending:
    """A reply waiting for the user's next turn to judge it, and the prompt it will be learned against."""

    prompt: list[tuple[str, str]]
    reply: str


def training_row(prompt: list[tuple[str, str]], reply: str) -> dict:
    """A trainer row (services/trainer/jobs/sft.py): the chat before the reply, and the reply."""
    return {"messages": [{"role": role, "content": text} for role, text in prompt], "completion": reply}


def adapter_name(run_id: str, user_id: str, session: int) -> str:
    """One adapter per run, user and session (names allow only letters, digits, '-' and '_')."""
    digest = hashlib.sha256(f"{run_id}/{user_id}".encode()).hexdigest()[:16]
    return f"lora-user-{digest}-s{session}"


@register_method
class LoraUser(Method):
    name = "lora_user"
    needs = ("trainer",)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.scorer = RuleRewardScorer()
        self.adapters: dict[str, str] = {}  # user -> the adapter answering their sessions ("" before one exists)
        self.rows: dict[str, list[dict]] = {}  # user -> training rows so far, oldest first
        self.pending: dict[str, Pending | None] = {}
        self.corrected: dict[str, list[tuple[str, str]] | None] = {}  # this turn's: set by recall, used by observe
        self.trained: dict[str, dict] = {}  # user -> the last training job: adapter, rows, steps, tokens

    async def start_session(self, ctx: Context) -> None:
        await super().start_session(ctx)
        self.pending[ctx.user_id] = None

    def adapter(self, user_id: str) -> str:
        return self.adapters.get(user_id, "")

    async def recall(self, user_id: str, message: str, ledger: Ledger) -> Recall:
        """No memory lines; ``message`` judges the reply waiting for it."""
        self.corrected[user_id] = await self._judge_last(user_id, message)
        return Recall()

    async def observe(self, user_id: str, message: str, reply: str) -> None:
        """The reply waits for the next turn, with the prompt it answered (or, after a correction, the request
        it finally answers)."""
        prompt = self.corrected.pop(user_id, None) or agent_messages(
            [], self.history[user_id][:-1], self.settings.max_history_turns)
        self.pending[user_id] = Pending(prompt, reply)

    async def _judge_last(self, user_id: str, message: str) -> list[tuple[str, str]] | None:
        """Judge the waiting reply by ``message``: keep it as a row when accepted; when corrected, return the
        prompt the next reply is to be learned against."""
        last = self.pending.get(user_id)
        if last is None:
            return None
        if await self.scorer.score(last.reply, message) > 0:
            self.rows.setdefault(user_id, []).append(training_row(last.prompt, last.reply))
            return None
        return last.prompt

    async def end_session(self, user_id: str, ledger: Ledger) -> None:
        last = self.pending.pop(user_id, None)
        if last is not None:  # the user left without complaining: the last reply is accepted
            self.rows.setdefault(user_id, []).append(training_row(last.prompt, last.reply))
        rows = self.rows.get(user_id, [])[-self.settings.lora_user_max_rows:]
        if rows:
            await self._train(user_id, rows, ledger)

    async def _train(self, user_id: str, rows: list[dict], ledger: Ledger) -> None:
        s, ctx = self.settings, self.context[user_id]
        name = adapter_name(ctx.run_id, user_id, ctx.session)
        batch = min(s.lora_user_batch_size, len(rows))
        done = await train_adapter(
            self, "per-user adapter", name, rows, s.lora_user_timeout_s, kind="lora", scope="user",
            scope_id=user_id, max_steps=s.lora_user_epochs * math.ceil(len(rows) / batch),
            learning_rate=s.lora_user_learning_rate,
            params_json=json.dumps({"batch_size": batch, "token_budget": s.lora_user_token_budget}))
        if done is None:
            self.trained[user_id] = {"adapter": name, "rows": len(rows), "steps": 0, "tokens": 0, "reused": True}
        else:
            ledger.add("training", common_pb2.TokenUsage(prompt_tokens=done.tokens))
            self.trained[user_id] = {"adapter": name, "rows": len(rows), "steps": done.step, "tokens": done.tokens}
        self.adapters[user_id] = name

    def snapshot(self, user_id: str) -> dict:
        """The adapter that will answer the next session, the rows it came from, and its training job."""
        return {"adapter": self.adapters.get(user_id, ""), "rows": self.rows.get(user_id, []),
                "training": self.trained.get(user_id, {})}

    async def restore(self, user_id: str, state: dict) -> None:
        self.adapters[user_id] = state.get("adapter", "")
        self.rows[user_id] = list(state.get("rows", []))
        self.trained[user_id] = dict(state.get("training", {}))
