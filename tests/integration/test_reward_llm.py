"""The LLM reward scorer with the real SmolLM2 model: a verdict, within range, counted as role `reward`."""

from attune.orchestrator.reward import VERDICT_REWARD, LLMRewardScorer
from attune.services.common import metrics


async def test_llm_scorer_gives_a_verdict_reward(model_core):
    labels = {"model": "SmolLM2-135M-Instruct", "caller_role": "reward", "method": "none", "kind": "completion"}
    before = metrics.TOKENS.labels(**labels)._value.get()
    scorer = LLMRewardScorer(model_core)
    rewards = [await scorer.score("Paris is the capital of France.", turn)
               for turn in ("Thanks, that's perfect!", "No! I said I want bullet points. Again!")]
    assert all(r in VERDICT_REWARD.values() for r in rewards)
    # The rules give 1.0 and -1.0 on these turns too: only the fallback count tells who answered.
    assert scorer.fallbacks == 0, "constrained decoding gives a verdict that parses"
    assert metrics.TOKENS.labels(**labels)._value.get() > before, "the scorer's tokens are counted as `reward`"
