"""Read a run folder for the report, streaming: what is kept per session is its labels and metric values.

The session log is read line by line and never held as records; each session's
judgment is found by its byte offset in judgments.jsonl (one light pass builds
that index), so a run of 10,000 sessions costs the floats it reports, not its
transcripts. Lines are read as ``SessionLog.load(repair=False)`` reads them: an
older record is migrated, a torn last line is skipped, a bad line elsewhere
stops the report with the file, line and field, and the last line of a key wins.
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, NamedTuple

from attune.orchestrator.benchmark import audit
from attune.orchestrator.benchmark.experiment import ExperimentError, load_profiles_for
from attune.orchestrator.benchmark.judge_run import AUDIT_FILE
from attune.orchestrator.benchmark.judging import (
    JUDGMENTS_FILE,
    PLANTED_FILE,
    load_run_experiment,
    parse_judgment,
    parse_planted,
)
from attune.orchestrator.benchmark.metrics import get_metric
from attune.orchestrator.benchmark.records import LogCorrupt, parse_line, parse_record
from attune.orchestrator.benchmark.summary import BREAKDOWNS, SESSIONS_FILE, coinciding_methods
from attune.orchestrator.report.vectors import VectorTrace, preference_sets
from attune.services.common.jsonl import JsonLines, JsonLinesError

# The breakdowns the report gives beside the per-method numbers (summary.BREAKDOWNS, "method" aside).
GROUPS = tuple(by for by in BREAKDOWNS if by != "method")


class ReportError(ValueError):
    """An input the report cannot use (an empty run, a bad reference table), named with the reason."""


class Session(NamedTuple):
    """One session as the report keeps it: labels, one value per metric (None: does not apply), a digest."""

    method: str
    profile_id: str
    session: int
    labels: dict[str, str]
    values: tuple[float | None, ...]
    replies: str
    seconds: float = 0.0
    # Ledger.timed's parts (model calls by role, recall, observe, upkeep, scoring): their wall seconds.
    parts: dict[str, float] = {}


@dataclass
class Run:
    folder: Path
    names: tuple[str, ...]
    sessions: list[Session]
    judged: int
    audit: dict
    vectors: VectorTrace
    # profile id -> its preferences, for the user-vector analysis (None: unknown, ``truth_missing`` says why)
    truth: dict[str, frozenset] | None = None
    truth_missing: str = ""

    @property
    def methods(self) -> list[str]:
        """vanilla first (the baseline every method is compared with), then in order of first appearance."""
        seen = list(dict.fromkeys(s.method for s in self.sessions))
        return sorted(seen, key=lambda m: m != "vanilla")

    def coinciding(self) -> list[tuple[str, str]]:
        """summary.coinciding_methods, on the digests of the replies."""
        return coinciding_methods(_Transcript(s.method, s.profile_id, s.session, (_Reply(s.replies),))
                                  for s in self.sessions)


@dataclass(frozen=True)
class _Reply:
    assistant: str


@dataclass(frozen=True)
class _Transcript:
    """What summary.coinciding_methods reads of a record, its replies replaced by their digest."""

    method: str
    profile_id: str
    session: int
    turns: tuple[_Reply, ...]


def read_run(folder: Path, names: tuple[str, ...]) -> Run:
    """The run's sessions with their metric values, and the judge's audit."""
    sessions_path, judgments_path = folder / SESSIONS_FILE, folder / JUDGMENTS_FILE
    if not sessions_path.exists():
        raise FileNotFoundError(f"{folder} holds no {SESSIONS_FILE}: not a run folder")
    metrics = [get_metric(n) for n in names]
    if any(m.ratio is not None for m in metrics):
        raise ReportError("ratio metrics are not reported: the mean of per-user ratios is not the method's ratio")
    report = read_audit(folder)
    blind_names = unmeasured(report)
    blind = [i for i, n in enumerate(names) if n in blind_names]
    offsets = judgment_offsets(judgments_path)
    sessions, judged, vectors = {}, set(), VectorTrace()
    with ExitStack() as stack:
        verdicts = stack.enter_context(judgments_path.open("rb")) if offsets else None
        for number, _, data in lines(sessions_path):
            record = parse_line(parse_record, data, sessions_path, number, "session record")
            judgment = None
            if record.key in offsets:
                judgment = judgment_at(verdicts, judgments_path, *offsets[record.key])
                judged.add(record.key)
            labels = {by: BREAKDOWNS[by](record) for by in GROUPS}
            values = tuple(None if i in blind else m.compute(record, judgment) for i, m in enumerate(metrics))
            digest = hashlib.sha256("\0".join(t.assistant for t in record.turns).encode()).hexdigest()
            sessions[record.key] = Session(record.method, record.profile_id, record.session, labels, values, digest,
                                           record.seconds, record.part_seconds)
            vectors.add(record.method, record.profile_id, record.session, record.memory)
    if not sessions:
        raise ReportError(f"{sessions_path} holds no finished session")
    truth, missing = ground_truth(folder) if vectors.vectors else (None, "")
    return Run(folder, names, list(sessions.values()), len(judged), report, vectors, truth, missing)


def ground_truth(folder: Path) -> tuple[dict[str, frozenset] | None, str]:
    """The run's profiles as preference sets, read as the judge reads them; or None and the reason."""
    try:
        return preference_sets(load_profiles_for(load_run_experiment(folder))), ""
    except (ExperimentError, OSError) as err:
        return None, f"the run's profiles could not be loaded ({err})"


def lines(path: Path) -> Iterator[tuple[int, int, Any]]:
    """(line number, byte offset, decoded JSON) of each line of a JSONL log; nothing if there is no file.

    A line that is not JSON is a torn last line, skipped, unless another line follows it.
    """
    if not path.exists():
        return
    try:
        for line in JsonLines(path, torn_tail=True):
            yield line.number, line.offset, line.data
    except JsonLinesError as err:
        raise LogCorrupt(str(err)) from None


def judgment_offsets(path: Path) -> dict[tuple, tuple[int, int]]:
    """(method, profile_id, session) -> (line number, byte offset) of its judgment; the last line wins."""
    return {(d.get("method"), d.get("profile_id"), d.get("session")): (number, offset)
            for number, offset, d in lines(path) if isinstance(d, dict)}


def judgment_at(log: BinaryIO, path: Path, number: int, offset: int):
    log.seek(offset)
    return parse_line(parse_judgment, json.loads(log.readline()), path, number, "judgment")


def read_audit(folder: Path) -> dict:
    """The judge step's audit.json, or the same agreement and false accepts computed from the run's verdicts."""
    if (folder / AUDIT_FILE).exists():
        return json.loads((folder / AUDIT_FILE).read_text())
    judgments = (parse_line(parse_judgment, d, folder / JUDGMENTS_FILE, n, "judgment")
                 for n, _, d in lines(folder / JUDGMENTS_FILE))
    planted = (parse_line(parse_planted, d, folder / PLANTED_FILE, n, "planted verdict")
               for n, _, d in lines(folder / PLANTED_FILE))
    planted = list(planted)
    return {"agreement": audit.agreement(judgments), "false_accepts": audit.false_accepts(planted),
            "contrast": audit.contrast_rates(planted)}


def unmeasured(report: dict) -> dict[str, str]:
    """The metrics the judge's audit says this run cannot measure, with why: compliance when the LLM's
    verdicts did not tell followed from broken replies on the contrast pairs."""
    if not audit.llm_at_chance(report.get("contrast")):
        return {}
    row = report["contrast"]["llm"]
    return {"compliance": (f"the judge's LLM did not tell followed from broken replies on the contrast pairs "
                           f"(false accepts {audit.interval(row['false_accept'])}, false rejects "
                           f"{audit.interval(row['false_reject'])}, Fisher p = {row['p']:.2g}), so the "
                           f"compliance it decides is not measured; checked_compliance counts the checkers' "
                           f"verdicts alone")}


@dataclass(frozen=True)
class Reference:
    """One value of a published table: ``method,metric,value,source``, in the metric's own unit."""

    method: str
    metric: str
    value: float
    source: str


REFERENCE_COLUMNS = ("method", "metric", "value", "source")


def read_reference(path: Path, names: tuple[str, ...]) -> list[Reference]:
    """The rows of a reference CSV; a missing column, a metric the report lacks or a non-number is refused."""
    with path.open(newline="") as table:
        reader = csv.DictReader(table)
        missing = [c for c in REFERENCE_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise ReportError(f"{path}: missing column(s) {', '.join(missing)} (need {','.join(REFERENCE_COLUMNS)})")
        rows = []
        for number, row in enumerate(reader, 2):
            if row["metric"] not in names:
                raise ReportError(f"{path}: line {number}: metric {row['metric']!r} is not in the report "
                                  f"({', '.join(names)})")
            try:
                value = float(row["value"])
            except (TypeError, ValueError):
                raise ReportError(f"{path}: line {number}: value {row['value']!r} is not a number") from None
            rows.append(Reference(row["method"].strip(), row["metric"], value, (row["source"] or "").strip()))
    return rows
