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
    # Two specific conditions at least this similar (content-word Jaccard) are one condition: a new card of the
    # same conflict group and condition supersedes the known card (services/extractor/updates.py).
    condition_similarity: float = Field(0.6, gt=0, le=1)
    # Share of the named words that must match for a retraction ("forget what I said about ...") or a
    # revision ("actually, ... instead") to name a known card.
    change_min_overlap: float = Field(0.5, gt=0, le=1)
    # A card's evidence is the user's turn, cut to this length: the retrieval service's
    # ATTUNE_RETRIEVAL_MAX_TEXT_CHARS, so a stored card is never refused for its evidence.
    max_evidence_chars: int = Field(2000, ge=1)
    # grounded: the model picks preference and condition among the turn's clauses
    # (right for small models); free: it writes them (for larger models).
    mode: Literal["grounded", "free"] = "grounded"
    # Share of a card's preference words that must occur in the user's turn.
    min_grounding: float = Field(0.5, ge=0, le=1)
    # What decides that a turn states a preference, so that the model reads it: classifier, a logistic
    # regression over the turn's MiniLM embedding (services/extractor/gate.py); cues, the cue list
    # ("I prefer", "always", "don't", ...) it replaced. docs/memory.md compares them.
    gate: Literal["classifier", "cues"] = "classifier"
    # The classifier's probability from which a turn states a preference (0.5: the class-balanced fit's own).
    gate_threshold: float = Field(0.5, gt=0, lt=1)
    # True: the model reads every turn, whatever the gate says.
    read_every_turn: bool = False
    # Context turns shown before the turn being read.
    context_turns: int = Field(2, ge=0)
