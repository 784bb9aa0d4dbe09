"""The card store of a Qdrant server or cluster (``QdrantClientCardStore``), through ``qdrant-client``.

It speaks to a server, or to qdrant-client's local mode (``":memory:"`` or a folder),
which tests use as a stand-in for the server protocol. A server collection of
layout 2 has its keywords' IDF modifier switched off in place, and its metadata
then says layout 3; one of layout 1 is refused at open.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from attune.services.common.logging import get_logger
from attune.services.retrieval.cardstore import (
    CARD,
    CONDITION,
    KEYWORDS,
    LAYOUT,
    PREFERENCE,
    USER_FIELD,
    CardPoint,
    CardStore,
    StoredCard,
    StoreError,
    check_identity,
    collection_identity,
    point_id_for,
)
from attune.services.retrieval.search import HybridQuery, Sparse

log = get_logger(__name__)


class QdrantClientCardStore(CardStore):
    """A Qdrant server or cluster through qdrant-client; ``location`` ``":memory:"`` or a folder: local mode.

    Local mode is qdrant-client's pure-Python engine: fine for tests, too slow for
    real sizes (see bench/bench_retrieval.py). It has no payload indexes; against
    a server the ``user_id`` keyword index is created with the collection.
    """

    backend = "qdrant"

    def __init__(self, location: str, embedder_id: str, dim: int, collection: str = "attune_cards", *,
                 api_key: str = "", timeout_s: int = 30):
        super().__init__(embedder_id, dim, collection)
        from qdrant_client import QdrantClient, models

        self._m = models
        self.location = location
        if location == ":memory:":
            self.client, self.local = QdrantClient(location=":memory:"), True
        elif "://" in location:
            self.client = QdrantClient(url=location, api_key=api_key or None, timeout=timeout_s)
            self.local = False
            self.blocking = True
        else:
            Path(location).mkdir(parents=True, exist_ok=True)
            self.client, self.local = QdrantClient(path=location), True
        where = f"{collection!r} at {self._where()}"
        try:
            if self.client.collection_exists(collection):
                self._check_collection(where, embedder_id)
            else:
                dense = models.VectorParams(size=self.dim, distance=models.Distance.COSINE)
                self.client.create_collection(
                    collection, vectors_config={CARD: dense, CONDITION: dense, PREFERENCE: dense},
                    sparse_vectors_config={KEYWORDS: models.SparseVectorParams()},
                    hnsw_config=models.HnswConfigDiff(m=0, payload_m=16),
                    metadata=collection_identity(embedder_id, dim, collection))
            if not self.local:
                # The local mode has no payload indexes; a server gets the tenant index.
                self.client.create_payload_index(
                    collection, USER_FIELD, models.KeywordIndexParams(type="keyword", is_tenant=True), wait=True)
        except StoreError:
            raise
        except Exception as err:  # noqa: BLE001 - connection and server errors
            raise StoreError(f"cannot open the Qdrant collection {where}: {err}") from None

    def _check_collection(self, where: str, embedder_id: str) -> None:
        """Same embedder and dimension, and layout 2 or 3: a server collection cannot gain named vectors in place;
        a layout-2 one has the engine's IDF switched off on its keywords (the service weights them per user)."""
        info = self.client.get_collection(self.collection)
        vectors = info.config.params.vectors
        if not isinstance(vectors, dict) or CONDITION not in vectors:
            raise StoreError(f"collection {where} holds one vector a card (layout 1); this service needs layout "
                             f"{LAYOUT} (the card's, its condition's and its preference's vectors and keywords). Set "
                             "ATTUNE_RETRIEVAL_COLLECTION to a new name and upsert the cards again (ListCards on "
                             "the old collection gives them back)")
        found = dict(info.config.metadata or {})
        check_identity(where, {"dim": vectors[CARD].size, "embedder_id": found.get("embedder_id", "")},
                        embedder_id, self.dim)
        keywords = (info.config.params.sparse_vectors or {}).get(KEYWORDS)
        if keywords is not None and keywords.modifier == self._m.Modifier.IDF:
            self.client.update_collection(self.collection, sparse_vectors_config={
                KEYWORDS: self._m.SparseVectorParams(modifier=self._m.Modifier.NONE)},
                metadata={**found, "layout": LAYOUT})
            log.info("retrieval_collection_upgraded", collection=self.collection, layout=LAYOUT)

    def _where(self) -> str:
        return self.location if self.location != ":memory:" else "qdrant-client :memory:"

    def describe(self) -> str:
        return f"qdrant:{self._where()}/{self.collection}"

    def _user_filter(self, user_id: str, point_ids: Sequence[str] | None = None):
        m = self._m
        must = [m.FieldCondition(key=USER_FIELD, match=m.MatchValue(value=user_id))]
        if point_ids is not None:
            must.append(m.HasIdCondition(has_id=list(point_ids)))
        return m.Filter(must=must)

    def upsert(self, points: Sequence[CardPoint]) -> None:
        if not points:
            return
        m = self._m
        batch = [m.PointStruct(id=point_id_for(p.user_id, p.card_id), vector=self._named(v), payload=self._payload(p))
                 for p, v in zip(points, self._vectors(points), strict=True)]
        self.client.upsert(self.collection, points=batch, wait=True)

    def _named(self, vectors: dict) -> dict:
        return {name or CARD: self._m.SparseVector(indices=v.indices, values=v.values) if isinstance(v, Sparse) else v
                for name, v in vectors.items()}

    def get(self, user_id: str, card_ids: Sequence[str], with_vectors: bool = False) -> list[StoredCard]:
        if not card_ids:
            return []
        records = self.client.retrieve(self.collection, [point_id_for(user_id, c) for c in card_ids],
                                       with_payload=True, with_vectors=with_vectors)
        return [self._card(r.payload, r.vector if with_vectors else None) for r in records
                if r.payload and r.payload.get(USER_FIELD) == user_id]

    def search(self, user_id: str, vector: np.ndarray, k: int, hybrid: HybridQuery | None = None) -> list[StoredCard]:
        m, query, only = self._m, self._query(vector), self._user_filter(user_id)
        if hybrid is None:
            hits = self.client.query_points(self.collection, query=query, using=CARD, query_filter=only, limit=k,
                                            with_payload=True, with_vectors=True).points
        else:
            keywords = self.user_keywords(user_id, hybrid.keywords)
            sparse = m.SparseVector(indices=keywords.indices, values=keywords.values)
            prefetch = [m.Prefetch(query=q, using=name, filter=only, limit=hybrid.depth)
                        for name, q in ((CONDITION, query), (PREFERENCE, query), (KEYWORDS, sparse))]
            hits = self.client.query_points(
                self.collection, prefetch=prefetch, query_filter=only, limit=k, with_payload=True, with_vectors=True,
                query=m.RrfQuery(rrf=m.Rrf(k=hybrid.rrf_k, weights=list(hybrid.weights)))).points
        return [self._card(h.payload, h.vector, h.score) for h in hits]

    def missing_named(self, limit: int) -> list[StoredCard]:
        """Nothing: a server collection is refused at open if it is of layout 1; in the later layouts every card
        that the service wrote has all its vectors."""
        return []

    def _keyword_ids(self, user_id: str) -> list[list[int]]:
        out, offset = [], None
        while True:
            records, offset = self.client.scroll(self.collection, scroll_filter=self._user_filter(user_id),
                                                 limit=256, offset=offset, with_payload=False,
                                                 with_vectors=[KEYWORDS])
            out += [list(r.vector[KEYWORDS].indices) for r in records if KEYWORDS in (r.vector or {})]
            if offset is None:
                return out

    def list(self, user_id: str, with_vectors: bool = False) -> list[StoredCard]:
        out, offset = [], None
        while True:
            records, offset = self.client.scroll(self.collection, scroll_filter=self._user_filter(user_id),
                                                 limit=256, offset=offset, with_payload=True,
                                                 with_vectors=with_vectors)
            out += [self._card(r.payload, r.vector if with_vectors else None) for r in records]
            if offset is None:
                return self._sorted(out)

    def count(self, user_id: str | None = None) -> int:
        flt = self._user_filter(user_id) if user_id is not None else None
        return self.client.count(self.collection, count_filter=flt, exact=True).count

    def _delete_filtered(self, user_id: str, point_ids: Sequence[str] | None) -> None:
        selector = self._m.FilterSelector(filter=self._user_filter(user_id, point_ids))
        self.client.delete(self.collection, points_selector=selector, wait=True)

    def close(self) -> None:
        self.client.close()

