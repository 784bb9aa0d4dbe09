"""Profiles: the shipped schema, seeded generation, quality control, file formats, trigger matching."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from attune.orchestrator.profiles import (
    Preference,
    Profile,
    ProfileError,
    QueryContext,
    Trigger,
    applicable,
    check_profile,
    generate_from_schema,
    generate_with_llm,
    load_profiles,
    load_schema,
    save_profiles,
)
from attune.orchestrator.profiles.llm import choice_schema
from attune.preferences.schema import SHIPPED
from attune.v1 import model_pb2

ROOT = Path(__file__).resolve().parents[2]
MSC_SAMPLE = ROOT / "orchestrator/profiles/data/msc_sample.json"
# All 100 users of MultiSessionCollab's user_profiles.json, gzipped (attribution and licence beside it).
MSC_FULL = ROOT / "tests/data/msc_user_profiles.json.gz"
REQUIRED_GROUPS = {"format_structure", "verbosity_level", "code_naming", "math_detail", "guidance_style"}


@pytest.fixture(scope="module")
def schema():
    return load_schema()


def pref(pid: str, group: str = "g", condition: str | None = None, **trigger) -> Preference:
    return Preference(id=pid, condition=condition or f"when {pid}", preference=f"do {pid}", conflict_group=group,
                      enforce_if=f"the reply does not do {pid}", trigger=Trigger(**trigger))


def profile(*prefs: Preference, persona: str = "A test user.") -> Profile:
    return Profile(user_id="u1", persona=persona, preferences=list(prefs))


# ---- the shipped schema ----------------------------------------------------

def test_shipped_schema_loads_with_enough_groups(schema):
    assert len(schema.groups) >= 15
    assert REQUIRED_GROUPS <= set(schema.groups)
    assert schema.capacity() >= 40, "a 40-preference profile needs 40 option families"
    naming = schema.groups["code_naming"].options
    assert naming["snake_python"].trigger.languages == ["python"]
    assert "javascript" in naming["camel_javascript"].trigger.languages


def test_schema_errors_name_the_field(tmp_path, schema):
    raw = schema.model_dump(exclude_none=True)
    bad = tmp_path / "schema.yaml"

    raw["groups"]["tone"]["options"]["formal_work"]["colour"] = "red"
    bad.write_text(json.dumps(raw))
    with pytest.raises(ProfileError, match=r"groups\.tone\.options\.formal_work\.colour"):
        load_schema(bad)

    raw = schema.model_dump(exclude_none=True)
    raw["groups"]["tone"]["options"]["playful_fun"]["trigger"]["cues"].append("my boss said")
    bad.write_text(json.dumps(raw))
    with pytest.raises(ProfileError, match="options formal_work and playful_fun overlap"):
        load_schema(bad)

    raw = schema.model_dump(exclude_none=True)
    raw["groups"]["tone"]["options"]["playful_fun"]["variant_of"] = "nothing_here"
    bad.write_text(json.dumps(raw))
    with pytest.raises(ProfileError, match="variant_of 'nothing_here'"):
        load_schema(bad)

    bad.write_text("groups: [unclosed")
    with pytest.raises(ProfileError, match="not valid YAML"):
        load_schema(bad)
    with pytest.raises(ProfileError, match="cannot read schema"):
        load_schema(tmp_path / "missing.yaml")


# ---- generation -------------------------------------------------------------

def test_generation_is_seeded_and_every_profile_passes_qc(schema):
    first = generate_from_schema(schema, 100, seed=1)
    assert first == generate_from_schema(schema, 100, seed=1)
    other = generate_from_schema(schema, 100, seed=2)
    assert [p.ids() for p in first] != [p.ids() for p in other]
    assert generate_from_schema(schema, 3, seed=1) == first[:3], "profile i does not depend on n"
    assert len({p.user_id for p in first}) == 100
    assert len({tuple(p.ids()) for p in first}) == 100, "profiles differ from each other"
    for p in first:
        assert check_profile(p) == [], p.user_id
        assert len(p.preferences) == 40
        assert set(p.groups()) == set(schema.groups), "every group is represented"
        assert p.persona.endswith(".") and p.source == "schema"
        assert all(x.id == f"{x.conflict_group}.{x.id.split('.', 1)[1]}" for x in p.preferences)


def test_generation_refuses_more_than_the_schema_holds(schema):
    with pytest.raises(ProfileError, match="at most"):
        generate_from_schema(schema, 1, seed=0, per_profile=schema.capacity() + 1)
    small = generate_from_schema(schema, 5, seed=0, per_profile=10)
    assert all(len(p.preferences) == 10 and not check_profile(p) for p in small)


# ---- quality control -------------------------------------------------------

def test_check_profile_accepts_disjoint_conditions():
    fine = profile(pref("quick", cues=["quick"]), pref("ml", cues=["neural network"]),
                   pref("med", domains=["medicine"]), pref("proof", domains=["math"], cues=["prove"]),
                   pref("check", domains=["math"], cues=["check my answer"]), pref("py", languages=["python"]),
                   pref("java", languages=["java"]), pref("other", group="h", always=True))
    assert check_profile(fine) == []


@pytest.mark.parametrize("a, b", [
    (dict(cues=["quick"]), dict(cues=["quick question"])),
    (dict(domains=["math"]), dict(domains=["math", "science"])),
    (dict(domains=["math"]), dict(domains=["math"], cues=["just the answer"])),
    (dict(always=True), dict(cues=["anything"])),
    (dict(languages=["python"]), dict(cues=["python"])),
])
def test_check_profile_catches_overlapping_triggers(a, b):
    problems = check_profile(profile(pref("a", **a), pref("b", **b)))
    assert any("a and b" in p and "disjoint" in p for p in problems), problems


def test_check_profile_catches_ids_contradictions_and_blanks():
    assert any("duplicate preference id a" in p for p in check_profile(
        profile(pref("a", cues=["x"]), pref("a", group="h", cues=["y"]))))
    contradiction = profile(pref("a", condition="when I ask", cues=["x"]), pref("b", condition="When  I ask",
                                                                                   cues=["y"]))
    assert any("contradict under the same condition" in p for p in check_profile(contradiction))
    blank = profile(pref("a", cues=["x"]).model_copy(update={"enforce_if": " "}), persona="")
    problems = check_profile(blank)
    assert "persona is missing" in problems and "a: enforce_if is empty" in problems
    assert any("never holds" in p for p in check_profile(profile(pref("a"))))
    assert any("unknown domain 'cooking'" in p for p in check_profile(profile(pref("a", domains=["cooking"]))))


# ---- files -------------------------------------------------------------------

def test_msc_sample_loads_as_always_preferences():
    profiles = load_profiles(MSC_SAMPLE)
    assert len(profiles) == 5
    first = profiles[0]
    assert first.user_id == "msc-000" and first.source == "multisessioncollab"
    assert first.persona.startswith("A level design student")
    assert [p.conflict_group for p in first.preferences] == ["politeness", "proactivity", "habitual_strategies"]
    for p in first.preferences:
        assert p.trigger == Trigger(always=True) and p.condition == "always"
        assert "Enforce" not in p.preference and p.enforce_if
    assert first.preferences[1].enforce_if.startswith("the agent adds suggestions")
    assert all(len(applicable(p, QueryContext(text="anything"))) == 3 for p in profiles)


def test_full_msc_file_loads(tmp_path):
    path = tmp_path / "user_profiles.json"
    path.write_bytes(gzip.decompress(MSC_FULL.read_bytes()))
    profiles = load_profiles(path)
    assert len(profiles) == 100 and all(len(p.preferences) == 3 for p in profiles)
    assert profiles[:5] == load_profiles(MSC_SAMPLE), "the shipped sample is its first five users"


def test_msc_category_repeated_in_one_user_gets_its_own_group(tmp_path):
    user = {"i": 7, "persona": "A tester.", "categories": ["tone", "tone"],
            "preferences": ["Be brief. Enforce if the reply is long.", "Be warm."]}
    path = tmp_path / "users.json"
    path.write_text(json.dumps([user]))
    (p,) = load_profiles(path)
    assert [x.conflict_group for x in p.preferences] == ["tone", "tone_2"]
    assert [x.enforce_if for x in p.preferences] == ["the reply is long", "the reply does not follow: Be warm."]


def test_jsonl_round_trip_and_json_list(tmp_path, schema):
    profiles = generate_from_schema(schema, 4, seed=3)
    path = tmp_path / "out" / "profiles.jsonl"
    save_profiles(profiles, path)
    assert load_profiles(path) == profiles
    assert len(path.read_text().splitlines()) == 4
    assert [f.name for f in path.parent.iterdir()] == ["profiles.jsonl"], "no temporary file is left behind"
    as_list = tmp_path / "profiles.json"
    as_list.write_text(json.dumps([p.model_dump() for p in profiles]))
    assert load_profiles(as_list) == profiles


def test_bad_files_raise_profile_errors_naming_the_problem(tmp_path, schema):
    (good,) = generate_from_schema(schema, 1, seed=0)
    path = tmp_path / "bad.jsonl"
    path.write_text(good.model_dump_json() + "\n{not json\n")
    with pytest.raises(ProfileError, match="line 2 is not valid JSON"):
        load_profiles(path)

    row = good.model_dump()
    del row["persona"]
    path.write_text(json.dumps(row))
    with pytest.raises(ProfileError, match=rf"profile {good.user_id}: persona: Field required"):
        load_profiles(path)

    clash = good.model_copy(update={"preferences": [*good.preferences, good.preferences[0]]})
    path.write_text(clash.model_dump_json())
    with pytest.raises(ProfileError, match=rf"bad.jsonl: profile {good.user_id}: duplicate preference id"):
        load_profiles(path)

    path.write_text(good.model_dump_json() + "\n" + good.model_dump_json())
    with pytest.raises(ProfileError, match="duplicate user_id"):
        load_profiles(path)
    with pytest.raises(ProfileError, match="cannot read"):
        load_profiles(tmp_path / "missing.jsonl")


# ---- applicable ---------------------------------------------------------------

def test_applicable_matches_cues_domains_and_languages_in_profile_order():
    p = profile(pref("ml", cues=["neural network"]), pref("quick", group="v", cues=["quick"]),
                pref("math", group="m", domains=["math"]), pref("proof", group="m2", domains=["math"], cues=["prove"]),
                pref("java", group="n", languages=["java"]), pref("cs", group="n", languages=["c#"]),
                pref("im", group="t", cues=["i'm stuck"]), pref("all", group="a", always=True))

    def ids(text, domain="general", language=""):
        return [x.id for x in applicable(p, QueryContext(text=text, domain=domain, language=language))]

    assert ids("QUICK question about Neural Networks") == ["quick", "all"], "whole words only: 'networks' differs"
    assert ids("quickly now") == ["all"]
    assert ids("prove it", domain="math") == ["math", "proof", "all"], "domain and cue must both hold"
    assert ids("prove it", domain="logic") == ["all"]
    assert ids("port this JavaScript") == ["all"], "'java' is not matched inside 'javascript'"
    assert ids("in Java and C#") == ["java", "cs", "all"]
    assert ids("sort a list", domain="code", language="Java") == ["java", "all"]
    assert ids("I\u2019m stuck") == ["im", "all"], "a typographic apostrophe matches"


# ---- generation with a model (fake model: the retry and repair logic only) -------

class ScriptedModel:
    """Replies from a script, then repeats the last reply; records the requests."""

    def __init__(self, *texts: str):
        self.texts, self.requests = list(texts), []

    async def chat(self, request: model_pb2.ChatRequest) -> model_pb2.ChatResponse:
        self.requests.append(request)
        text = self.texts.pop(0) if len(self.texts) > 1 else self.texts[0]
        return model_pb2.ChatResponse(text=text)


def answer(schema, **overrides) -> str:
    blocks = schema.persona
    raw = {"trait": blocks.traits[1], "role": blocks.roles[2], "goal": blocks.goals[3]}
    raw |= {name: list(group.options)[-1] for name, group in schema.groups.items()}
    return json.dumps(raw | overrides)


async def test_llm_choices_are_kept_and_requests_are_constrained(schema):
    model = ScriptedModel(answer(schema))
    (p,) = await generate_with_llm(model, schema, 1, seed=5)
    assert p.source == "llm" and check_profile(p) == [] and len(p.preferences) == 40
    assert p.persona == schema.persona.line(schema.persona.traits[1], schema.persona.roles[2], schema.persona.goals[3])
    assert {f"{g}.{list(group.options)[-1]}" for g, group in schema.groups.items()} <= set(p.ids())
    (request,) = model.requests
    assert request.context.caller_role == "other" and request.context.method == ""
    assert json.loads(request.json_schema) == choice_schema(schema)


async def test_llm_bad_answers_are_retried_then_repaired(schema):
    model, stats = ScriptedModel("not json", answer(schema, role="astronaut"), answer(schema)), {}
    (p,) = await generate_with_llm(model, schema, 1, seed=5, stats=stats)
    assert len(model.requests) == 3 and p.persona.startswith("A curious")
    assert len({r.sampling.seed for r in model.requests}) == 3, "each attempt gets a new seed"
    assert stats == {"failed_attempts": 2, "repaired": 0, "dropped": 0}

    model = ScriptedModel('{"format_structure": "prose_why", "tone": "no_such_option"')
    (p,) = await generate_with_llm(model, schema, 1, seed=5, max_attempts=2, stats=stats)
    assert len(model.requests) == 2
    assert p.source == "llm" and check_profile(p) == [] and "format_structure.prose_why" in p.ids()
    assert stats == {"failed_attempts": 2, "repaired": 1, "dropped": 0}
    with pytest.raises(ValueError, match="max_attempts"):
        await generate_with_llm(model, schema, 1, seed=5, max_attempts=0)


async def test_llm_repair_counts_the_preferences_it_drops(schema, monkeypatch):
    import attune.orchestrator.profiles.llm as llm

    draw = llm.draw_preferences

    def draw_with_a_duplicate(*args):
        drawn = draw(*args)
        return [*drawn, drawn[0]]

    monkeypatch.setattr(llm, "draw_preferences", draw_with_a_duplicate)
    stats = {}
    (p,) = await generate_with_llm(ScriptedModel("not json"), schema, 1, seed=5, max_attempts=1, stats=stats)
    assert check_profile(p) == [] and len(p.preferences) == 40, "the duplicate is dropped"
    assert stats == {"failed_attempts": 1, "repaired": 1, "dropped": 1}


def test_shipped_schema_path_is_the_default():
    assert load_schema(SHIPPED) == load_schema()
