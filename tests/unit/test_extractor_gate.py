"""The extractor's preference gate: the shipped weights over the real MiniLM."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from attune.services.extractor.gate import MAX_PARTS, GateWeights, PreferenceGate, parts

STATED = ["Non-negotiable for me: when I bring a math problem, write every formula in LaTeX.",
          "It's just how I'm used to working: when I say I'm new to programming, comment every non-obvious line.",
          "I told you before, when I ask to compare things: put the comparison in a table."]
UNSTATED = ["Why do electrons never fall into the nucleus?", "I don't get step 3, can you explain it again?",
            "What is the derivative of x squared?", "Thanks, that helps!"]


async def test_the_shipped_gate_tells_statements_from_other_turns(embedder):
    gate = PreferenceGate(embedder)
    stated, unstated = await gate.probabilities(STATED), await gate.probabilities(UNSTATED)
    assert (stated >= 0.5).all(), stated
    assert (unstated < 0.5).all(), unstated


def test_the_gate_refuses_an_embedder_it_was_not_trained_with():
    @dataclass
    class Other:
        id: str = "local/e5"
        dim: int = 768

    with pytest.raises(ValueError, match="trained on sentence-transformers/all-MiniLM-L6-v2 .*ATTUNE_EXTRACTOR_GATE"):
        PreferenceGate(Other())


def test_weights_round_trip(tmp_path):
    weights = GateWeights("m", np.array([0.5, -1.25], np.float32), 0.75)
    weights.save(tmp_path / "gate.json", {"statements": 2})
    loaded = GateWeights.load(tmp_path / "gate.json")
    assert loaded.embedder_id == "m" and loaded.intercept == 0.75 and loaded.coef.tolist() == [0.5, -1.25]


def test_a_turn_is_scored_whole_and_by_sentence():
    assert parts("What is 2+2?") == ["What is 2+2?"]
    turn = "Why? Please don't use bullets: what is 2+2?\nThanks. Ok"
    assert parts(turn) == [turn, "Please don't use bullets:", "what is 2+2?"], "one-word pieces are not scored"
    assert len(parts(". ".join(["a b"] * 40))) == 1 + MAX_PARTS
