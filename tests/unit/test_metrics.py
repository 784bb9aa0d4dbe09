"""Metrics, the summary and the judge's audit, computed from hand-made records and verdicts (pure logic)."""

from __future__ import annotations

from pathlib import Path

import pytest

from attune.orchestrator.benchmark.audit import agreement, false_accepts, kappa, position_bias
from attune.orchestrator.benchmark.judging import JudgedTurn, Judgment, PlantedVerdict
from attune.orchestrator.benchmark.metrics import METRICS, UnknownMetric, get_metric
from attune.orchestrator.benchmark.records import (
    ConflictRecord,
    SessionMetrics,
    SessionRecord,
    TokenCount,
    TurnRecord,
    VerdictRecord,
)
from attune.orchestrator.benchmark.summary import coinciding_methods, metric_value, summarize

ROOT = Path(__file__).resolve().parents[2]
YES, NO = "OPINION_YES", "OPINION_NO"


def turn(number: int, reply: str, message: str = "Please continue.", enforce: bool = False, end: bool = False,
         memory: list[str] | None = None) -> TurnRecord:
    verdict = VerdictRecord(satisfied=[], enforce=enforce, enforce_id="a.b" if enforce else "", clarifying=False,
                            draft_answer="", end_session=end, message=message, parse_failed=False)
    return TurnRecord(turn=number, user="q", assistant=reply, memory_used=memory or [], reward=None, tokens={},
                      verdict=verdict)


def record(method: str = "vanilla", profile: str = "u1", session: int = 1, turns: list | None = None,
           user_tokens: int | None = 100, conflict: ConflictRecord | None = None, ended_by: str = "simulator",
           memory: dict | None = None) -> SessionRecord:
    turns = turns or [turn(1, "answer", end=True)]
    return SessionRecord(
        run_id="r", method=method, profile_id=profile, user_id=f"r.{method}.{profile}", session=session,
        dataset="math-500", problem_id="p", step_by_step=False, query="q", conflict=conflict, applicable=[],
        turns=turns, upkeep_tokens={}, total_tokens=0, draft_answer="", task_success=False, task_detail="",
        agent_answer_correct=False, memory=memory or {}, seconds=1.0, finished_at=0.0,
        tokens={"agent": TokenCount(prompt=100, completion=20, calls=1), "extractor": TokenCount(prompt=30, calls=1),
                "user_simulator": TokenCount(prompt=500, completion=50, calls=1)},
        metrics=SessionMetrics(user_turns=len(turns), user_tokens=user_tokens, enforcements=sum(
            t.verdict.enforce for t in turns), enforced=[], clarifying_questions=0, parse_failures=0,
            simulator_compliance=None, simulator_conflict_resolved=None, ended_by=ended_by))


def judged(rec: SessionRecord, task: bool | None = True, compliance: list[list[bool]] | None = None,
           over: list[bool] | None = None, conflict: bool | None = None) -> Judgment:
    turns = []
    for i, t in enumerate(rec.turns):
        comp = None
        if compliance is not None:
            comp = {"verdicts": [{"card_id": f"p{k}", "satisfied": v, "checker": YES if v else NO,
                                  "llm": YES} for k, v in enumerate(compliance[i])]}
        turns.append(JudgedTurn(turn=t.turn, compliance=comp,
                                over=None if over is None else {"passed": over[i], "preferences": []}))
    return Judgment(method=rec.method, profile_id=rec.profile_id, session=rec.session, judge={"model": "m"},
                    task={"passed": bool(task), "unjudged": task is None, "checker": YES if task else NO,
                          "llm": NO},
                    conflict=None if conflict is None else {"passed": conflict, "checker": YES, "llm": YES},
                    turns=turns, tokens=TokenCount(prompt=40, completion=10, calls=2))


def test_compliance_is_the_mean_over_turns_of_the_share_followed():
    rec = record(turns=[turn(1, "a"), turn(2, "b", end=True)])
    assert get_metric("compliance").compute(rec, judged(rec, compliance=[[True, False], [True, True]])) == 0.75


def test_unjudged_and_inapplicable_values_are_left_out_not_zero():
    rec = record()
    assert get_metric("task_success").compute(rec, judged(rec, task=None)) is None
    assert get_metric("conflict_accuracy").compute(rec, judged(rec)) is None, "no conflict in the session"
    assert get_metric("compliance").compute(rec, None) is None, "not judged yet"


def test_over_personalization_is_the_share_of_turns_applying_an_inapplicable_preference():
    rec = record(turns=[turn(1, "a"), turn(2, "b"), turn(3, "c", end=True)])
    assert get_metric("over_personalization").compute(rec, judged(rec, over=[True, False, True])) == pytest.approx(
        1 / 3)


def test_effort_and_cost_keep_their_sources_apart():
    rec = record(turns=[turn(1, "a", message="That's wrong, I said no LaTeX."),
                        turn(2, "b", message="Please use bullet points.", enforce=True), turn(3, "c", end=True)])
    assert get_metric("enforcements").compute(rec, None) == 1.0
    assert get_metric("disappointments").compute(rec, None) == 1.0, "complaint without an enforcement"
    assert get_metric("agent_tokens").compute(rec, None) == 150.0, "agent + extractor, not the simulator"
    assert get_metric("simulator_tokens").compute(rec, None) == 550.0
    assert get_metric("judge_tokens").compute(rec, judged(rec)) == 50.0
    assert get_metric("timeout_rate").compute(record(ended_by="max_turns"), None) == 1.0


def test_successes_per_1k_user_tokens_divides_sums_not_means():
    a, b = record(profile="u1", user_tokens=100), record(profile="u2", user_tokens=300)
    pairs = [(a, judged(a, task=True)), (b, judged(b, task=False))]
    assert metric_value("successes_per_1k_user_tokens", pairs) == pytest.approx(1000 * 1 / 400)


def test_memory_precision_needs_the_winner_in_context_and_not_its_rival():
    conflict = ConflictRecord(template_id="t", group="g", triggered=["g.win", "g.lose"], expected="g.win",
                              preferences={"g.win": "use a numbered list with one action per step",
                                           "g.lose": "use bullet points, not numbers"})
    right = record(conflict=conflict, memory={"cards": []},
                   turns=[turn(1, "a", end=True, memory=["use a numbered list with one action per step"])])
    both = record(conflict=conflict, memory={"cards": []}, turns=[turn(1, "a", end=True, memory=[
        "use a numbered list with one action per step", "use bullet points not numbers"])])
    metric = get_metric("memory_precision")
    assert (metric.compute(right, None), metric.compute(both, None)) == (1.0, 0.0)
    assert metric.compute(record(conflict=conflict), None) is None, "only for methods that keep cards"


def test_summary_rows_by_method_and_by_session():
    a, b, c = record("vanilla", "u1"), record("vanilla", "u2", session=2), record("rag", "u1")
    pairs = [(a, judged(a, task=True)), (b, judged(b, task=False)), (c, None)]
    rows = summarize(pairs, ["task_success", "agent_tokens"])
    assert [(r["method"], r["sessions"], r["judged"], r["task_success"]) for r in rows] == [
        ("vanilla", 2, 2, 0.5), ("rag", 1, 0, None)]
    assert [r["session"] for r in summarize(pairs, ["task_success"], by="session")] == ["1", "2"]


def test_unknown_metrics_and_breakdowns_raise():
    with pytest.raises(UnknownMetric, match="unknown metric 'accuracy'"):
        get_metric("accuracy")
    with pytest.raises(KeyError, match="unknown breakdown"):
        summarize([], by="weather")


def test_methods_with_identical_transcripts_are_flagged():
    same = [record("rag", turns=[turn(1, "x", end=True)]), record("rag_vector", turns=[turn(1, "x", end=True)]),
            record("vanilla", turns=[turn(1, "y", end=True)])]
    assert coinciding_methods(same) == [("rag", "rag_vector")]


def test_agreement_and_kappa_from_hand_counts():
    rec = record(turns=[turn(1, "a"), turn(2, "b", end=True)])
    # Compliance: checker says [yes, no] and [yes, yes]; the LLM says yes to all: agreement 3/4.
    report = agreement([judged(rec, compliance=[[True, False], [True, True]])])
    assert report["compliance"]["n"] == 4 and report["compliance"]["agreement"] == 0.75
    assert report["compliance"]["kappa"] == 0.0, "one rater constant: kappa 0"
    # Cohen's kappa by hand: 2x2 table a=2 (yes,yes) b=1 c=0 d=1, n=4: po=3/4, pe=(3/4*2/4 + 1/4*2/4)=1/2.
    assert kappa([True, True, True, False], [True, True, False, False]) == pytest.approx(0.5)
    assert kappa([True], [True]) is None


def test_false_accepts_per_planted_kind():
    def plant(kind: str, accepted: bool, llm: int) -> PlantedVerdict:
        return PlantedVerdict(kind=kind, method="m", profile_id="u", session=1, accepted=accepted, unjudged=False,
                              decided_by="checker", llm=llm, reason="")

    report = false_accepts([plant("wrong_answer", False, 1), plant("wrong_answer", False, 2),
                            plant("rival_preference", True, 3)])
    assert report["wrong_answer"] == {"n": 2, "judge": 0.0, "llm": 0.5, "llm_answered": 2}
    assert report["rival_preference"]["judge"] == 1.0 and report["rival_preference"]["llm"] is None


def test_position_bias_counts_the_same_letter_twice_and_the_share_of_a():
    rec = record()

    def asked(*positions: str) -> Judgment:
        judgment = judged(rec, conflict=True)
        judgment.conflict["positions"] = list(positions)
        return judgment

    # By position twice (A, A), by content twice (A, B and B, A); one unparsed pair and one unasked are left out.
    report = position_bias([asked("A", "A"), asked("A", "B"), asked("B", "A"), asked("A", ""), judged(rec)])
    assert report == {"n": 3, "same_letter": pytest.approx(1 / 3), "first_letter": pytest.approx(4 / 6)}
    assert position_bias([]) == {"n": 0, "same_letter": None, "first_letter": None}


def test_every_metric_is_defined_in_docs():
    table = (ROOT / "docs" / "benchmark.md").read_text()
    missing = [name for name in METRICS if f"| `{name}` |" not in table]
    assert missing == [], f"docs/benchmark.md's metric table lacks {missing}"
