"""The bounds: ``oracle`` holds exactly the session's applicable preferences, ``anti_oracle`` as many rivals."""

from __future__ import annotations

from attune.orchestrator.benchmark.experiment import load_problems_for, parse_experiment
from attune.orchestrator.benchmark.session import plan_sessions
from attune.orchestrator.methods import METHODS, MethodSettings
from attune.orchestrator.methods.bounds import rival
from attune.orchestrator.profiles import generate_from_schema
from attune.orchestrator.prompts import card_line
from attune.preferences.model import Preference, Trigger
from attune.preferences.schema import load_schema

SCHEMA = load_schema()


def bound(name: str):
    return METHODS[name](None, MethodSettings())


def test_a_rival_has_the_same_condition_and_the_opposite_preference_where_the_schema_has_a_variant():
    numbered = SCHEMA.preference("format_structure", "numbered_steps")
    bullets = rival(numbered)
    assert bullets.id == "format_structure.bullets_steps"
    assert bullets.condition == numbered.condition and bullets.preference != numbered.preference
    assert rival(bullets).id == "format_structure.numbered_steps"


def test_without_a_variant_the_rival_is_another_option_of_the_same_group():
    unordered = SCHEMA.preference("format_structure", "bullets_unordered")
    other = rival(unordered)
    assert other.conflict_group == "format_structure" and other.id != unordered.id


def test_a_preference_outside_the_schema_has_no_rival():
    own = Preference(id="msc.likes_haiku", condition="always", preference="answer in a haiku",
                     conflict_group="msc", enforce_if="not a haiku", trigger=Trigger(always=True))
    assert rival(own) is None


def sessions_with_preferences():
    exp = parse_experiment({"methods": ["oracle"], "datasets": ["math-500", "mmlu"], "n_profiles": 6,
                            "n_sessions": 3, "conflict_share": 0.5})
    profiles = generate_from_schema(SCHEMA, exp.n_profiles, exp.seed)
    problems = load_problems_for(exp)
    plans = [p for user in plan_sessions(exp, profiles, problems) for p in user if p.applicable]
    assert len(plans) >= 5, "too few sessions with an applicable preference to test the bounds"
    return plans


def test_the_oracle_sees_exactly_the_applicable_preferences_and_the_anti_oracle_their_rivals():
    oracle, anti = bound("oracle"), bound("anti_oracle")
    for plan in sessions_with_preferences():
        applicable = list(plan.applicable)
        oracle.know("u", applicable)
        anti.know("u", applicable)
        assert oracle.memory("u") == [card_line(p.preference, p.condition) for p in applicable]
        assert len(anti.memory("u")) == len(applicable)
        assert not set(anti.memory("u")) & set(oracle.memory("u"))
        assert {rival(p).conflict_group for p in applicable} == {p.conflict_group for p in applicable}


def test_a_method_that_is_not_a_bound_is_told_nothing():
    assert bound("vanilla").bound == "" and not hasattr(bound("vanilla"), "know")
