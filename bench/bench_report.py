"""Time the benchmark report on a synthetic run of 10,000 sessions (5 methods x 50 users x 40 sessions).

The report needs the run's ``sessions.jsonl`` and ``judgments.jsonl``
(``audit.json`` and ``planted.jsonl`` are optional) and ``experiment.yaml`` for
the user-vector ground truth, so this writes those three, one valid
SessionRecord / Judgment line at a time, into a temporary folder (rag_vector's
records carry a 256-dimensional z_long, as real ones do), then times
``write_report`` on it and prints the seconds and the process's peak RSS.
Target: seconds, not minutes, and a peak that does not grow with the
transcripts (the report keeps floats per session, and z_long per rag_vector
session).

    .venv/bin/python bench/bench_report.py [--users 50] [--sessions 40] [--resamples 2000]
"""

from __future__ import annotations

import argparse
import random
import resource
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from attune.orchestrator.benchmark.experiment import load_profiles_for, parse_experiment  # noqa: E402
from attune.orchestrator.benchmark.judging import JudgedTurn, Judgment  # noqa: E402
from attune.orchestrator.benchmark.records import (  # noqa: E402
    ConflictRecord,
    SessionMetrics,
    SessionRecord,
    TokenCount,
    TurnRecord,
    VerdictRecord,
)
from attune.orchestrator.report import write_report  # noqa: E402

METHODS = ("vanilla", "contextual", "reflection", "rag", "rag_vector")
GROUPS = ("format", "verbosity", "tone", "code")
YES, NO = "OPINION_YES", "OPINION_NO"
FILLER = "The answer follows from the definition; here are the steps and a short check of each. " * 5


def session(method: str, user: str, index: int, rng: random.Random) -> tuple[SessionRecord, Judgment]:
    """One plausible session and its judgment: 1-4 turns, a conflict every third session, some enforcements."""
    skill = METHODS.index(method) / len(METHODS)
    turns = []
    for number in range(1, rng.randint(1, 4) + 1):
        enforce = rng.random() > 0.5 + skill / 2
        verdict = VerdictRecord(satisfied=[], enforce=enforce, enforce_id="format.bullets" if enforce else "",
                                clarifying=False, draft_answer="42", end_session=False, message="Please continue.",
                                parse_failed=False)
        turns.append(TurnRecord(turn=number, user="q", assistant=f"{method} {user} {index} {number}: {FILLER}",
                                memory_used=[], reward=None, tokens={}, verdict=verdict))
    conflict = None
    if index % 3 == 0:
        group = GROUPS[index % len(GROUPS)]
        conflict = ConflictRecord(template_id="t", group=group, triggered=[f"{group}.a", f"{group}.b"],
                                  expected=f"{group}.a")
    record = SessionRecord(
        run_id="bench", method=method, profile_id=user, user_id=f"bench.{method}.{user}", session=index,
        dataset=("math-500", "mmlu")[index % 2], problem_id=f"p{index}", step_by_step=False, query="q",
        conflict=conflict, applicable=["format.bullets"], turns=turns, upkeep_tokens={}, total_tokens=0,
        draft_answer="42", task_success=False, task_detail="", agent_answer_correct=False, memory=memory(method, rng),
        seconds=1.0, finished_at=0.0,
        tokens={"agent": TokenCount(prompt=rng.randint(200, 2000), completion=rng.randint(50, 300), calls=1)},
        metrics=SessionMetrics(user_turns=len(turns), user_tokens=rng.randint(0, 400),
                               enforcements=sum(t.verdict.enforce for t in turns), enforced=[],
                               clarifying_questions=0, parse_failures=0, simulator_compliance=None,
                               simulator_conflict_resolved=None, ended_by="simulator"))
    return record, judgment_of(record, rng, skill)


def memory(method: str, rng: random.Random) -> dict:
    """rag_vector's snapshot holds z_long (256 floats to 6 decimals, as RagVector stores it); others hold none."""
    if method != "rag_vector":
        return {}
    return {"cards": [], "user_vector": {"z_long": [round(rng.gauss(0, 0.1), 6) for _ in range(256)], "updates": 1}}


def judgment_of(record: SessionRecord, rng: random.Random, skill: float) -> Judgment:
    turns = []
    for turn in record.turns:
        ok = rng.random() < 0.5 + skill / 2
        compliance = {"verdicts": [{"card_id": "format.bullets", "satisfied": ok, "checker": YES if ok else NO,
                                    "llm": YES}]}
        turns.append(JudgedTurn(turn=turn.turn, compliance=compliance,
                                over={"passed": rng.random() < 0.9, "preferences": []}))
    passed = rng.random() < 0.3 + skill / 2
    conflict = {"passed": rng.random() < 0.5 + skill / 2, "checker": YES, "llm": YES} if record.conflict else None
    return Judgment(method=record.method, profile_id=record.profile_id, session=record.session,
                    judge={"model": "bench"},
                    task={"passed": passed, "unjudged": False, "checker": YES if passed else NO, "llm": YES},
                    conflict=conflict, turns=turns, tokens=TokenCount(prompt=300, completion=40, calls=len(turns)))


def write_run(folder: Path, users: int, sessions: int) -> int:
    """The run's files, the logs written line by line (nothing held); returns the number of sessions."""
    exp = parse_experiment({"name": "bench", "methods": list(METHODS), "datasets": ["math-500"],
                            "n_profiles": users, "n_sessions": sessions}, "bench")
    (folder / "experiment.yaml").write_text(yaml.safe_dump(exp.model_dump(mode="json"), sort_keys=False))
    profile_ids = [p.user_id for p in load_profiles_for(exp)]
    rng = random.Random(0)
    with (folder / "sessions.jsonl").open("w") as log, (folder / "judgments.jsonl").open("w") as verdicts:
        for method in METHODS:
            for user in profile_ids:
                for index in range(1, sessions + 1):
                    record, judgment = session(method, user, index, rng)
                    log.write(record.model_dump_json() + "\n")
                    verdicts.write(judgment.model_dump_json() + "\n")
    return len(METHODS) * users * sessions


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--sessions", type=int, default=40, help="sessions per user and method")
    parser.add_argument("--resamples", type=int, default=2000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-report-") as tmp:
        folder = Path(tmp)
        count = write_run(folder, args.users, args.sessions)
        size = sum(f.stat().st_size for f in folder.iterdir()) / 2**20
        before = peak_rss_mib()
        start = time.perf_counter()
        write_report([folder], resamples=args.resamples)
        seconds = time.perf_counter() - start
    print(f"{count:,} sessions ({size:,.0f} MiB of logs): report in {seconds:.1f} s; "
          f"peak RSS {peak_rss_mib():,.0f} MiB ({before:,.0f} MiB before the report)")


if __name__ == "__main__":
    main()
