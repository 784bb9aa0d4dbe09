"""The embedded card store (``EdgeCardStore``) and its persistence, and ``open_store``, which opens the
store the settings name.

``EdgeCardStore`` (the embedded default) runs Qdrant's Rust engine in this
process through ``qdrant-edge-py``: one shard folder on disk, a write-ahead log
that every update goes through before it returns (an acknowledged upsert
survives a SIGKILL; the WAL is replayed on load), a keyword payload index on
``user_id``. Its collection's identity is kept in a file of the shard folder.
An edge shard of layout 1 or 2 is rebuilt in layout 3 when it is opened, its old
folder kept beside it (the service then fills in the vectors layout 1 lacks).
The other backend, a Qdrant server, is ``QdrantClientCardStore`` (qdrant_store.py).
"""

from __future__ import annotations

import json
import shutil
import uuid
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from attune.services.common.files import atomic_write_json
from attune.services.common.logging import get_logger
from attune.services.retrieval.cardstore import (
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
from attune.services.retrieval.qdrant_store import QdrantClientCardStore
from attune.services.retrieval.search import HybridQuery, Sparse

log = get_logger(__name__)

# The shard folder's record of the collection's identity.
IDENTITY_FILE = "attune_collection.json"


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
        wanted = collection_identity(embedder_id, dim, collection)
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
            check_identity(where, found, embedder_id, self.dim)
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
