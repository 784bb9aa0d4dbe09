"""What the retrieval benchmark (bench/bench_retrieval.py) stores and asks: a real 40-card profile, real
queries, and stores filled with users whose cards are random unit vectors (the bulk) or the profile embedded by
MiniLM."""

from __future__ import annotations

import time

import numpy as np
import qdrant_edge

from attune.services.common.cards import card_id
from attune.services.common.embeddings import Embedder
from attune.services.retrieval.cardstore import CardPoint
from attune.services.retrieval.core import card_payload
from attune.services.retrieval.rerank import card_text
from attune.services.retrieval.search import sparse
from attune.v1 import common_pb2

PROFILE = [
    ("writing Python code", "use type hints"), ("writing Python code", "keep functions under 20 lines"),
    ("writing JavaScript", "prefer async/await over callbacks"), ("reviewing code", "point out security issues first"),
    ("explaining a math proof", "show every step"), ("solving an equation", "check the answer by substitution"),
    ("explaining statistics", "use a concrete numeric example"), ("answering a physics question", "state the units"),
    ("answering a chemistry question", "balance the equations"), ("explaining biology", "use simple analogies"),
    ("solving a logic puzzle", "list the constraints before solving"), ("writing an essay", "use British spelling"),
    ("writing an email", "keep it under five sentences"), ("summarizing a text", "use bullet points"),
    ("translating text", "keep the original tone"), ("planning a trip", "prefer trains over flights"),
    ("booking a hotel", "choose quiet rooms"), ("cooking dinner", "suggest vegetarian recipes"),
    ("baking", "give weights in grams"), ("recommending books", "favour science fiction"),
    ("recommending music", "suggest jazz"), ("giving fitness advice", "prefer bodyweight exercises"),
    ("discussing health", "recommend seeing a doctor for symptoms"), ("budgeting", "use a spreadsheet layout"),
    ("investing questions", "mention the risks plainly"), ("learning a language", "give example sentences"),
    ("learning history", "include dates"), ("debugging an error", "ask for the full traceback"),
    ("writing SQL", "use explicit JOINs"), ("designing an API", "prefer REST with JSON"),
    ("writing documentation", "start with a short example"), ("giving feedback", "be direct but kind"),
    ("answering any question", "be concise"), ("explaining a concept", "start with an analogy"),
    ("writing a poem", "avoid rhymes"), ("naming things", "offer three options"),
    ("scheduling meetings", "avoid Fridays"), ("writing shell scripts", "use set -euo pipefail"),
    ("data visualisation", "use colour-blind safe palettes"), ("writing tests", "use pytest fixtures"),
]
QUERIES = [
    "Can you write a Python function that parses a CSV file?", "How do I prove that the square root of two is "
    "irrational?", "Plan a weekend trip from Paris to Amsterdam.", "What should I cook tonight with potatoes?",
    "Help me write an email asking my manager for a day off.", "Why does my JavaScript fetch call return a promise?",
    "Explain what a p-value is.", "Summarize the causes of the First World War.", "Fix this SQL query that joins "
    "orders and customers.", "What is the boiling point of water at high altitude?", "Review this login handler "
    "for problems.", "Recommend a novel for a long flight.", "How can I save more money each month?",
    "Translate 'good morning, how are you' into Spanish.", "Write a bash script that backs up my home folder.",
    "Design an endpoint that lists a user's orders.", "Which chart should I use for monthly sales?",
    "Write unit tests for a stack class.", "Give me a home workout for twenty minutes.", "Solve 3x + 7 = 22.",
]


def random_points(rng, users: range, cards: int, dim: int, prefix: str = "user") -> list[CardPoint]:
    """Cards with all four vectors: random unit vectors (whole, condition, preference) and the keywords of a real
    profile card, so that the hybrid search does the work it does on real cards."""
    bm25 = qdrant_edge.Bm25()
    keywords = [sparse(bm25.embed_document(f"When {c}: {p}")) for c, p in PROFILE]
    points = []
    for u in users:
        user_id = f"{prefix}-{u:05d}"
        vectors = rng.standard_normal((cards, 3, dim)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=2, keepdims=True)
        for j, (whole, condition_vector, preference_vector) in enumerate(vectors):
            condition, preference = PROFILE[j % len(PROFILE)]
            cid = card_id(user_id, condition, f"{preference} #{j}")
            points.append(CardPoint(user_id, cid, whole, card_payload(common_pb2.PreferenceCard(
                card_id=cid, user_id=user_id, condition=condition, preference=preference, confidence=0.8,
                conflict_group=condition.split()[0], created_at_ms=1_700_000_000_000 + j, session_id="s1")),
                condition=condition_vector, preference=preference_vector, keywords=keywords[j % len(PROFILE)]))
    return points


def fill(store, rng, users: int, cards: int, dim: int, batch_users: int = 100, prefix: str = "user") -> float:
    start = time.perf_counter()
    for first in range(0, users, batch_users):
        store.upsert(random_points(rng, range(first, min(users, first + batch_users)), cards, dim, prefix))
    return time.perf_counter() - start


def real_profile_points(embedder: Embedder, users: list[str]) -> list[CardPoint]:
    cards = [common_pb2.PreferenceCard(condition=c, preference=p, confidence=0.9) for c, p in PROFILE]
    vectors = embedder.embed([t for c in cards for t in (card_text(c), c.condition, c.preference)])
    vectors = vectors.reshape(len(cards), 3, -1)
    bm25 = qdrant_edge.Bm25()
    points = []
    for user_id in users:
        for card, (whole, condition, preference) in zip(cards, vectors, strict=True):
            stored = common_pb2.PreferenceCard()
            stored.CopyFrom(card)
            stored.user_id, stored.card_id = user_id, card_id(user_id, card.condition, card.preference)
            stored.created_at_ms = 1_700_000_000_000
            points.append(CardPoint(user_id, stored.card_id, whole, card_payload(stored), condition=condition,
                                    preference=preference, keywords=sparse(bm25.embed_document(card_text(card)))))
    return points
