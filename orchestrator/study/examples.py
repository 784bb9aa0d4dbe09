"""Reply examples: what a model is asked in the study, and what it is scored against.

Every assistant message of a session is one example: the prompt is the
baseline's system prompt with the session's conditions, then the session's
messages before it; the reference is the message itself. Trainer rows
(``{"messages", "completion"}``) and evaluation use the same examples.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from attune.orchestrator.study.data import TRIGGERS, Session, User
from attune.services.common.files import user_or_shipped
from attune.services.common.jsonl import write_jsonl


class Baseline(BaseModel):
    """The versioned baseline: a fixed neutral prompt and generation settings (shipped as ``baseline_v1.0``,
    orchestrator/study/configs/baseline_v1.0.json)."""

    model_config = ConfigDict(extra="forbid")

    version: str
    system_prompt: str = Field(min_length=1)
    max_new_tokens: int = Field(ge=1, le=1024)
    temperature: float = Field(ge=0, le=2)


def load_baseline(path: str | Path) -> Baseline:
    """A baseline file, or the name of a shipped one (``baseline_v1.0``)."""
    return Baseline.model_validate_json(
        user_or_shipped(path, "attune.orchestrator.study", "configs", ".json").read_text())


@dataclass(frozen=True)
class Example:
    user_id: str
    session_id: int
    turn: int  # index of the reply among the session's messages
    messages: list[dict]
    reference: str

    @property
    def key(self) -> str:
        return f"{self.user_id}:{self.session_id}:{self.turn}"

    def row(self) -> dict:
        return {"messages": self.messages, "completion": self.reference}


def system_prompt(baseline: Baseline, session: Session) -> str:
    conditions = ", ".join(f"{name.replace('_', ' ')}: {getattr(session.meta, name)}" for name in TRIGGERS)
    return f"{baseline.system_prompt}\nConditions now: {conditions}."


def session_examples(user_id: str, session: Session, baseline: Baseline) -> list[Example]:
    examples, history = [], [{"role": "system", "content": system_prompt(baseline, session)}]
    for turn, message in enumerate(session.messages):
        if message.role == "assistant" and len(history) > 1:
            examples.append(Example(user_id, session.session_id, turn, list(history), message.text))
        history.append({"role": message.role, "content": message.text})
    return examples


def examples_for(users: list[User], sessions: dict[str, list[int]], baseline: Baseline,
                 per_user: int = 0) -> list[Example]:
    """The examples of each user's listed sessions, in order; ``per_user`` > 0 keeps that many per user."""
    out = []
    for user in users:
        wanted = set(sessions.get(user.user_id, ()))
        mine = [e for s in user.sessions if s.session_id in wanted for e in session_examples(user.user_id, s, baseline)]
        out += mine[:per_user] if per_user else mine
    return out


def write_rows(examples: list[Example], path: Path) -> Path:
    write_jsonl(path, (e.row() for e in examples))
    return path
