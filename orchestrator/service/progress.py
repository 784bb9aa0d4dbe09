"""A sharded run's progress, read from its shards' session logs in the shared run folder.

Each shard appends one JSON line per finished session to
``<run>/shards/<i>-of-<n>/sessions.jsonl`` and writes ``done.json`` when it is
through. Reading only what was appended since the last look (whole lines; a
line being written is read next time) keeps a poll cheap on a run of tens of
thousands of sessions; a log that shrank (a shard that repaired a torn last
line on resume) is read again from the start.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from attune.orchestrator.benchmark.runner import SESSIONS_FILE
from attune.orchestrator.benchmark.shards import DONE, Shard


@dataclass
class ShardLog:
    path: Path
    offset: int = 0
    sessions: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0

    def read_new(self) -> None:
        try:
            size = self.path.stat().st_size
        except FileNotFoundError:
            return
        if size < self.offset:
            self.offset = self.sessions = self.prompt_tokens = self.completion_tokens = 0
        with self.path.open("rb") as f:
            f.seek(self.offset)
            chunk = f.read(size - self.offset)
        whole = chunk[:chunk.rfind(b"\n") + 1]
        for line in whole.splitlines():
            if line.strip():
                self._count(json.loads(line))
        self.offset += len(whole)

    def _count(self, record: dict) -> None:
        self.sessions += 1
        for count in record.get("tokens", {}).values():
            self.prompt_tokens += count.get("prompt", 0)
            self.completion_tokens += count.get("completion", 0)


@dataclass
class ShardProgress:
    """The sum over a run's shards: sessions finished, tokens, shards done."""

    run_dir: Path
    count: int
    logs: list[ShardLog] = field(init=False)

    def __post_init__(self):
        self.logs = [ShardLog(Shard(i, self.count).folder(self.run_dir) / SESSIONS_FILE) for i in range(self.count)]

    def read(self) -> None:
        for log in self.logs:
            log.read_new()

    @property
    def sessions(self) -> int:
        return sum(log.sessions for log in self.logs)

    @property
    def prompt_tokens(self) -> int:
        return sum(log.prompt_tokens for log in self.logs)

    @property
    def completion_tokens(self) -> int:
        return sum(log.completion_tokens for log in self.logs)

    @property
    def shards_done(self) -> int:
        return sum((Shard(i, self.count).folder(self.run_dir) / DONE).exists() for i in range(self.count))
