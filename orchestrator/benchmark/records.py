"""The run's append-only session log: one typed record (a JSON line) per finished session.

A line is written, flushed and fsynced as soon as its session ends, so a kill
loses at most the session in flight. On resume, a torn last line (the process
died mid-write, so it is not JSON) is cut off; a bad line anywhere else means the
file was edited or corrupted, and the run stops rather than guess.

Every record carries ``schema_version``. Lines of an older version are migrated
in memory when loaded (the file is never rewritten); a line of a newer version
is refused, since this code cannot know what its fields mean.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from attune.services.common.jsonl import JsonLines, JsonLinesError, append_line
from attune.services.common.logging import get_logger

log = get_logger(__name__)

SCHEMA_VERSION = 2

Key = tuple[str, str, int]


class LogCorrupt(ValueError):
    pass


class LogWriteError(OSError):
    """A record could not be appended (a full disk, a quota): the log is left as it was before the write."""


class NewerSchema(LogCorrupt):
    """A record written by a newer attune: refused, not guessed at."""


class RecordModel(BaseModel):
    """Unknown fields are refused: a typo or a foreign line must not load as a record."""

    model_config = ConfigDict(extra="forbid")


class TokenCount(RecordModel):
    prompt: int = 0
    completion: int = 0
    calls: int = 0


# Token ledger: role (agent, user_simulator, extractor, memory, ...) -> counts.
Tokens = dict[str, TokenCount]


class VerdictRecord(RecordModel):
    """The simulator's verdict on one agent reply (``simulator.Verdict``)."""

    satisfied: list[str]
    enforce: bool
    enforce_id: str
    clarifying: bool
    draft_answer: str
    end_session: bool
    message: str
    parse_failed: bool


class TurnRecord(RecordModel):
    turn: int
    user: str
    assistant: str
    memory_used: list[str]
    reward: float | None
    tokens: Tokens
    verdict: VerdictRecord


class ConflictRecord(RecordModel):
    template_id: str
    group: str
    triggered: list[str]
    expected: str
    # The triggered preferences' texts by id (empty in records written before they were kept).
    preferences: dict[str, str] = {}


class SessionMetrics(RecordModel):
    user_turns: int
    # Tokens of the user's messages after the opening query (None: the model could not count them).
    user_tokens: int | None = None
    enforcements: int
    enforced: list[str]
    clarifying_questions: int
    parse_failures: int
    # The simulator's own view; the judge's verdicts are in judgments.jsonl (metrics.py).
    simulator_compliance: float | None
    simulator_conflict_resolved: bool | None
    ended_by: Literal["simulator", "max_turns"]


class SessionRecord(RecordModel):
    schema_version: int = SCHEMA_VERSION
    run_id: str
    method: str
    profile_id: str
    user_id: str
    session: int
    dataset: str
    problem_id: str
    step_by_step: bool
    query: str
    conflict: ConflictRecord | None
    applicable: list[str]
    turns: list[TurnRecord]
    upkeep_tokens: Tokens
    tokens: Tokens
    total_tokens: int
    draft_answer: str
    task_success: bool
    task_detail: str
    agent_answer_correct: bool
    metrics: SessionMetrics
    # The method's memory after the session (its ``snapshot``); its shape is the method's own.
    memory: dict[str, Any]
    seconds: float
    # Wall seconds of the session's parts (Ledger.timed): model calls by role, recall, observe, upkeep,
    # scoring; the rest of ``seconds`` is orchestration. Empty in records written before it was kept.
    part_seconds: dict[str, float] = {}
    finished_at: float

    @property
    def key(self) -> Key:
        return self.method, self.profile_id, self.session


def _from_v0(data: dict) -> dict:
    """Version 0 (before records were typed) has the same fields, without ``schema_version``."""
    return {**data, "schema_version": 1}


def _from_v1(data: dict) -> dict:
    """Version 2 names the simulator's compliance and conflict verdicts as the simulator's."""
    metrics = dict(data.get("metrics") or {})
    for name in ("compliance", "conflict_resolved"):
        if name in metrics:
            metrics[f"simulator_{name}"] = metrics.pop(name)
    return {**data, "metrics": metrics, "schema_version": 2}


# MIGRATIONS[v] turns a version-v record (a dict) into a version v+1 one.
MIGRATIONS: dict[int, Callable[[dict], dict]] = {0: _from_v0, 1: _from_v1}


def parse_record(data: Any) -> SessionRecord:
    """A decoded JSON line as a current record, migrating older versions.

    Raises NewerSchema for a version this code does not know, ValidationError for a bad field.
    """
    if not isinstance(data, dict):
        raise TypeError(f"expected a JSON object, got {type(data).__name__}")
    version = data.get("schema_version", 0)
    if isinstance(version, bool) or not isinstance(version, int) or version < 0:
        raise TypeError(f"schema_version {version!r} is not a version number")
    if version > SCHEMA_VERSION:
        raise NewerSchema(f"schema_version {version} was written by a newer attune (this one reads up to "
                          f"{SCHEMA_VERSION}); upgrade attune to read it")
    for old in range(version, SCHEMA_VERSION):
        data = MIGRATIONS[old](data)
    return SessionRecord.model_validate(data)


def field_errors(err: ValidationError) -> str:
    """The failing fields as dotted paths (``turns.0.verdict.enforce``) with pydantic's reasons."""
    return "; ".join(f"field {'.'.join(map(str, e['loc'])) or '(record)'}: {e['msg']}" for e in err.errors())


def parse_line(parser: Callable[[Any], Any], data: Any, path: Path, number: int, kind: str):
    """A decoded JSONL line as a typed record; errors name the file, the line and the field."""
    where = f"{path}: line {number}"
    try:
        return parser(data)
    except NewerSchema as err:
        raise NewerSchema(f"{where}: {err}") from None
    except ValidationError as err:
        raise LogCorrupt(f"{where} is not a valid {kind} ({field_errors(err)})") from None
    except TypeError as err:
        raise LogCorrupt(f"{where} is not a {kind} ({err})") from None


class SessionLog:
    """An append-only JSONL log of typed records with a ``key``: sessions, and the judge's verdicts on them."""

    def __init__(self, path: Path, parse: Callable[[Any], Any] = parse_record, kind: str = "session record"):
        self.path = path
        self.parse = parse
        self.kind = kind
        self._lock = asyncio.Lock()

    def load(self, repair: bool = True) -> dict[Key, SessionRecord]:
        """Finished records by key (method, profile_id, session); a torn last line is cut off, or with
        ``repair=False`` (readers such as the judge, which never write the run's files) skipped."""
        if not self.path.exists():
            return {}
        records, last, lines = {}, None, JsonLines(self.path, torn_tail=True)
        try:
            for last in lines:
                record = self._record(last.data, last.number)
                records[record.key] = record
        except JsonLinesError as err:
            raise LogCorrupt(f"{self.path}: line {err.line} is not a {self.kind} ({err.error})") from None
        if lines.torn is not None:
            log.warning("session_log_torn_line_dropped", path=str(self.path), line=lines.torn.line)
            if repair:
                with self.path.open("r+b") as out:
                    out.truncate(lines.torn.offset)
        elif repair and last is not None and not last.terminated:  # parsed but unterminated: complete it
            with self.path.open("ab") as out:
                out.write(b"\n")
        return records

    def _record(self, decoded: Any, number: int) -> SessionRecord:
        return parse_line(self.parse, decoded, self.path, number, self.kind)

    async def append(self, record: SessionRecord) -> None:
        line = (record.model_dump_json() + "\n").encode()
        async with self._lock:
            await asyncio.to_thread(self._write, line)

    def _write(self, line: bytes) -> None:
        """Append one line and fsync it; a failed write is cut back (services/common/jsonl.py)."""
        try:
            append_line(self.path, line)
        except OSError as err:
            raise LogWriteError(err.errno, f"cannot append to {self.path} ({err.strerror}); the records "
                                "written before are kept: make room and run again to resume") from None
