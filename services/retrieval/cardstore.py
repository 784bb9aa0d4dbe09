"""The CardStore interface that both card stores implement, and what passes through it.

The embedded default (``EdgeCardStore``, store.py) and a Qdrant server (``QdrantClientCardStore``,
qdrant_store.py) keep one collection whose identity includes the embedder id and the vector dimension,
recorded when the collection is created and checked on every open: a collection built by another embedder
fails at open with a message saying so.

A point holds four vectors (layout 3): the whole card's embedding (the unnamed vector, which the policy's
item vectors come from), its ``condition``'s and its ``preference``'s embeddings, and ``keywords``, a BM25
sparse vector of its text (search.py: how a hybrid search ranks by them). Every read and delete is filtered
by ``user_id`` inside the engine, and point ids are derived from (user_id, card_id), so one user's cards
never come back for, or are overwritten by, another user.
"""

from __future__ import annotations

import uuid
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from attune.services.common.errors import FailedPrecondition, InvalidArgument
from attune.services.retrieval.search import HybridQuery, Sparse, user_idf

# Namespace of the point ids (fixed forever: stored ids depend on it).
POINT_NAMESPACE = uuid.UUID("0c7d9a3e-2b4f-5e18-8d61-3a9f4b2e7c05")
USER_FIELD = "user_id"
LAYOUT = 3
# The whole card's vector is the edge shard's unnamed one (as in layout 1) and the server collection's "card".
CARD, CONDITION, PREFERENCE, KEYWORDS = "card", "condition", "preference", "keywords"


class StoreError(FailedPrecondition):
    """The store cannot be opened as configured (identity mismatch, locked folder, ...)."""


def point_id_for(user_id: str, card_id: str) -> str:
    """The engine's point id: scoped by user, so no user can address another user's card."""
    return str(uuid.uuid5(POINT_NAMESPACE, f"{user_id}\x1f{card_id}"))


@dataclass(frozen=True)
class CardPoint:
    """One card to store: the whole card's vector, its whole card as a JSON-able payload, and (layouts 2, 3) the
    condition's and preference's vectors and the keywords' sparse vector, which hybrid search ranks by."""

    user_id: str
    card_id: str
    vector: np.ndarray
    payload: dict
    condition: np.ndarray | None = None
    preference: np.ndarray | None = None
    keywords: Sparse | None = None


@dataclass
class StoredCard:
    """A card read back; ``score`` is the cosine similarity for a plain search, the fused score for a hybrid
    one, else 0. ``named`` holds the condition's and preference's vectors when they were asked for."""

    user_id: str
    card_id: str
    payload: dict
    vector: np.ndarray | None = None
    score: float = 0.0
    named: dict[str, np.ndarray] = field(default_factory=dict)


def collection_identity(embedder_id: str, dim: int, collection: str) -> dict:
    """What a collection records of itself when it is created."""
    return {"collection": collection, "embedder_id": embedder_id, "dim": int(dim), "distance": "cosine",
            "layout": LAYOUT}


def _mismatch(where: str, found: dict, embedder_id: str, dim: int) -> StoreError:
    return StoreError(
        f"collection {where} was built with embedder {found.get('embedder_id')!r} (dim {found.get('dim')}); "
        f"this service embeds with {embedder_id!r} (dim {dim}). Vectors of two embedders cannot be mixed: set "
        "ATTUNE_RETRIEVAL_COLLECTION to another name, or the embedder that built it "
        "(ATTUNE_RETRIEVAL_EMBEDDER_PATH), or re-index the cards")


def check_identity(where: str, found: dict, embedder_id: str, dim: int) -> None:
    """StoreError unless the collection ``found`` was built by this embedder, at this dimension."""
    if int(found.get("dim", -1)) != dim or (found.get("embedder_id") and found["embedder_id"] != embedder_id):
        raise _mismatch(where, found, embedder_id, dim)


class CardStore(ABC):
    """A per-user card collection with dense search. All calls are synchronous.

    ``blocking`` tells the service whether calls may wait on the network (then it
    runs them in a worker thread) or are fast in-process calls.
    """

    blocking = False
    backend = ""

    def __init__(self, embedder_id: str, dim: int, collection: str):
        self.embedder_id = embedder_id
        self.dim = int(dim)
        self.collection = collection

    # ---- the interface ----------------------------------------------------

    @abstractmethod
    def upsert(self, points: Sequence[CardPoint]) -> None:
        """Insert or replace cards, all or none (vectors are checked before anything is written)."""

    @abstractmethod
    def get(self, user_id: str, card_ids: Sequence[str], with_vectors: bool = False) -> list[StoredCard]:
        """The user's stored cards among ``card_ids`` (missing ones are left out)."""

    @abstractmethod
    def search(self, user_id: str, vector: np.ndarray, k: int, hybrid: HybridQuery | None = None) -> list[StoredCard]:
        """The user's ``k`` cards nearest to ``vector`` (the whole card's), best first, with their vectors; with
        ``hybrid``, the ``k`` best by the fused ranking of condition, preference and keywords instead."""

    @abstractmethod
    def _keyword_ids(self, user_id: str) -> list[list[int]]:
        """The token ids of each of the user's cards' keywords."""

    def user_keywords(self, user_id: str, query: Sparse) -> Sparse:
        """``query``'s words weighted by their IDF among the user's own cards (``user_idf``)."""
        cards = self._keyword_ids(user_id)
        return user_idf(query, len(cards), Counter(i for ids in cards for i in set(ids)))

    @abstractmethod
    def missing_named(self, limit: int) -> list[StoredCard]:
        """Up to ``limit`` cards, of any user, stored without their condition vector (written in layout 1)."""

    @abstractmethod
    def list(self, user_id: str, with_vectors: bool = False) -> list[StoredCard]:
        """All cards of the user, oldest first."""

    @abstractmethod
    def count(self, user_id: str | None = None) -> int:
        """Cards of the user, or of everyone."""

    @abstractmethod
    def _delete_filtered(self, user_id: str, point_ids: Sequence[str] | None) -> None: ...

    def delete_card(self, user_id: str, card_id: str) -> int:
        """Delete one card of the user; returns 1, or 0 when the user has no such card."""
        if not self.get(user_id, [card_id]):
            return 0
        self._delete_filtered(user_id, [point_id_for(user_id, card_id)])
        return 1

    def delete_user(self, user_id: str) -> int:
        """Delete every card of the user; returns how many there were."""
        n = self.count(user_id)
        if n:
            self._delete_filtered(user_id, None)
        return n

    @abstractmethod
    def close(self) -> None:
        """Release the store (flushing what the backend keeps in memory)."""

    def describe(self) -> str:
        return f"{self.backend}:{self.collection}"

    # ---- shared helpers ---------------------------------------------------

    def _vectors(self, points: Sequence[CardPoint]) -> list[dict]:
        """Checked vectors of ``points``, by name ("" for the whole card's; the sparse keywords as ``Sparse``):
        InvalidArgument before any write if one is wrong."""
        out = []
        for i, p in enumerate(points):
            if not p.user_id or not p.card_id:
                raise InvalidArgument(f"points[{i}]", "user_id and card_id must not be empty")
            named = {"": p.vector, CONDITION: p.condition, PREFERENCE: p.preference}
            vectors = {name: self._dense(f"points[{i}].{name or 'vector'}", v) for name, v in named.items()
                       if v is not None}
            if p.keywords is not None and p.keywords.indices:
                vectors[KEYWORDS] = p.keywords
            out.append(vectors)
        return out

    def _dense(self, field_name: str, vector) -> list[float]:
        v = np.asarray(vector, dtype=np.float32).reshape(-1)
        if v.shape[0] != self.dim:
            raise InvalidArgument(field_name, f"has dimension {v.shape[0]}; the collection {self.collection!r} "
                                  f"holds {self.dim} ({self.embedder_id})")
        if not np.isfinite(v).all() or not np.any(v):
            raise InvalidArgument(field_name, "must be finite and not all zero")
        return v.tolist()

    def _query(self, vector: np.ndarray) -> list[float]:
        query = np.asarray(vector, dtype=np.float32).reshape(-1)
        if query.shape[0] != self.dim:
            raise InvalidArgument("vector", f"has dimension {query.shape[0]}; the collection holds {self.dim}")
        return query.tolist()

    @staticmethod
    def _payload(point: CardPoint) -> dict:
        return {**point.payload, USER_FIELD: point.user_id, "card_id": point.card_id}

    @staticmethod
    def _sorted(cards: list[StoredCard]) -> list[StoredCard]:
        return sorted(cards, key=lambda c: (c.payload.get("created_at_ms", 0), c.card_id))

    def _card(self, payload: dict, vector, score: float = 0.0) -> StoredCard:
        """A stored card from the engine's payload and vector(s): a list (layout 1) or a dict by name."""
        vectors = vector if isinstance(vector, dict) else {"": vector} if vector is not None else {}
        dense = {name or CARD: np.asarray(v, dtype=np.float32) for name, v in vectors.items()
                 if name in ("", CARD, CONDITION, PREFERENCE) and v is not None}
        return StoredCard(payload[USER_FIELD], payload["card_id"], payload, dense.pop(CARD, None), float(score),
                          dense)

