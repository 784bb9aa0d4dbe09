"""The benchmark report from a hand-made run folder: values, intervals by user, sign tests, Holm, the files.

Three methods x four users x two sessions (the second a conflict session); the
expected numbers are listed by hand per user, so a report that grouped by
session instead of by user, or paired the wrong users, gives other numbers.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from attune.orchestrator.benchmark.judging import JudgedTurn, Judgment
from attune.orchestrator.benchmark.records import (
    ConflictRecord,
    LogCorrupt,
    SessionMetrics,
    SessionRecord,
    TokenCount,
    TurnRecord,
    VerdictRecord,
)
from attune.orchestrator.benchmark.summary import SUMMARY
from attune.orchestrator.cli import main
from attune.orchestrator.report import sections, write_report
from attune.orchestrator.report.analysis import analyze
from attune.orchestrator.report.collect import read_run
from attune.orchestrator.report.render import Table
from attune.orchestrator.report.stats import direction_agreement, holm, mean_interval, sign_test

YES, NO = "OPINION_YES", "OPINION_NO"
USERS = ["u1", "u2", "u3", "u4"]
# method -> user -> task success of sessions 1 and 2 (None: not judged, so left out)
TASK = {"vanilla": {"u1": [0, 0], "u2": [1, 0], "u3": [0, 0], "u4": [1, 1]},
        "rag": {"u1": [1, None], "u2": [1, 1], "u3": [1, 0], "u4": [1, 1]},
        "contextual": {"u1": [1, 0], "u2": [0, 0], "u3": [1, 1], "u4": [0, 0]}}
# method -> user -> user tokens of sessions 1 and 2
USER_TOKENS = {"vanilla": {"u1": [100, 120], "u2": [80, 80], "u3": [60, 100], "u4": [200, 0]},
               "rag": {"u1": [50, 50], "u2": [40, 60], "u3": [30, 30], "u4": [90, 10]},
               "contextual": {"u1": [120, 120], "u2": [60, 60], "u3": [90, 90], "u4": [100, 100]}}
CONFLICT = ConflictRecord(template_id="t", group="format", triggered=["f.win", "f.lose"], expected="f.win")


def record(method: str, user: str, session: int, replies: tuple[str, ...] = ("answer",)) -> SessionRecord:
    verdict = VerdictRecord(satisfied=[], enforce=False, enforce_id="", clarifying=False, draft_answer="",
                            end_session=True, message="ok", parse_failed=False)
    turns = [TurnRecord(turn=i + 1, user="q", assistant=r, memory_used=[], reward=None, tokens={}, verdict=verdict)
             for i, r in enumerate(replies)]
    return SessionRecord(
        run_id="r", method=method, profile_id=user, user_id=f"r.{method}.{user}", session=session,
        dataset="math-500", problem_id="p", step_by_step=False, query="q", conflict=CONFLICT if session == 2 else None,
        applicable=[], turns=turns, upkeep_tokens={}, total_tokens=0, draft_answer="", task_success=False,
        task_detail="", agent_answer_correct=False, memory={}, seconds=1.0, finished_at=0.0,
        tokens={"agent": TokenCount(prompt=100, completion=20, calls=1)},
        metrics=SessionMetrics(user_turns=len(turns), user_tokens=USER_TOKENS[method][user][session - 1],
                               enforcements=0, enforced=[], clarifying_questions=0, parse_failures=0,
                               simulator_compliance=None, simulator_conflict_resolved=None, ended_by="simulator"))


def judgment(rec: SessionRecord, passed: int) -> Judgment:
    turns = [JudgedTurn(turn=t.turn, compliance={"verdicts": [{"satisfied": True, "checker": YES, "llm": YES}]},
                        over={"passed": True, "preferences": []}) for t in rec.turns]
    conflict = {"passed": rec.profile_id != "u1", "checker": YES, "llm": YES} if rec.conflict else None
    return Judgment(method=rec.method, profile_id=rec.profile_id, session=rec.session, judge={"model": "m"},
                    task={"passed": bool(passed), "unjudged": False, "checker": YES if passed else NO, "llm": YES},
                    conflict=conflict, turns=turns, tokens=TokenCount(prompt=40, completion=10, calls=2))


def write_run(folder: Path, extra_user_tokens: int = 0, own_replies: str = "") -> Path:
    """sessions.jsonl and judgments.jsonl; the judgments in reverse order, as a concurrent judge may write them.

    Every method replies "answer", except ``own_replies`` (its first session differs); rag's sessions cost
    ``extra_user_tokens`` more user tokens.
    """
    folder.mkdir(parents=True)
    records = [record(m, u, s, ("other",) if m == own_replies and s == 1 else ("answer",))
               for m in TASK for u in USERS for s in (1, 2)]
    if extra_user_tokens:
        records = [r.model_copy(update={"metrics": r.metrics.model_copy(update={
            "user_tokens": r.metrics.user_tokens + extra_user_tokens})}) if r.method == "rag" else r for r in records]
    verdicts = [judgment(r, TASK[r.method][r.profile_id][r.session - 1]) for r in records
                if TASK[r.method][r.profile_id][r.session - 1] is not None]
    (folder / "sessions.jsonl").write_text("".join(r.model_dump_json() + "\n" for r in records))
    (folder / "judgments.jsonl").write_text("".join(j.model_dump_json() + "\n" for j in reversed(verdicts)))
    return folder


@pytest.fixture
def run_dir(tmp_path) -> Path:
    return write_run(tmp_path / "run")


@pytest.fixture
def analysis(run_dir):
    return analyze(read_run(run_dir, tuple(SUMMARY)), resamples=2000, seed=0)


def test_a_methods_value_is_the_mean_over_users_of_each_users_mean(analysis):
    # rag: u1's unjudged session 2 is left out, so u1 counts 1.0 (the mean over sessions would be 6/7).
    assert analysis.per_user["task_success"]["rag"] == {"u1": 1.0, "u2": 1.0, "u3": 0.5, "u4": 1.0}
    assert analysis.by_method["task_success"]["rag"].value == pytest.approx(0.875)
    assert analysis.by_method["task_success"]["vanilla"].value == pytest.approx((0 + 0.5 + 0 + 1) / 4)
    assert analysis.by_method["user_tokens"]["vanilla"].value == pytest.approx((110 + 80 + 80 + 100) / 4)
    assert analysis.by_method["conflict_accuracy"]["contextual"].value == pytest.approx(0.75), "u1 failed"


def test_the_interval_resamples_users_not_sessions(analysis):
    per_user = np.array([1.0, 1.0, 0.5, 1.0])  # rag's task success, users in profile-id order
    expected = stats.bootstrap((per_user,), np.mean, n_resamples=2000, method="percentile",
                               random_state=0).confidence_interval
    got = analysis.by_method["task_success"]["rag"]
    assert (got.low, got.high, got.users) == (pytest.approx(expected.low), pytest.approx(expected.high), 4)


def test_no_interval_for_one_user_or_one_value(analysis):
    same = analysis.by_method["agent_tokens"]["vanilla"]
    assert (same.value, same.low, same.high) == (120.0, None, None)
    assert same.note == "all users equal"
    assert mean_interval([0.4]).low is None and "one user" in mean_interval([0.4]).note


def test_paired_comparisons_sign_tests_and_holm(analysis):
    tokens = {(c.first, c.second): c for c in analysis.comparisons["user_tokens"]}
    assert set(tokens) == {("rag", "vanilla"), ("contextual", "vanilla"), ("rag", "contextual")}
    better = tokens[("rag", "vanilla")]
    # rag - vanilla per user: 50-110, 50-80, 30-80, 50-100: all four lower
    assert (better.positive, better.nonzero, better.p) == (0, 4, pytest.approx(0.125))
    assert better.difference.value == pytest.approx((-60 - 30 - 50 - 50) / 4)
    mixed = tokens[("contextual", "vanilla")]  # +10, -20, +10, 0
    assert (mixed.positive, mixed.nonzero, mixed.p) == (2, 3, pytest.approx(1.0))
    # Holm over the three: p = 0.125, 1.0, 0.125 -> 0.375, 1.0, 0.375
    assert [tokens[k].holm for k in [("rag", "vanilla"), ("contextual", "vanilla"), ("rag", "contextual")]] == \
        pytest.approx([0.375, 1.0, 0.375])
    assert not better.told_apart, "4 users cannot reach p < 0.05"


def test_sign_test_and_holm_by_hand():
    assert sign_test(4, 4) == pytest.approx(0.125)
    assert sign_test(0, 0) == 1.0, "every difference zero"
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])


def test_direction_agreement_counts_pairs_ranked_the_same_way():
    run = {"a": 0.1, "b": 0.5, "c": 0.3, "d": 0.3}
    published = {"a": 0.2, "b": 0.9, "c": 0.95, "x": 1.0}
    assert direction_agreement(run, published) == (2, 3), "a<b, a<c agree; b>c disagrees; d and x in one only"
    assert direction_agreement({"a": 1.0, "b": 1.0}, {"a": 0.5, "b": 0.5}) == (1, 1), "a tie agrees with a tie"


def test_report_files(run_dir):
    written = write_report([run_dir])
    markdown, html = written.markdown, written.html
    assert (markdown, html) == (run_dir / "report.md", run_dir / "report.html")
    text, page = markdown.read_text(), html.read_text()
    for method in TASK:
        assert f"| {method} |" in text
    assert "cannot tell apart" in text and "Holm" in text
    assert "http://" not in page and "https://" not in page
    assert page.count("<img") == 6, "one per plot: tokens, effort, success/effort, conflicts, over, judge"
    assert all(len(data) > 1000 for data in re.findall(r'src="data:image/png;base64,([^"]+)"', page))
    images = re.findall(r"!\[[^]]*\]\((plots/[a-z0-9-]+\.png)\)", text)
    assert len(images) == 6 and all((run_dir / i).read_bytes().startswith(b"\x89PNG") for i in images)


def test_identical_transcripts_are_listed(tmp_path):
    folder = write_run(tmp_path / "run", own_replies="contextual")
    text = write_report([folder], tmp_path / "out").markdown.read_text()
    assert "whatever their numbers say: vanilla = rag." in text


def test_reference_table_beside_the_run(run_dir, tmp_path):
    table = tmp_path / "published.csv"
    # run: vanilla 0.375, rag 0.875, contextual 0.375; published ranks vanilla < contextual, which the run ties
    table.write_text("method,metric,value,source\nvanilla,task_success,0.2,paper\nrag,task_success,0.9,paper\n"
                     "contextual,task_success,0.4,paper\nunknown,task_success,0.1,paper\n")
    text = write_report([run_dir], reference=table).markdown.read_text()
    assert "| rag | task_success | 90% | paper | 88% [" in text
    assert "| task_success | 2 of 3 | 67% |" in text


def test_a_second_run_is_compared_per_method_and_user(run_dir, tmp_path):
    other = write_run(tmp_path / "other", extra_user_tokens=10)
    text = write_report([run_dir, other]).markdown.read_text()
    row = next(line for line in text.splitlines() if line.startswith("| rag | user_tokens |"))
    assert "| 4 | +10 (no interval: all users equal) | differs |" in row
    same = next(line for line in text.splitlines() if line.startswith("| vanilla | user_tokens |"))
    assert same.endswith("| cannot tell apart |")


def test_a_torn_last_line_is_skipped_and_a_bad_line_elsewhere_refused(run_dir):
    log = run_dir / "sessions.jsonl"
    log.write_text(log.read_text() + '{"run_id": "r", "meth')
    assert len(read_run(run_dir, ("task_success",)).sessions) == 24
    log.write_text(log.read_text() + "\n" + log.read_text().splitlines()[0] + "\n")
    with pytest.raises(LogCorrupt, match="line 25"):
        read_run(run_dir, ("task_success",))


def test_the_command_prints_both_paths(run_dir, tmp_path, capsys):
    assert main(["report", str(run_dir), "--out", str(tmp_path / "out"), "--resamples", "200"]) == 0
    assert capsys.readouterr().out.split() == [str(tmp_path / "out" / "report.md"),
                                               str(tmp_path / "out" / "report.html")]


def test_the_time_profile_gives_each_parts_mean_and_the_rest_as_orchestration(tmp_path):
    folder = tmp_path / "timed"
    folder.mkdir()
    records = [record("vanilla", u, 1).model_copy(update={"seconds": 10.0, "part_seconds": {"agent": 6.0,
                                                                                           "user_simulator": 3.0}})
               for u in USERS[:2]]
    records.append(record("rag", "u1", 1).model_copy(update={"seconds": 20.0, "part_seconds": {
        "agent": 6.0, "user_simulator": 4.0, "recall": 8.0}}))
    (folder / "sessions.jsonl").write_text("".join(r.model_dump_json() + "\n" for r in records))
    (table,) = [b for b in sections.time_profile(analyze(read_run(folder, tuple(SUMMARY)), 200, 0))
                if isinstance(b, Table)]
    # Parts by their seconds over the whole run: agent 18, user_simulator 10, recall 8.
    assert table.header == ["method", "sessions", "seconds", "agent", "user_simulator", "recall", "orchestration"]
    rows = {row[0]: row[1:] for row in table.rows}
    assert rows["vanilla"] == ["2", "10.0", "6.00 (60%)", "3.00 (30%)", "0.00 (0%)", "1.00 (10%)"]
    assert rows["rag"] == ["1", "20.0", "6.00 (30%)", "4.00 (20%)", "8.00 (40%)", "2.00 (10%)"]
    assert rows["all"][:2] == ["3", "13.3"]


def test_records_without_part_seconds_give_no_time_profile(analysis):
    assert sections.time_profile(analysis) == []
