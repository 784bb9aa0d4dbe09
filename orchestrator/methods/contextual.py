"""contextual: every previous session in the agent's context, summarized when the budget is reached.

Sessions are kept verbatim (each turn clipped) until the memory block passes
``context_budget_tokens``; then the oldest sessions are folded, one at a time,
into a running summary written by the model.
"""

from __future__ import annotations

from attune.orchestrator.methods.base import Ledger, Method, register_method
from attune.orchestrator.prompts import system_prompt
from attune.v1 import common_pb2, model_pb2

TURN_CHARS = 400
SUMMARY_PROMPT = (
    "Summarize what you learned about this user from the earlier summary and the session below: their "
    "preferences about how answers should look, and anything they corrected. Write at most 8 short lines."
)


def render_session(index: int, turns: list[tuple[str, str]]) -> str:
    lines = [f"{role}: {text.strip()[:TURN_CHARS]}" for role, text in turns]
    return f"Session {index}:\n" + "\n".join(lines)


@register_method
class Contextual(Method):
    name = "contextual"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.summary: dict[str, str] = {}
        self.sessions: dict[str, list[str]] = {}

    def memory(self, user_id: str) -> list[str]:
        summary = self.summary.get(user_id, "")
        return ([f"Summary of older sessions: {summary}"] if summary else []) + self.sessions.get(user_id, [])

    async def end_session(self, user_id: str, ledger: Ledger) -> None:
        sessions = self.sessions.setdefault(user_id, [])
        sessions.append(render_session(self.context[user_id].session, self.transcript(user_id)))
        budget = self.settings.context_budget_tokens
        while sessions and await self._tokens(system_prompt(self.memory(user_id))) > budget:
            oldest = sessions.pop(0)
            earlier = self.summary.get(user_id, "(none)")
            text = await self.chat(user_id, [("system", SUMMARY_PROMPT),
                                             ("user", f"Earlier summary: {earlier}\n\n{oldest}")],
                                   ledger, ledger_role="memory", max_tokens=self.settings.summary_max_tokens)
            self.summary[user_id] = " ".join(text.split())

    async def _tokens(self, text: str) -> int:
        reply = await self.services.model.count_tokens(model_pb2.CountTokensRequest(
            messages=[common_pb2.Message(role="system", content=text)]))
        return reply.tokens

    def snapshot(self, user_id: str) -> dict:
        return {"summary": self.summary.get(user_id, ""), "sessions": self.sessions.get(user_id, [])}

    async def restore(self, user_id: str, state: dict) -> None:
        self.summary[user_id] = state.get("summary", "")
        self.sessions[user_id] = list(state.get("sessions", []))
