"""Settings of the judge service (environment prefix ATTUNE_JUDGE_).

The judge talks to the model service named by ATTUNE_MODEL_TARGET; in a cluster
point the judge's ATTUNE_MODEL_TARGET at a larger model served for the judge
role alone.
"""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from attune.services.common.settings import ServiceSettings


class JudgeSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="ATTUNE_JUDGE_", extra="ignore")

    port: int = Field(50055, ge=0, le=65535)
    # Deterministic: greedy decoding with a fixed seed.
    seed: int = 0
    # The decision comes first; the reason after it may be cut.
    max_tokens: int = Field(96, ge=16, le=4096)
    # Tries when the model's output does not parse; then the verdict is recorded as unjudged. A retry samples at
    # this temperature with a seed of its own (services/common/sampling.py): greedy retries repeat the output.
    retries: int = Field(2, ge=0, le=10)
    retry_temperature: float = Field(0.7, gt=0.0, le=2.0)
    # Longest problem, reply or reference shown to the judge, in characters (longer ones are cut).
    max_text_chars: int = Field(3000, ge=200)
    max_preferences: int = Field(64, ge=1, le=1024)
