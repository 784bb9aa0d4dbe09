"""Settings of the extractor service (environment prefix ATTUNE_EXTRACTOR_)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from attune.services.common.settings import ServiceSettings


class ExtractorSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="ATTUNE_EXTRACTOR_", extra="ignore")

    port: int = Field(50052, ge=0, le=65535)
    max_turn_chars: int = Field(4000, ge=1)
    max_cards: int = Field(4, ge=1, le=16)
    max_tokens: int = Field(160, ge=16)
    # Two cards at least this similar (content-word Jaccard) are one card.
    merge_similarity: float = Field(0.75, gt=0, le=1)
    # grounded: the model picks preference and condition among the turn's clauses
    # (right for small models); free: it writes them (for larger models).
    mode: Literal["grounded", "free"] = "grounded"
    # Share of a card's preference words that must occur in the user's turn.
    min_grounding: float = Field(0.5, ge=0, le=1)
    # False: turns with no preference cue ("I prefer", "always", "don't", ...) skip the model call.
    read_every_turn: bool = False
    # Context turns shown before the turn being read.
    context_turns: int = Field(2, ge=0)
