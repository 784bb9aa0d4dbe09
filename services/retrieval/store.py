"""Card stores: one interface over Qdrant's in-process engine and a Qdrant server.

``EdgeCardStore`` (the embedded default) runs Qdrant's Rust engine in this
process through ``qdrant-edge-py``: one shard folder on disk, a write-ahead log
that every update goes through before it returns (an acknowledged upsert
survives a SIGKILL; the WAL is replayed on load), a keyword payload index on
``user_id``. ``QdrantClientCardStore`` speaks to a Qdrant server or cluster
through ``qdrant-client`` (or to its local mode, ``":memory:"`` or a folder,
which tests use as a stand-in for the server protocol).

Both keep one collection whose identity includes the embedder id and the vector
dimension, recorded when the collection is created and checked on every open:
a collection built by another embedder fails at open with a message saying so.

A point holds four vectors (layout 3): the whole card's embedding (the unnamed
vector, which the policy's item vectors come from), its ``condition``'s and its
``preference``'s embeddings, and ``keywords``, a BM25 sparse vector of its text.
A plain search ranks by the whole card; a hybrid search fuses the condition,
preference and keyword rankings with weighted reciprocal-rank fusion inside the
engine (``HybridQuery``). The keywords' IDF is the user's own: the query's words
are weighted by how many of *the user's* cards hold them (``user_idf``), not by
the engine's collection-wide IDF (layout 2), which made one user's ranking depend
on other users' cards and on cards deleted since. An edge shard of layout 1 or 2
is rebuilt in layout 3 when it is opened, its old folder kept beside it (the
service then fills in the vectors layout 1 lacks); a server collection of layout
2 has its keywords' IDF modifier switched off in place, and its metadata says
layout 3.
Every read and delete is filtered by ``user_id`` inside the engine, and point ids
are derived from (user_id, card_id), so one user's cards never come back for,
or are overwritten by, another user.
"""

from __future__ import annotations

import json
import math
import shutil
import uuid
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from attune.services.common.errors import FailedPrecondition, InvalidArgument
from attune.services.common.files import atomic_write_json
from attune.services.common.logging import get_logger

log = get_logger(__name__)

# Namespace of the point ids (fixed forever: stored ids depend on it).
POINT_NAMESPACE = uuid.UUID("0c7d9a3e-2b4f-5e18-8d61-3a9f4b2e7c05")
IDENTITY_FILE = "attune_collection.json"
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
class Sparse:
    """A sparse vector: token ids and their weights."""

    indices: list[int]
    values: list[float]


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


def _identity(embedder_id: str, dim: int, collection: str) -> dict:
    return {"collection": collection, "embedder_id": embedder_id, "dim": int(dim), "distance": "cosine",
            "layout": LAYOUT}


def _mismatch(where: str, found: dict, embedder_id: str, dim: int) -> StoreError:
    return StoreError(
        f"collection {where} was built with embedder {found.get('embedder_id')!r} (dim {found.get('dim')}); "
        f"this service embeds with {embedder_id!r} (dim {dim}). Vectors of two embedders cannot be mixed: set "
        "ATTUNE_RETRIEVAL_COLLECTION to another name, or the embedder that built it "
        "(ATTUNE_RETRIEVAL_EMBEDDER_PATH), or re-index the cards")


def _check_identity(where: str, found: dict, embedder_id: str, dim: int) -> None:
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


# ---- qdrant-edge ----------------------------------------------------------


class EdgeCardStore(CardStore):
    """Qdrant's engine in process (qdrant-edge-py): one shard folder per collection.

    Durability: every ``update`` is written to the shard's write-ahead log before
    it returns, and the log is replayed on load, so an acknowledged write survives
    the process being killed; ``close`` flushes the segments as well.

    Indexing follows Qdrant's multitenancy layout: a tenant keyword index on
    ``user_id`` and per-tenant HNSW graphs (``payload_m``) instead of one global
    graph (``m=0``), since every search is filtered to one user. A user with fewer
    cards than ``full_scan_threshold`` is searched exactly through the payload index.
    """

    backend = "edge"

    def __init__(self, path: str | Path, embedder_id: str, dim: int, collection: str = "attune_cards", *,
                 max_search_threads: int | None = None):
        super().__init__(embedder_id, dim, collection)
        import qdrant_edge as qe

        self._qe = qe
        self.path = Path(path) / collection
        identity_path = self.path / IDENTITY_FILE
        wanted = _identity(embedder_id, dim, collection)
        where = f"{collection!r} at {self.path}"
        dense = qe.EdgeVectorParams(size=self.dim, distance=qe.Distance.Cosine)
        config = qe.EdgeConfig(
            vectors={"": dense, CONDITION: dense, PREFERENCE: dense},
            sparse_vectors={KEYWORDS: qe.EdgeSparseVectorParams()},
            hnsw_config=qe.HnswIndexConfig(m=0, ef_construct=100, full_scan_threshold=10_000, payload_m=16),
            max_search_threads=max_search_threads,
        )
        exists = (self.path / "edge_config.json").is_file()
        if exists:
            found = self._read_identity(identity_path) or self._identity_from_config(where)
            _check_identity(where, found, embedder_id, self.dim)
            layout = self._layout(where)
            if layout < LAYOUT:
                self._upgrade(config, identity_path, wanted, where, layout)
        try:
            if exists:
                # A config given on load is checked against the segments, then saved.
                self.shard = qe.EdgeShard.load(str(self.path), config if max_search_threads else None)
            else:
                self.path.mkdir(parents=True, exist_ok=True)
                self.shard = qe.EdgeShard.create(str(self.path), config)
        except Exception as err:  # noqa: BLE001 - the engine raises plain Exception
            if "WouldBlock" in str(err):
                raise StoreError(f"the shard {where} is already open in another process (one process owns a "
                                 "shard folder; set ATTUNE_RETRIEVAL_PATH to another folder)") from None
            raise StoreError(f"cannot open the shard {where}: {err}") from None
        if exists:
            self._verify(where)
        if USER_FIELD not in self.shard.info().payload_schema:
            self.shard.update(qe.UpdateOperation.create_field_index(USER_FIELD, qe.KeywordIndexParams(is_tenant=True)))
        if not identity_path.is_file():
            atomic_write_json(identity_path, wanted)

    def _verify(self, where: str) -> None:
        """Read every point's payload once: a damaged shard is refused at start, not served from (the engine
        itself notices damaged payload pages only when a search reaches them)."""
        offset = None
        try:
            while True:
                _, offset = self.shard.scroll(self._qe.ScrollRequest(offset=offset, limit=4096, with_payload=True,
                                                                     with_vector=False))
                if offset is None:
                    return
        except Exception as err:  # noqa: BLE001 - the engine raises plain Exception
            shard, self.shard = self.shard, None
            shard.close()
            raise StoreError(f"the shard {where} is damaged ({err}); it is not served from. Restore it from a "
                             "backup, or move it away to start with no cards") from None

    @staticmethod
    def _read_identity(path: Path) -> dict | None:
        try:
            return json.loads(path.read_text())
        except FileNotFoundError:
            return None

    def _engine_config(self, where: str) -> dict:
        try:
            return json.loads((self.path / "edge_config.json").read_text())
        except (OSError, ValueError) as err:
            raise StoreError(f"the shard {where} has no readable config ({err})") from None

    def _identity_from_config(self, where: str) -> dict:
        """A shard not created by attune: its dimension is in the engine's own config."""
        try:
            return {"dim": self._engine_config(where)["vectors"][""]["size"], "embedder_id": ""}
        except KeyError as err:
            raise StoreError(f"the shard {where} has no readable identity ({err})") from None

    def _layout(self, where: str) -> int:
        """1: one vector a point; 2: named vectors, keywords weighted by the engine's IDF; 3: this layout."""
        config = self._engine_config(where)
        if CONDITION not in config["vectors"]:
            return 1
        return 2 if config.get("sparse_vectors", {}).get(KEYWORDS, {}).get("modifier") == "idf" else 3

    def _upgrade(self, config, identity_path: Path, identity: dict, where: str, layout: int) -> None:
        """Rebuild a shard of an older layout in this one: the points copied with their vectors and payloads
        into a new folder, which then takes the old one's place; the old one is kept as
        ``<collection>.layout<n>``. The vectors layout 1 lacks (condition, preference, keywords) are the
        service's to fill in; layout 2's keywords are the same numbers, only searched without the engine's IDF."""
        qe = self._qe
        staging, backup = self.path.with_name(self.path.name + ".upgrading"), self.path.with_name(
            f"{self.path.name}.layout{layout}")
        if backup.exists():
            raise StoreError(f"cannot upgrade the shard {where}: {backup} is in the way; move it")
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        try:
            old = qe.EdgeShard.load(str(self.path))
        except Exception as err:  # noqa: BLE001 - the engine raises plain Exception
            raise StoreError(f"cannot open the shard {where} to upgrade it: {err}") from None
        new, offset = qe.EdgeShard.create(str(staging), config), None
        try:
            while True:
                records, offset = old.scroll(qe.ScrollRequest(offset=offset, limit=1024, with_payload=True,
                                                              with_vector=True))
                if records:
                    new.update(qe.UpdateOperation.upsert_points([
                        qe.Point(r.id, r.vector if isinstance(r.vector, dict) else {"": r.vector}, r.payload)
                        for r in records]))
                if offset is None:
                    break
            new.flush()
        finally:
            new.close()
            old.close()
        atomic_write_json(staging / IDENTITY_FILE, identity)
        self.path.rename(backup)
        staging.rename(self.path)
        log.info("retrieval_shard_upgraded", shard=str(self.path), kept=str(backup), layout=LAYOUT)

    def describe(self) -> str:
        return f"edge:{self.path}"

    def _user_filter(self, user_id: str, point_ids: Sequence[str] | None = None):
        qe = self._qe
        must = [qe.FieldCondition(USER_FIELD, match=qe.MatchValue(user_id))]
        if point_ids is not None:
            must.append(qe.HasIdCondition({uuid.UUID(p) for p in point_ids}))
        return qe.Filter(must=must)

    def upsert(self, points: Sequence[CardPoint]) -> None:
        if not points:
            return
        qe = self._qe
        batch = [qe.Point(uuid.UUID(point_id_for(p.user_id, p.card_id)), self._engine_vectors(v), self._payload(p))
                 for p, v in zip(points, self._vectors(points), strict=True)]
        # One operation: one WAL record, applied whole.
        self.shard.update(qe.UpdateOperation.upsert_points(batch))

    def _engine_vectors(self, vectors: dict) -> dict:
        return {name: self._qe.SparseVector(v.indices, v.values) if isinstance(v, Sparse) else v
                for name, v in vectors.items()}

    def get(self, user_id: str, card_ids: Sequence[str], with_vectors: bool = False) -> list[StoredCard]:
        if not card_ids:
            return []
        ids = [uuid.UUID(point_id_for(user_id, c)) for c in card_ids]
        records = self.shard.retrieve(ids, with_payload=True, with_vector=with_vectors)
        return [self._card(r.payload, r.vector if with_vectors else None) for r in records
                if r.payload and r.payload.get(USER_FIELD) == user_id]

    def search(self, user_id: str, vector: np.ndarray, k: int, hybrid: HybridQuery | None = None) -> list[StoredCard]:
        qe = self._qe
        query, only = self._query(vector), self._user_filter(user_id)
        if hybrid is None:
            request = qe.QueryRequest(limit=k, query=qe.Query.Nearest(query), filter=only, with_payload=True,
                                      with_vector=True)
        else:
            keywords = self.user_keywords(user_id, hybrid.keywords)
            sparse = qe.SparseVector(keywords.indices, keywords.values)
            rankings = [qe.Query.Nearest(query, using=CONDITION), qe.Query.Nearest(query, using=PREFERENCE),
                        qe.Query.Nearest(sparse, using=KEYWORDS)]
            request = qe.QueryRequest(
                limit=k, filter=only, with_payload=True, with_vector=True,
                prefetches=[qe.Prefetch(limit=hybrid.depth, query=q, filter=only) for q in rankings],
                query=qe.Fusion.Rrf(k=hybrid.rrf_k, weights=list(hybrid.weights)))
        return [self._card(h.payload, h.vector, h.score) for h in self.shard.query(request)]

    def missing_named(self, limit: int) -> list[StoredCard]:
        qe = self._qe
        records, _ = self.shard.scroll(qe.ScrollRequest(
            limit=limit, filter=qe.Filter(must_not=[qe.HasVectorCondition(CONDITION)]), with_payload=True,
            with_vector=False))
        return [self._card(r.payload, None) for r in records]

    def _keyword_ids(self, user_id: str) -> list[list[int]]:
        qe = self._qe
        out, offset = [], None
        while True:
            records, offset = self.shard.scroll(qe.ScrollRequest(offset=offset, limit=256,
                                                                 filter=self._user_filter(user_id),
                                                                 with_payload=False, with_vector=[KEYWORDS]))
            out += [list(r.vector[KEYWORDS].indices) for r in records if KEYWORDS in (r.vector or {})]
            if offset is None:
                return out

    def list(self, user_id: str, with_vectors: bool = False) -> list[StoredCard]:
        qe = self._qe
        out, offset = [], None
        while True:
            records, offset = self.shard.scroll(qe.ScrollRequest(offset=offset, limit=256,
                                                                 filter=self._user_filter(user_id),
                                                                 with_payload=True, with_vector=with_vectors))
            out += [self._card(r.payload, r.vector if with_vectors else None) for r in records]
            if offset is None:
                return self._sorted(out)

    def count(self, user_id: str | None = None) -> int:
        qe = self._qe
        flt = self._user_filter(user_id) if user_id is not None else None
        return self.shard.count(qe.CountRequest(exact=True, filter=flt))

    def _delete_filtered(self, user_id: str, point_ids: Sequence[str] | None) -> None:
        self.shard.update(self._qe.UpdateOperation.delete_points_by_filter(self._user_filter(user_id, point_ids)))

    def optimize(self) -> bool:
        """Merge and index segments now (the edge engine has no background optimizer)."""
        return self.shard.optimize()

    def close(self) -> None:
        shard, self.shard = getattr(self, "shard", None), None
        if shard is not None:
            shard.flush()
            shard.close()


# ---- qdrant-client --------------------------------------------------------


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
                    metadata=_identity(embedder_id, dim, collection))
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
        _check_identity(where, {"dim": vectors[CARD].size, "embedder_id": found.get("embedder_id", "")},
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


def open_store(settings, embedder_id: str, dim: int, data_dir: Path, qdrant_url: str = "",
               qdrant_api_key: str = "") -> CardStore:
    """The store the settings name: ``edge`` in the shard folder, or ``qdrant`` at ATTUNE_QDRANT_URL."""
    if settings.backend == "edge":
        path = settings.path or Path(data_dir) / "retrieval"
        return EdgeCardStore(path, embedder_id, dim, settings.collection,
                             max_search_threads=settings.search_threads or None)
    if not qdrant_url:
        raise StoreError("ATTUNE_RETRIEVAL_BACKEND=qdrant needs ATTUNE_QDRANT_URL (a server URL such as "
                         "http://qdrant:6333, or ':memory:' for a throwaway in-process store)")
    return QdrantClientCardStore(qdrant_url, embedder_id, dim, settings.collection, api_key=qdrant_api_key)
