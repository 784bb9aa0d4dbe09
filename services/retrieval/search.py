"""Search queries: the hybrid query and the keywords' per-user IDF.

A plain search ranks a user's cards by the whole card's embedding. A hybrid search ranks them three ways, by
the condition's and the preference's embeddings and by ``keywords``, a BM25 sparse vector of the card's text,
and fuses the three rankings with weighted reciprocal-rank fusion inside the engine; ``HybridQuery`` carries
the keywords, the fusion's weights and ``rrf_k``, and how deep each ranking looks. The keywords' IDF is the
user's own: the query's words are weighted by how many of *the user's* cards hold them (``user_idf``), not by
the engine's collection-wide IDF (layout 2), which made one user's ranking depend on other users' cards and
on cards deleted since.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass


@dataclass(frozen=True)
class Sparse:
    """A sparse vector: token ids and their weights."""

    indices: list[int]
    values: list[float]


def sparse(vector) -> Sparse:
    """A ``Sparse`` from the engine's sparse vector (what qdrant-edge's ``Bm25`` embeds)."""
    return Sparse(list(vector.indices), [float(v) for v in vector.values])


def user_idf(query: Sparse, cards: int, holding: Counter) -> Sparse:
    """BM25's IDF, as Qdrant computes it (ln(1 + (N - n + 0.5) / (n + 0.5))), over one user's ``cards`` of which
    ``holding[t]`` hold token ``t``, times the query's weight; tokens no card holds are left out."""
    kept = [(t, w) for t, w in zip(query.indices, query.values, strict=True) if holding[t]]
    return Sparse([t for t, _ in kept],
                  [w * math.log(1 + (cards - holding[t] + 0.5) / (holding[t] + 0.5)) for t, w in kept])


@dataclass(frozen=True)
class HybridQuery:
    """Rank by the condition, the preference and the keywords, fused by weighted reciprocal rank
    (score = sum of weight / (rrf_k + rank)); each ranking looks at ``depth`` cards of the user."""

    keywords: Sparse
    weights: tuple[float, float, float]
    rrf_k: int = 2
    depth: int = 50

