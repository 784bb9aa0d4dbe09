"""Changes of mind, as pure logic: which known cards a turn retracts or a new card supersedes."""

import pytest

from attune.services.extractor.updates import is_revision, replaced, retract, supersedes
from attune.v1 import common_pb2


def card(card_id: str, preference: str, condition: str = "always", group: str = "verbosity_level",
         evidence: str = "") -> common_pb2.PreferenceCard:
    return common_pb2.PreferenceCard(card_id=card_id, condition=condition, preference=preference,
                                     conflict_group=group, evidence=evidence or preference)


KNOWN = [card("bullets", "I prefer short answers with bullet points."),
         card("latex", "Please always write math in LaTeX.", group="math_detail"),
         card("examples", "From now on, always give me an example with each explanation.", group="examples"),
         card("no-tables", "Please don't use tables."),
         card("steps", "please use numbered lists", condition="when I ask for steps")]


def user(text: str) -> common_pb2.Message:
    return common_pb2.Message(role="user", content=text)


def retracted(text: str, turns=None) -> tuple[list[str], str]:
    result = retract(text, turns or [user(text)], KNOWN, floor=0.5)
    return result.removed, result.rest


@pytest.mark.parametrize(("text", "removed"), [
    ("Forget that I asked for bullet points.", ["bullets"]),
    ("forget what I said about LaTeX", ["latex"]),
    ("Scratch what I said about LaTeX.", ["latex"]),
    ("Never mind about the examples.", ["examples"]),
    ("Please stop giving me examples.", ["examples"]),
    ("Ignore my earlier request for bullet points!", ["bullets"]),
    ("Please forget my earlier request ('use numbered lists when I ask for steps').", ["steps"]),
    ("Forget the rule I gave you for steps, the one that says 'please use numbered lists'.", ["steps"]),
])
def test_a_retraction_removes_the_card_it_names_and_leaves_nothing_to_read(text, removed):
    assert retracted(text) == (removed, "")


def test_a_retraction_that_names_no_card_removes_nothing():
    assert retracted("Forget what I said about cooking.") == ([], "")


def test_stop_retracts_only_a_card_that_asks_for_the_thing():
    assert retracted("Please stop using tables.") == ([], "Please stop using tables."), "the card already says don't"
    assert retracted("Please stop adding emojis.") == ([], "Please stop adding emojis."), "no card: a new preference"


@pytest.mark.parametrize("text", [
    "Never mind, I figured it out.",
    "Forget it, I found the answer on my own.",
    "Scratch that question, I asked it wrong.",
    "How do I stop a Python script that's stuck in a loop?",
    "Perfect, I always forget that rule - thanks for the reminder.",
])
def test_ordinary_turns_are_no_retraction(text):
    assert retracted(text) == ([], text)


def test_the_rest_of_the_turn_is_left_for_the_model():
    assert retracted("Scratch what I said about LaTeX, and keep it short.") == (["latex"], "and keep it short")


def test_scratch_that_retracts_the_cards_of_the_previous_user_turn():
    turns = [user("I prefer short answers with bullet points. What is DNS?"),
             common_pb2.Message(role="assistant", content="- a directory"), user("Scratch that.")]
    assert retracted("Scratch that.", turns) == (["bullets"], "")
    assert retracted("Scratch that.") == ([], ""), "no previous turn, nothing named"


def test_revision_cues():
    assert is_revision("Actually, from now on use bullet points instead.")
    assert is_revision("I've changed my mind: no longer use tables.")
    assert not is_revision("I prefer bullet points.")


def new(preference: str, condition: str = "always", group: str = "verbosity_level") -> dict:
    return {"condition": condition, "preference": preference, "conflict_group": group}


def supersede(turn: str, fields: dict, old: common_pb2.PreferenceCard) -> bool:
    return supersedes(fields, old, turn, revision=is_revision(turn), condition_similarity=0.6, floor=0.5)


STEPS = card("s", "use numbered lists", condition="when I ask for steps")


def test_same_group_and_specific_condition_supersede_without_a_cue():
    turn = "When I ask for steps, use bullet points."
    assert supersede(turn, new("use bullet points", "When I ask for steps"), STEPS)
    assert supersede(turn, new("use bullet points", "when I ask for the steps"), STEPS), "similar conditions"
    assert not supersede(turn, new("use bullet points", "When I ask for steps", group="format_structure"), STEPS)
    assert not supersede(turn, new("use bullet points", "when writing code"), STEPS)
    other = card("o", "use numbered lists", condition="when I ask for steps", group="other")
    assert not supersede(turn, new("use bullet points", "When I ask for steps", group="other"), other)


def test_two_always_cards_supersede_only_in_a_revision_that_names_the_old_one():
    old = card("b", "I prefer short answers with bullet points.")
    assert not supersede("I prefer numbered lists.", new("I prefer numbered lists."), old)
    turn = "Actually, from now on I prefer numbered lists instead of bullet points."
    assert supersede(turn, new(turn), old)
    unnamed = "Actually, from now on write math in LaTeX."
    assert not supersede(unnamed, new(unnamed), old), "same (coarse) group, but another topic"


def test_a_revision_restating_the_condition_loosely_supersedes():
    turn = "Actually, whenever I ask for steps, use bullet points instead."
    assert supersede(turn, new("use bullet points"), STEPS)
    assert supersede(turn, new("use bullet points", "whenever I ask for steps"), STEPS)
    narrower = "Actually, when writing Python, use tabs instead."
    assert not supersede(narrower, new("use tabs", "when writing Python"), card("sp", "use spaces")), \
        "a narrower condition keeps the general card"


@pytest.mark.parametrize(("turn", "ids"), [
    ("Actually, I want bullet points instead of numbered lists when I ask for steps.", ["steps"]),
    ("From now on, plain text rather than LaTeX for math.", ["latex"]),
    ("Change of plan: not 'an example with each explanation' anymore, just the idea.", ["examples"]),
    ("No more bullet points, please.", ["bullets"]),
    ("Use tables instead of prose.", []),
])
def test_a_turn_replaces_the_card_it_says_it_replaces(turn, ids):
    assert replaced(turn, KNOWN, floor=0.5) == ids
