"""What every model backend implements, and the job / completion types it speaks."""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Job:
    """One validated generation request. Exactly one of ``messages`` and ``prompt`` is set."""

    messages: tuple[tuple[str, str], ...] = ()
    prompt: str | None = None
    max_tokens: int = 256
    temperature: float = 0.0
    top_p: float = 1.0
    seed: int = 0
    stop: tuple[str, ...] = ()
    adapter: str = ""
    json_schema: str = ""

    def sampling_key(self) -> tuple:
        """Jobs with equal keys can share one batched generate call."""
        return (self.adapter, self.temperature, self.top_p, self.stop, bool(self.json_schema))


@dataclass
class Completion:
    text: str
    finish_reason: str
    prompt_tokens: int
    completion_tokens: int
    # Of the prompt tokens, those the engine reused from its prefix cache; None: the engine has none.
    cached_tokens: int | None = None


@dataclass
class Delta:
    """A piece of streamed text; the stream ends with a Completion."""

    text: str


@dataclass
class BackendInfo:
    model: str
    backend: str
    max_context: int
    dtype: str = ""
    adapters: list[str] = field(default_factory=list)


class Backend(ABC):
    """A model engine. ``start`` loads it; until then the service is not ready."""

    name: str = ""

    @abstractmethod
    async def start(self) -> None: ...

    async def close(self) -> None:
        return None

    @abstractmethod
    def info(self) -> BackendInfo: ...

    @abstractmethod
    def count_tokens(self, job: Job) -> int | None:
        """Prompt tokens of ``job`` (chat template included), counted in process: the service checks
        each request against the context window with it. None leaves that check to the engine."""

    async def count_tokens_async(self, job: Job) -> int | None:
        """Prompt tokens of ``job`` for CountTokens, where a backend may ask its engine (over HTTP,
        say); by default ``count_tokens``."""
        return self.count_tokens(job)

    @abstractmethod
    async def complete(self, job: Job) -> Completion: ...

    @abstractmethod
    def stream(self, job: Job) -> AsyncIterator[Delta | Completion]: ...


def adapter_type(adapter_dir: Path, name: str) -> str:
    """PEFT's ``peft_type`` of an adapter folder: "LORA", "PREFIX_TUNING", ..."""
    return str(json.loads((adapter_dir / name / "adapter_config.json").read_text()).get("peft_type", "LORA"))


def list_adapters(adapter_dir: Path | None) -> list[str]:
    """LoRA adapters are folders of ``adapter_dir`` holding an adapter_config.json."""
    if adapter_dir is None or not adapter_dir.is_dir():
        return []
    return sorted(p.name for p in adapter_dir.iterdir() if (p / "adapter_config.json").is_file())
