"""The interface every personalization method implements, and the registry of methods.

A method plays the agent. The runner drives it the same way for every method:
``start_session`` -> ``respond`` for each user turn -> ``end_session`` (memory
upkeep: notes, summaries), and after each session stores ``snapshot`` so a
killed run resumes with ``restore``.

There is one assistant path: ``respond`` asks the method to ``recall`` the
memory lines for this turn (the only thing a method contributes to the
prompt), builds the prompt with ``attune.orchestrator.prompts`` from those
lines and the one history, calls the model, and tells the method the reply
(``observe``). Methods get their collaborators (model,
extractor, retrieval, uservec, trainer) as in-process cores or gRPC clients and
never know which.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field

from attune.orchestrator.memory import Services
from attune.orchestrator.prompts import agent_messages
from attune.services.common.jsonl import write_jsonl
from attune.services.model.client import chat_request
from attune.services.trainer.client import wait_for_job
from attune.v1 import common_pb2, trainer_pb2


class UnknownMethod(ValueError):
    pass


class MethodSettings(BaseModel):
    """Knobs shared by the methods; an experiment file sets them under ``method_settings``."""

    model_config = ConfigDict(extra="forbid")

    max_reply_tokens: int = Field(256, ge=1, le=8192)
    temperature: float = Field(0.0, ge=0.0, le=2.0)
    max_history_turns: int = Field(12, ge=1)
    # contextual: previous sessions kept verbatim up to this many tokens, older ones summarized.
    context_budget_tokens: int = Field(1024, ge=64)
    summary_max_tokens: int = Field(160, ge=16)
    # rag / rag_vector
    top_k: int = Field(16, ge=1, le=256)
    select_k: int = Field(4, ge=1, le=64)
    rerank: bool = False
    # reflection_grpo: the GRPO note-writer's training job.
    grpo_steps: int = Field(4, ge=1)
    # Large enough that a few steps change what the note-writer writes: measured with SmolLM2, two steps at
    # 1e-3 left the LoRA update at 4e-4 and the notes unchanged; at 2e-2 they differ (the trainer's own
    # default, 5e-5, is for long runs).
    grpo_learning_rate: float = Field(2e-2, gt=0, le=1)
    grpo_rows: int = Field(8, ge=1)
    grpo_num_generations: int = Field(4, ge=2)
    grpo_max_completion_tokens: int = Field(64, ge=8)
    grpo_timeout_s: float = Field(1800, gt=0)
    # lora_user: the per-user adapter retrained after each session on the user's latest accepted replies.
    lora_user_max_rows: int = Field(16, ge=1, le=1024)
    lora_user_epochs: int = Field(3, ge=1, le=20)
    lora_user_batch_size: int = Field(4, ge=1, le=64)
    # 0: the lora kind's default (1e-3).
    lora_user_learning_rate: float = Field(0.0, ge=0, le=1)
    lora_user_token_budget: int = Field(0, ge=0)
    lora_user_timeout_s: float = Field(1800, gt=0)


@dataclass
class Ledger:
    """Exact token counts of one session by role (agent, memory, extractor, user_simulator...), and the
    wall seconds of its parts (model calls by role, recall, observe, upkeep, scoring).

    Parts time exclusively: a part opened inside another (upkeep's model calls) stops the outer
    one's clock until it closes, so the seconds of all parts add up to no more than the session's.
    """

    tokens: dict[str, dict[str, int]] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    clock: Callable[[], float] = field(default=time.perf_counter, repr=False, compare=False)
    _open: list[str] = field(default_factory=list, repr=False)
    _since: float = field(default=0.0, repr=False)

    @contextmanager
    def timed(self, part: str) -> Iterator[None]:
        self._switch()
        self._open.append(part)
        try:
            yield
        finally:
            self._switch()
            self._open.pop()

    def _switch(self) -> None:
        """Credit the time since the last switch to the innermost open part."""
        now = self.clock()
        if self._open:
            self.seconds[self._open[-1]] = self.seconds.get(self._open[-1], 0.0) + now - self._since
        self._since = now

    def add(self, role: str, usage: common_pb2.TokenUsage) -> None:
        entry = self.tokens.setdefault(role, {"prompt": 0, "completion": 0, "calls": 0})
        entry["prompt"] += usage.prompt_tokens
        entry["completion"] += usage.completion_tokens
        entry["calls"] += 1

    def merge(self, other: Ledger) -> None:
        for role, counts in other.tokens.items():
            entry = self.tokens.setdefault(role, {"prompt": 0, "completion": 0, "calls": 0})
            for key, value in counts.items():
                entry[key] += value
        for part, seconds in other.seconds.items():
            self.seconds[part] = self.seconds.get(part, 0.0) + seconds

    def total(self) -> int:
        return sum(e["prompt"] + e["completion"] for e in self.tokens.values())


@dataclass
class Recall:
    """What a method brings to one turn: its memory lines, and the reward it inferred (rag_vector)."""

    memory: list[str] = field(default_factory=list)
    reward: float | None = None


@dataclass
class AgentReply:
    text: str
    # The memory the reply was conditioned on (cards, notes), as shown to the agent.
    memory: list[str] = field(default_factory=list)
    reward: float | None = None


@dataclass
class Context:
    """Who is asking: stamped on every model request for logs and token counters."""

    run_id: str
    user_id: str
    session: int

    def request(self, role: str, method: str) -> common_pb2.RequestContext:
        return common_pb2.RequestContext(run_id=self.run_id, user_id=self.user_id, session_id=str(self.session),
                                         caller_role=role, method=method)


class Method:
    """Plays the agent for many users; per-user state is keyed by user id."""

    name: ClassVar[str] = ""
    # Services this method needs besides the model.
    needs: ClassVar[tuple[str, ...]] = ()
    # "upper" / "lower": a calibration bound (bounds.py) that the runner tells each session's ground truth
    # (``know``); the report never ranks it with the contenders. "": a contender.
    bound: ClassVar[str] = ""

    def __init__(self, services: Services, settings: MethodSettings, seed: int = 0, workdir: Path = Path(".")):
        self.services = services
        self.settings = settings
        self.seed = seed
        # Where a method may keep files of its own (training data); inside the run's output folder.
        self.workdir = workdir
        self.history: dict[str, list[tuple[str, str]]] = {}
        self.context: dict[str, Context] = {}

    async def prepare(self, profiles: list, ledger: Ledger) -> None:
        """One-off work before any session (training a note-writer) on ``profiles``, which are never the
        users the run evaluates (the runner keeps them apart); nothing by default."""

    async def start_session(self, ctx: Context) -> None:
        self.context[ctx.user_id] = ctx
        self.history[ctx.user_id] = []

    def memory(self, user_id: str) -> list[str]:
        """The lines of memory the agent sees for this user (cards, notes); none by default."""
        return []

    async def recall(self, user_id: str, message: str, ledger: Ledger) -> Recall:
        """The memory for this turn; methods that extract or retrieve per turn override it."""
        return Recall(self.memory(user_id))

    async def observe(self, user_id: str, message: str, reply: str) -> None:
        """The agent answered ``message`` with ``reply``; nothing to do by default."""

    def adapter(self, user_id: str) -> str:
        """The model adapter that answers this user (lora_user's own); the base model by default."""
        return ""

    async def respond(self, user_id: str, message: str, ledger: Ledger) -> AgentReply:
        with ledger.timed("recall"):
            recalled = await self.recall(user_id, message, ledger)
        history = self.history[user_id]
        history.append(("user", message))
        text = await self.chat(user_id, agent_messages(recalled.memory, history, self.settings.max_history_turns),
                               ledger, adapter=self.adapter(user_id))
        history.append(("assistant", text))
        with ledger.timed("observe"):
            await self.observe(user_id, message, text)
        return AgentReply(text, recalled.memory, recalled.reward)

    async def end_session(self, user_id: str, ledger: Ledger) -> None:
        """Memory upkeep after the session; nothing by default."""

    def snapshot(self, user_id: str) -> dict:
        """The user's memory after a session, JSON-able, so a resumed run starts from it."""
        return {}

    async def restore(self, user_id: str, state: dict) -> None:
        """Load what ``snapshot`` returned (a resumed run, or the start of a user's next session)."""

    async def chat(self, user_id: str, messages: list[tuple[str, str]], ledger: Ledger, *, role: str = "agent",
                   ledger_role: str = "", max_tokens: int = 0, adapter: str = "") -> str:
        """One model call as this method, its tokens counted under ``ledger_role`` (default: role)."""
        ctx = self.context[user_id]
        request = chat_request(messages, max_tokens=max_tokens or self.settings.max_reply_tokens,
                               temperature=self.settings.temperature, seed=self.seed + ctx.session,
                               adapter=adapter)
        request.context.CopyFrom(ctx.request(role, self.name))
        with ledger.timed(ledger_role or role):
            reply = await self.services.model.chat(request)
        ledger.add(ledger_role or role, reply.usage)
        return reply.text

    def transcript(self, user_id: str) -> list[tuple[str, str]]:
        return list(self.history.get(user_id, []))


class TrainingFailed(RuntimeError):
    pass


async def train_adapter(method: Method, what: str, name: str, rows: list[dict], timeout_s: float,
                        **spec) -> trainer_pb2.TrainJob | None:
    """Train adapter ``name`` on ``rows`` as a trainer job (``spec``: the TrainJobSpec's other fields) and wait for
    it; None when the model service already serves an adapter of that name (an earlier, interrupted run trained
    it on the same rows)."""
    info = await method.services.model.get_info()
    if name in info.adapters:
        return None
    data = method.workdir / f"{name}.jsonl"
    write_jsonl(data, rows)
    job = await method.services.trainer.submit_job(trainer_pb2.TrainJobSpec(
        data_path=str(data.resolve()), adapter_name=name, seed=method.seed, **spec))
    done = await wait_for_job(method.services.trainer, job.job_id, timeout_s)
    if done.state != "succeeded":
        raise TrainingFailed(f"{what} job {done.job_id} ended {done.state}: {done.error}")
    return done


METHODS: dict[str, type[Method]] = {}


def register_method(cls: type[Method]) -> type[Method]:
    if not cls.name or cls.name in METHODS:
        raise ValueError(f"method name {cls.name!r} is empty or registered twice")
    METHODS[cls.name] = cls
    return cls


def method_class(name: str) -> type[Method]:
    try:
        return METHODS[name]
    except KeyError:
        raise UnknownMethod(f"unknown method {name!r}; known: {', '.join(sorted(METHODS))}") from None
