"""The extractor's parser on what a small model really writes: broken, partial or odd JSON."""

import json

import pytest

from attune.services.common.cards import card_id, grounding, similarity
from attune.services.extractor.core import CUES, card_schema, clauses, conditions
from attune.services.extractor.parsing import parse_cards

GOOD = '{"preferences": [{"condition": "always", "preference": "keep answers short", ' \
       '"conflict_group": "verbosity_level", "confidence": 0.75}]}'


def test_valid_json_gives_cards_without_notes():
    cards, notes = parse_cards(GOOD)
    assert cards == [{"condition": "always", "preference": "keep answers short", "conflict_group": "verbosity_level",
                      "evidence": "", "confidence": 0.75}]
    assert notes == []


@pytest.mark.parametrize("broken", [
    GOOD[:-2],                                   # truncated by max_tokens
    GOOD.replace('"', "'"),                      # single quotes
    "```json\n" + GOOD + "\n```",                # code fence
    GOOD.replace("0.75}", "0.75,}"),             # trailing comma
])
def test_broken_json_is_repaired_and_said_so(broken):
    cards, notes = parse_cards(broken)
    assert [c["preference"] for c in cards] == ["keep answers short"]
    assert any("repaired" in n for n in notes)


@pytest.mark.parametrize("garbage", ["", "no json here at all", "42", "[1, 2]", '{"preferences": "lots"}'])
def test_garbage_never_raises(garbage):
    cards, notes = parse_cards(garbage)
    assert cards == []
    assert notes, "a rejection must say why"


def test_bad_cards_are_rejected_with_reasons_and_good_ones_kept():
    text = ('{"preferences": [{"condition": "always"}, "oops", {"preference": "use tables", "confidence": "high",'
            ' "conflict_group": "Format Structure!"}, {"preference": "' + "x" * 400 + '"}]}')
    cards, notes = parse_cards(text)
    assert [(c["preference"], c["condition"], c["conflict_group"], c["confidence"]) for c in cards] == [
        ("use tables", "always", "format_structure", 0.5)]
    assert len(notes) == 3


def test_confidence_on_other_scales_is_normalized():
    cards, _ = parse_cards('[{"preference": "be brief", "confidence": 8}, {"preference": "be kind", '
                           '"confidence": 95}, {"preference": "be calm", "confidence": -3}]')
    assert [c["confidence"] for c in cards] == [0.8, 0.95, 0.0]


def test_clauses_and_conditions_come_from_the_turn():
    turn = "When I ask about Python, please use snake_case names. Also, what is a list?"
    assert clauses(turn) == ["When I ask about Python, please use snake_case names."]
    assert conditions(turn)[:2] == ["always", "When I ask about Python"]
    assert CUES.search("I prefer bullet points") and not CUES.search("What is 12 times 7?")


def test_the_preference_is_chosen_among_the_stating_sentences_when_the_gate_names_them():
    turn = "Why? Please don't use bullets: what is 2+2? Express it as a fraction."
    choices = json.loads(card_schema(turn, True, 1, 4, ["Please don't use bullets:"]))
    card = choices["properties"]["preferences"]["items"]["properties"]
    assert card["preference"]["enum"] == ["Please don't use bullets"]
    assert card["condition"]["enum"] == conditions(turn)
    whole = json.loads(card_schema(turn, True, 1, 4))["properties"]["preferences"]["items"]["properties"]
    assert whole["preference"]["enum"] == ["Please don't use bullets: what is 2+2?"], "the task glued on"


def test_same_statement_same_id_and_similarity():
    assert card_id("u", "Always", "Keep answers short!") == card_id("u", "always", "keep answers short")
    assert card_id("u", "always", "short") != card_id("v", "always", "short")
    assert similarity("always", "keep answers short", "always", "keep the answers short") == 1.0
    assert grounding("keep answers short", "I prefer short answers") == pytest.approx(2 / 3)
