"""Profiles chosen by the real SmolLM2 model: constrained choices that pass quality control."""

from attune.orchestrator.profiles import check_profile, generate_with_llm, load_schema
from attune.services.common import metrics


async def test_llm_profiles_pass_quality_control(model_core):
    labels = {"model": "SmolLM2-135M-Instruct", "caller_role": "other", "method": "none", "kind": "completion"}
    before = metrics.TOKENS.labels(**labels)._value.get()
    stats = {}
    (profile,) = await generate_with_llm(model_core, load_schema(), 1, seed=1, max_attempts=2, stats=stats)
    assert profile.source == "llm"
    assert check_profile(profile) == []
    assert len(profile.preferences) == 40 and profile.persona
    # Repair would pass the two checks above whatever the model wrote: the model's own answer must have.
    assert stats["repaired"] == stats["dropped"] == 0 and stats["failed_attempts"] < 2
    assert metrics.TOKENS.labels(**labels)._value.get() > before, "the model's tokens are counted as `other`"
