"""The simulator's checked mode and the conflict rule (pure logic: verdicts and plans, no model)."""

from __future__ import annotations

from attune.orchestrator.benchmark.experiment import load_training_profiles, parse_experiment
from attune.orchestrator.benchmark.plan import plan
from attune.orchestrator.benchmark.simulator import Verdict, check_verdict

NUMBERED = "format_structure.numbered_steps"
PLAIN = "notation.plain_math"
TONE = "tone.casual_general"  # no checker: the model's word stands
PROSE_WITH_LATEX = "We subtract five: $3x = 15$, so $x = 5$."
STEPS = "1. Subtract 5: 3x = 15.\n2. Divide by 3: x = 5."


def test_checkers_overrule_the_models_satisfied_marks():
    verdict = Verdict(satisfied=[NUMBERED, PLAIN, TONE])
    check_verdict(verdict, PROSE_WITH_LATEX, [NUMBERED, PLAIN, TONE])
    assert verdict.satisfied == [TONE]
    assert verdict.enforce and verdict.enforce_id == NUMBERED, "a broken checkable preference is enforced"


def test_an_enforcement_of_a_followed_preference_is_withdrawn():
    verdict = Verdict(satisfied=[], enforce=True, enforce_id=NUMBERED)
    check_verdict(verdict, STEPS, [NUMBERED, PLAIN])
    assert verdict.satisfied == [NUMBERED, PLAIN] and not verdict.enforce and verdict.enforce_id == ""


def test_the_models_own_enforcement_of_an_uncheckable_preference_stands():
    verdict = Verdict(satisfied=[], enforce=True, enforce_id=TONE)
    check_verdict(verdict, STEPS, [NUMBERED, TONE])
    assert verdict.enforce and verdict.enforce_id == TONE and verdict.satisfied == [NUMBERED]


def experiment(**overrides):
    return parse_experiment({"methods": ["vanilla", "rag"], "datasets": ["math-500"], "n_profiles": 3,
                             "n_sessions": 4, "max_turns": 6, **overrides})


def test_training_profiles_are_never_evaluated_users():
    from attune.orchestrator.benchmark.experiment import load_profiles_for

    exp = experiment()
    evaluated = load_profiles_for(exp)
    training = load_training_profiles(exp, evaluated)
    assert training and not {p.user_id for p in training} & {p.user_id for p in evaluated}
    assert all(p.user_id.startswith("train-") for p in training)


def test_plan_counts_sessions_and_scales_measured_tokens_by_turns():
    exp = experiment()
    estimated = plan(exp)
    assert estimated.sessions == 3 * 4 * 2 and estimated.turns_per_session == 4.0
    assert {"agent", "user_simulator", "judge", "extractor"} <= set(estimated.tokens)
    measured = plan(exp, {"vanilla": {"agent": 100.0}, "rag": {"agent": 200.0}}, turns=2)
    assert measured.tokens == {"agent": 12 * 2 * (100 + 200)}
    assert measured.hours(1000) == measured.total_tokens / 1000 / 3600
    assert "judge" not in plan(experiment(judge={"enabled": False})).tokens
