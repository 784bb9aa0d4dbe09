"""Scores of generated replies against the references, per example, per user and macro (the mean over users).

- ``rouge_l``: ROUGE-L F1 (rouge-score, stemmed);
- ``verbosity_error``: |words in the reply - the user's mean words per reference
  reply in train|, so a model that answers at the user's usual length scores 0;
- ``embedding_similarity``: cosine of the reply and the reference in MiniLM
  (the embedder the retrieval service uses);
- ``length_consistency``: min/max of the reply's and the reference's word counts (1: same length).
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from attune.services.common.embeddings import Embedder

METRICS = ("rouge_l", "verbosity_error", "embedding_similarity", "length_consistency")
# Lower is better only for the verbosity error.
LOWER_IS_BETTER = frozenset({"verbosity_error"})


def word_count(text: str) -> int:
    return len(text.split())


def score_replies(rows: list[dict], usual_length: dict[str, float], embedder: Embedder) -> list[dict]:
    """``rows`` hold user_id, reply and reference; returns them with the four scores added."""
    from rouge_score import rouge_scorer

    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)
    replies = embedder.embed([r["reply"] or " " for r in rows])
    references = embedder.embed([r["reference"] for r in rows])
    scored = []
    for row, a, b in zip(rows, replies, references, strict=True):
        out, ref = word_count(row["reply"]), word_count(row["reference"])
        scored.append({**row, "rouge_l": scorer.score(row["reference"], row["reply"])["rougeL"].fmeasure,
                       "verbosity_error": abs(out - usual_length[row["user_id"]]),
                       "embedding_similarity": float(np.dot(a, b)),
                       "length_consistency": min(out, ref) / max(out, ref) if max(out, ref) else 1.0})
    return scored


def per_user(scored: list[dict]) -> dict[str, dict[str, float]]:
    groups: dict[str, list[dict]] = defaultdict(list)
    for row in scored:
        groups[row["user_id"]].append(row)
    return {user: {m: float(np.mean([r[m] for r in rows])) for m in METRICS} for user, rows in sorted(groups.items())}


def macro(users: dict[str, dict[str, float]]) -> dict[str, float]:
    return {m: float(np.mean([u[m] for u in users.values()])) for m in METRICS} if users else {}
