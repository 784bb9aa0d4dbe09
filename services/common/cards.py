"""Preference cards: normalization, stable ids, and "says the same thing" checks.

Shared by the extractor (merging a new card into a known one) and the retrieval
store (re-upserting the same preference overwrites instead of duplicating).
"""

from __future__ import annotations

import re
import uuid

_NAMESPACE = uuid.UUID("5b0e6c1e-1f7a-4c55-9a51-7d0d1f5a7c11")
_WORD = re.compile(r"[a-z0-9]+")
_STOPWORDS = frozenset("a an the i i'm me my to of for and or be is are when if in on with please".split())


def normalize(text: str) -> str:
    """Lower-case words only: 'Use bullet points!' and 'use bullet points' normalize alike."""
    return " ".join(_WORD.findall(text.lower()))


def unconditional(condition: str) -> bool:
    """Whether a card's condition holds for every request: "always", or none."""
    return normalize(condition) in ("", "always")


def card_id(user_id: str, condition: str, preference: str) -> str:
    """Stable id of a user's (condition, preference): the same statement always maps to one card."""
    return str(uuid.uuid5(_NAMESPACE, f"{user_id}\x1f{normalize(condition)}\x1f{normalize(preference)}"))


def _content_words(text: str) -> set[str]:
    return {w for w in normalize(text).split() if w not in _STOPWORDS}


def similarity(a_condition: str, a_preference: str, b_condition: str, b_preference: str) -> float:
    """Jaccard similarity of the content words of two cards (condition and preference together)."""
    a = _content_words(f"{a_condition} {a_preference}")
    b = _content_words(f"{b_condition} {b_preference}")
    if not a or not b:
        return 0.0
    return len(a & b) / len(a | b)


def grounding(preference: str, turn: str) -> float:
    """Share of the preference's content words that occur in the user's turn (prefix match for word forms)."""
    words = _content_words(preference)
    if not words:
        return 0.0
    said = _content_words(turn)
    hits = sum(1 for w in words if any(s.startswith(w[:5]) or w.startswith(s[:5]) for s in said if len(s) > 2))
    return hits / len(words)
