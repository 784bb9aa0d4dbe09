"""Per-method numbers from a run's sessions and the judge's verdicts, as rows and as terminal tables.

Values come from the metric registry (metrics.py): the mean over a method's
sessions of the values that apply, or a ratio of sums. Rows can be broken down
by dataset, session index or conflict group. ``coinciding_methods`` flags
methods whose transcripts are identical: such methods cannot be told apart by
the run, whatever their numbers say.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

from rich.table import Table

from attune.orchestrator.benchmark.metrics import METRICS, get_metric
from attune.orchestrator.benchmark.records import SessionLog, SessionRecord

SESSIONS_FILE = "sessions.jsonl"
# The columns `attune run` and `attune judge` print.
SUMMARY = ("task_success", "user_tokens", "enforcements", "agent_tokens", "timeout_rate", "compliance",
           "checked_compliance", "conflict_accuracy", "over_personalization", "memory_precision")
BREAKDOWNS: dict[str, Callable[[SessionRecord], str]] = {
    "method": lambda r: r.method,
    "dataset": lambda r: r.dataset,
    "session": lambda r: str(r.session),
    "conflict_group": lambda r: r.conflict.group if r.conflict else "(no conflict)",
}

Pair = tuple[SessionRecord, object | None]


def metric_value(name: str, pairs: list[Pair]) -> float | None:
    """One metric over sessions: the mean of the values that apply, or a ratio of sums."""
    metric = get_metric(name)
    if metric.ratio is not None:
        parts = [p for p in (metric.ratio(r, j) for r, j in pairs) if p is not None]
        total = sum(d for _, d in parts)
        return metric.scale * sum(n for n, _ in parts) / total if total else None
    values = [v for v in (metric.compute(r, j) for r, j in pairs) if v is not None]
    return sum(values) / len(values) if values else None


def summarize(pairs: Iterable[Pair], names: Iterable[str] = SUMMARY, by: str = "method") -> list[dict]:
    """One row per group (method by default) in order of first appearance: sessions, then each metric."""
    if by not in BREAKDOWNS:
        raise KeyError(f"unknown breakdown {by!r}; known: {', '.join(BREAKDOWNS)}")
    groups: dict[str, list[Pair]] = {}
    for record, judgment in pairs:
        groups.setdefault(BREAKDOWNS[by](record), []).append((record, judgment))
    names = list(names)
    return [{by: group, "sessions": len(members), "judged": sum(j is not None for _, j in members),
             **{name: metric_value(name, members) for name in names}} for group, members in groups.items()]


def run_pairs(run_dir: Path, judgments_path: Path | None = None) -> list[Pair]:
    """Every finished session of a run with its judgment (None where it is not judged yet)."""
    from attune.orchestrator.benchmark.judging import JUDGMENTS_FILE, parse_judgment

    records = SessionLog(run_dir / SESSIONS_FILE).load(repair=False)
    judged = SessionLog(judgments_path or run_dir / JUDGMENTS_FILE, parse=parse_judgment,
                        kind="judgment").load(repair=False)
    return [(record, judged.get(key)) for key, record in records.items()]


def coinciding_methods(records: Iterable[SessionRecord]) -> list[tuple[str, str]]:
    """Pairs of methods whose transcripts (every reply of every session) are identical."""
    transcripts: dict[str, dict] = {}
    for record in records:
        replies = tuple(t.assistant for t in record.turns)
        transcripts.setdefault(record.method, {})[(record.profile_id, record.session)] = replies
    methods = list(transcripts)
    return [(a, b) for i, a in enumerate(methods) for b in methods[i + 1:]
            if transcripts[a] and transcripts[a] == transcripts[b]]


def summary_table(run_dir: Path, by: str = "method", names: Iterable[str] = SUMMARY) -> Table:
    pairs = run_pairs(run_dir)
    names = list(names)
    rows = summarize(pairs, names, by)
    table = Table(by, "sessions", "judged", *(METRICS[n].title for n in names), title=f"results: {run_dir}")
    table.columns[0].no_wrap = True
    for row in rows:
        cells = ["-" if row[n] is None else METRICS[n].fmt.format(row[n]) for n in names]
        table.add_row(row[by], str(row["sessions"]), str(row["judged"]), *cells)
    same = coinciding_methods(r for r, _ in pairs)
    if same:
        table.caption = "identical transcripts, so not told apart by this run: " + \
            "; ".join(f"{a} = {b}" for a, b in same)
    return table
