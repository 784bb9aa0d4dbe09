"""The rule-based reward scorer on typical next turns; the LLM scorer's fallback to it."""

import pytest

from attune.orchestrator.reward import LLMRewardScorer, RuleRewardScorer, clamp_reward
from attune.v1 import model_pb2


@pytest.mark.parametrize(("turn", "sign"), [
    ("Thanks, that's perfect!", 1),
    ("Great, got it.", 1),
    ("Now, how do I sort a list in Python?", 1),            # moving on
    ("I said I want bullet points. Again, bullet points!", -1),
    ("That's not what I asked for, too long.", -1),
    ("Please remember that I prefer short answers.", -1),
])
async def test_rule_scorer_signs(turn, sign):
    reward = await RuleRewardScorer().score("some reply", turn)
    assert -1 <= reward <= 1
    assert reward * sign > 0


def test_explicit_rewards_are_clamped_and_nan_refused():
    assert clamp_reward(3) == 1 and clamp_reward(-2) == -1 and clamp_reward(0.25) == 0.25
    with pytest.raises(ValueError, match="finite number, got nan"):
        clamp_reward(float("nan"))


class FixedModel:
    def __init__(self, text: str):
        self.text = text

    async def chat(self, request: model_pb2.ChatRequest) -> model_pb2.ChatResponse:
        return model_pb2.ChatResponse(text=self.text)


async def test_llm_scorer_counts_the_answers_its_fallback_gave():
    scorer = LLMRewardScorer(FixedModel('{"verdict": "neutral"}'))
    assert await scorer.score("some reply", "Thanks, that's perfect!") == 0.2 and scorer.fallbacks == 0
    for text in ("not json", '{"verdict": "thrilled"}', "[1]"):
        scorer.model = FixedModel(text)
        assert await scorer.score("some reply", "Thanks, that's perfect!") == 1.0, "the rules' value"
    assert scorer.fallbacks == 3
