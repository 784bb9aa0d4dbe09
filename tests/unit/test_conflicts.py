"""Conflict templates: the YAML file and its validation, coverage of the schema, consistency with applicable(),
seeded selection."""

from __future__ import annotations

import random
import re
from collections import Counter
from importlib import resources

import pytest
import yaml

from attune.orchestrator.conflicts import TEMPLATES, make_conflict, render, should_conflict
from attune.orchestrator.conflicts.templates import ConflictTemplate, TemplateError, load_templates
from attune.orchestrator.profiles import DOMAINS, Profile, QueryContext, applicable, check_profile, generate_from_schema
from attune.orchestrator.profiles import load_schema as load

PROBLEM = "Find all x such that x^2 = {4}."


@pytest.fixture(scope="module")
def schema():
    return load()


def group_profile(schema, template) -> Profile:
    """A valid profile holding one option of every family of the template's group, the triggered ones included."""
    group = schema.groups[template.group]
    picks = [next((o for o in family if o in template.triggers), family[0]) for family in group.families()]
    return Profile(user_id="u", persona="A tester.", preferences=[schema.preference(template.group, o) for o in picks])


GOOD = {"name": "quick", "text": "Quick question: {problem}", "triggers": ["concise_quick", "detailed_ml"],
        "expected": "concise_quick", "rationale": "an explicit request wins"}


def template_file(tmp_path, *entries, group="verbosity_level"):
    path = tmp_path / "templates.yaml"
    path.write_text(yaml.safe_dump({"templates": {group: list(entries)}}), encoding="utf-8")
    return path


def refusal(path) -> TemplateError:
    with pytest.raises(TemplateError) as error:
        load_templates(path)
    return error.value


def test_shipped_file_holds_the_87_templates():
    shipped = resources.files("attune.orchestrator.conflicts") / "data" / "templates.yaml"
    with resources.as_file(shipped) as path:
        assert load_templates(path) == TEMPLATES
    assert len(TEMPLATES) == 87


def test_shared_rationales_are_written_out_from_their_alias():
    negated = [t for t in TEMPLATES if t.rationale == "the message mentions the cue only to rule it out"]
    assert len(negated) == 13


def test_a_user_file_loads_in_file_order(tmp_path):
    second = {**GOOD, "name": "ml", "expected": "detailed_ml", "domain": "code"}
    first, then = load_templates(template_file(tmp_path, GOOD, second))
    assert first == ConflictTemplate("verbosity_level.quick", "verbosity_level", "Quick question: {problem}",
                                     ("concise_quick", "detailed_ml"), "concise_quick", None, GOOD["rationale"])
    assert (then.id, then.expected, then.domain) == ("verbosity_level.ml", "detailed_ml", "code")


@pytest.mark.parametrize(("change", "field", "problem"), [
    ({"colour": "red"}, "colour", "Extra inputs are not permitted"),
    ({"expected": "detailed_code"}, "expected", "'detailed_code' is not one of the triggers"),
    ({"text": "Quick question:"}, "text", "must contain {problem} exactly once"),
    ({"text": "{problem} or {problem}"}, "text", "must contain {problem} exactly once"),
    ({"triggers": ["concise_quick"]}, "triggers", "at least 2 items"),
    ({"triggers": ["concise_quick", "concise_quick"]}, "triggers", "options must not repeat"),
    ({"domain": "cooking"}, "domain", "'cooking' is not a domain"),
    ({"rationale": ""}, "rationale", "at least 1 character"),
])
def test_a_bad_template_is_refused_naming_the_file_template_and_field(tmp_path, change, field, problem):
    path = template_file(tmp_path, GOOD, {**GOOD, "name": "bad", **change})
    error = refusal(path)
    assert str(error).startswith(f"{path}: template verbosity_level.bad: {field}: ")
    assert problem in str(error)


def test_a_duplicate_id_is_refused(tmp_path):
    error = refusal(template_file(tmp_path, GOOD, {**GOOD, "expected": "detailed_ml"}))
    assert str(error).endswith("template verbosity_level.quick: name: duplicate id")


def test_an_empty_group_is_refused(tmp_path):
    error = refusal(template_file(tmp_path, GOOD, group=""))
    assert str(error).endswith("template .quick: group: a conflict group must be named")


def test_a_template_without_a_name_is_named_by_its_index(tmp_path):
    nameless = {key: value for key, value in GOOD.items() if key != "name"}
    error = refusal(template_file(tmp_path, GOOD, nameless))
    assert "template verbosity_level[1]: name: Field required" in str(error)


def test_a_group_written_twice_is_refused_not_merged(tmp_path):
    path = tmp_path / "templates.yaml"
    path.write_text("templates:\n  verbosity_level: []\n  tone: []\n  verbosity_level: []\n", encoding="utf-8")
    error = refusal(path)
    assert str(error).startswith(f"{path}: not valid YAML") and "duplicate key 'verbosity_level'" in str(error)


def test_an_unknown_top_level_key_and_a_missing_file_are_refused(tmp_path):
    path = tmp_path / "templates.yaml"
    path.write_text(yaml.safe_dump({"templates": {}, "template": {}}), encoding="utf-8")
    assert str(refusal(path)) == f"{path}: template: Extra inputs are not permitted"
    assert "cannot read templates" in str(refusal(tmp_path / "missing.yaml"))


def test_enough_templates_covering_every_group(schema):
    assert len(TEMPLATES) >= 70
    assert len({t.id for t in TEMPLATES}) == len(TEMPLATES)
    per_group = Counter(t.group for t in TEMPLATES)
    assert set(per_group) == set(schema.groups)
    assert min(per_group.values()) >= 3


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda t: t.id)
def test_template_is_well_formed(schema, template):
    group = schema.groups[template.group]
    assert template.id.startswith(f"{template.group}.")
    assert template.text.count("{problem}") == 1 and not re.search(r"\{(?!problem\})", template.text)
    assert len(set(template.triggers)) == len(template.triggers) >= 2
    assert all(option in group.options for option in template.triggers)
    assert template.expected in template.triggers
    assert template.domain is None or template.domain in DOMAINS
    assert template.rationale.strip()
    assert render(template, PROBLEM).endswith(PROBLEM), "braces in the problem survive"


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda t: t.id)
def test_template_text_triggers_exactly_its_options(schema, template):
    """The rendered query switches on every triggered preference, and no other option of the group,
    in the template's domain (or, for a domain-free template, in every domain the group leaves free)."""
    profile = group_profile(schema, template)
    assert check_profile(profile) == [], "the group's conditions are disjoint in the ordinary sense"
    used = {d for option in schema.groups[template.group].options.values() for d in option.trigger.domains}
    domains = [template.domain] if template.domain else [d for d in DOMAINS if d not in used]
    assert domains
    expected = {f"{template.group}.{o}" for o in template.triggers}
    for domain in domains:
        got = {p.id for p in applicable(profile, QueryContext(text=render(template, PROBLEM), domain=domain))}
        assert got == expected, domain


def test_domain_alone_never_makes_a_conflict(schema):
    """A plain problem (no cues) triggers at most one option per group in any domain."""
    for profile in generate_from_schema(schema, 20, seed=4):
        for domain in DOMAINS:
            groups = Counter(p.conflict_group for p in applicable(profile, QueryContext(text=PROBLEM, domain=domain)))
            assert max(groups.values(), default=0) <= 1


def test_make_conflict_is_seeded_and_consistent(schema):
    profiles = generate_from_schema(schema, 30, seed=9)
    made = 0
    for profile in profiles:
        for domain in DOMAINS:
            query = make_conflict(profile, PROBLEM, domain, random.Random(11))
            assert query == make_conflict(profile, PROBLEM, domain, random.Random(11))
            if query is None:
                continue
            made += 1
            assert set(query.triggered) <= set(profile.ids()) and query.expected in query.triggered
            on = {p.id for p in applicable(profile, QueryContext(text=query.text, domain=domain))
                  if p.conflict_group == query.group}
            assert on == set(query.triggered)
    assert made >= 150, "most profiles find a conflict template in most domains"
    picks = {make_conflict(profiles[0], PROBLEM, "code", random.Random(s)).template_id for s in range(40)}
    assert len(picks) > 1, "the rng chooses among fitting templates"


def test_make_conflict_returns_none_when_nothing_fits(schema):
    (profile,) = generate_from_schema(schema, 1, seed=0)
    only_one_group = profile.model_copy(update={"preferences": profile.preferences[:1]})
    assert make_conflict(only_one_group, PROBLEM, "math", random.Random(0)) is None


def test_should_conflict_share():
    rng = random.Random(123)
    hits = sum(should_conflict(rng, 0.3) for _ in range(10_000))
    assert abs(hits / 10_000 - 0.3) < 0.02  # about 4.6 standard deviations
    assert not any(should_conflict(rng, 0.0) for _ in range(100))
    assert all(should_conflict(rng, 1.0) for _ in range(100))
    first, second = random.Random(5), random.Random(5)
    assert [should_conflict(first) for _ in range(50)] == [should_conflict(second) for _ in range(50)]
    with pytest.raises(ValueError, match="share"):
        should_conflict(rng, 1.5)
