"""Card stores, the same tests on each backend: Qdrant's engine in process (qdrant-edge) and
qdrant-client (local mode standing in for the server protocol), with real MiniLM vectors."""

from __future__ import annotations

import dataclasses
import json
import math
import uuid
from collections import Counter

import numpy as np
import pytest
import qdrant_edge

from attune.services.common.cards import card_id, normalize
from attune.services.common.errors import InvalidArgument
from attune.services.retrieval.cardstore import LAYOUT, CardPoint, StoreError, point_id_for
from attune.services.retrieval.search import HybridQuery, Sparse, user_idf
from attune.services.retrieval.store import EdgeCardStore
from tests.fixtures.retrieval import STORE_BACKENDS, open_test_store

CARDS = {
    "ada": [("writing Python code", "use type hints and short functions"),
            ("explaining mathematics", "show every step of the derivation"),
            ("planning a trip", "prefer trains over flights")],
    "bob": [("writing Python code", "use type hints and short functions"),
            ("cooking dinner", "vegetarian recipes only")],
}


def points(embedder, user_id: str, cards=None) -> list[CardPoint]:
    cards = cards or CARDS[user_id]
    vectors = embedder.embed([f"When {c}: {p}" for c, p in cards])
    out = []
    for (condition, preference), vector in zip(cards, vectors, strict=True):
        cid = card_id(user_id, condition, preference)
        out.append(CardPoint(user_id, cid, vector, {"user_id": user_id, "card_id": cid, "condition": condition,
                                                    "preference": preference, "created_at_ms": 1000}))
    return out


@pytest.fixture(params=STORE_BACKENDS)
def store(request, tmp_path, embedder):
    store = open_test_store(request.param, tmp_path, embedder.id, embedder.dim)
    yield store
    store.close()


def test_upsert_search_list_delete(store, embedder):
    store.upsert(points(embedder, "ada"))
    assert store.count("ada") == 3
    hits = store.search("ada", embedder.embed_one("How do I write a Python function?"), 2)
    assert [h.payload["preference"] for h in hits][0] == "use type hints and short functions"
    assert len(hits) == 2 and hits[0].score >= hits[1].score
    assert hits[0].vector.shape == (embedder.dim,)
    assert np.linalg.norm(hits[0].vector) == pytest.approx(1.0, abs=1e-4)
    listed = store.list("ada")
    assert {c.payload["condition"] for c in listed} == {c for c, _ in CARDS["ada"]}
    first = listed[0].card_id
    assert store.delete_card("ada", first) == 1
    assert store.delete_card("ada", first) == 0
    assert store.count("ada") == 2
    assert store.delete_user("ada") == 2
    assert store.count("ada") == 0 and store.list("ada") == []


def test_one_users_cards_never_come_back_for_another(store, embedder):
    store.upsert(points(embedder, "ada") + points(embedder, "bob"))
    # bob holds the very same card text as ada: the same vector, still two separate cards.
    query = embedder.embed_one("Write a Python function with type hints")
    for user, n in (("ada", 3), ("bob", 2)):
        hits = store.search(user, query, 10)
        assert len(hits) == n and {h.user_id for h in hits} == {user}
        assert {c.user_id for c in store.list(user)} == {user}
    assert store.search("carol", query, 10) == [] and store.list("carol") == []
    ada_card = points(embedder, "ada")[0].card_id
    bob_card = points(embedder, "bob")[0].card_id
    assert ada_card != bob_card, "card ids are per user"
    assert store.get("bob", [ada_card]) == []
    assert store.delete_card("bob", ada_card) == 0, "no user can delete another user's card"
    assert store.delete_user("bob") == 2
    assert store.count("ada") == 3


def test_the_same_preference_merges_instead_of_duplicating(store, embedder):
    assert card_id("ada", " Writing  Python code", "Use type hints and short functions.") == \
        card_id("ada", "writing python code", "use type hints and short functions")
    assert normalize("  Prefer   TRAINS. ") == "prefer trains"
    assert card_id("ada", "coding", "be brief") != card_id("bob", "coding", "be brief")
    store.upsert(points(embedder, "ada"))
    again = points(embedder, "ada", [(" Writing  Python code", "Use type hints and short functions.")])
    store.upsert(again)
    assert store.count("ada") == 3
    (merged,) = store.get("ada", [again[0].card_id])
    assert merged.payload["condition"] == " Writing  Python code", "the later upsert replaced the payload"


def test_a_vector_of_the_wrong_dimension_changes_nothing(store, embedder):
    good = points(embedder, "ada")
    bad = CardPoint("ada", "bad", np.ones(embedder.dim + 1, np.float32), {"user_id": "ada", "card_id": "bad"})
    with pytest.raises(InvalidArgument, match="dimension 385") as err:
        store.upsert([*good, bad])
    assert err.value.field == "points[3].vector"
    assert store.count() == 0
    with pytest.raises(InvalidArgument, match="dimension"):
        store.search("ada", np.ones(8, np.float32), 3)


@pytest.mark.parametrize("backend", STORE_BACKENDS)
def test_a_collection_of_another_embedder_fails_at_open(backend, tmp_path, embedder):
    store = open_test_store(backend, tmp_path, embedder.id, embedder.dim)
    store.upsert(points(embedder, "ada"))
    store.close()
    with pytest.raises(StoreError, match=r"built with embedder 'sentence-transformers/all-MiniLM-L6-v2' \(dim 384\)"
                       r".*'local/e5' \(dim 768\)"):
        open_test_store(backend, tmp_path, "local/e5", 768)
    with pytest.raises(StoreError, match="'other/model' \\(dim 384\\)"):
        open_test_store(backend, tmp_path, "other/model", embedder.dim)
    reopened = open_test_store(backend, tmp_path, embedder.id, embedder.dim)
    try:
        assert reopened.count("ada") == 3, "reopening with the right embedder keeps the cards"
    finally:
        reopened.close()


def test_an_edge_shard_has_one_owner(tmp_path, embedder):
    store = EdgeCardStore(tmp_path, embedder.id, embedder.dim, "cards")
    try:
        with pytest.raises(StoreError, match="already open in another process"):
            EdgeCardStore(tmp_path, embedder.id, embedder.dim, "cards")
    finally:
        store.close()


RIVALS = [("when I ask to compare things", "put the comparison in a markdown table"),
          ("when I ask for step-by-step instructions", "use a numbered list with one action per step")]


def full_points(embedder, user_id: str, cards) -> list[CardPoint]:
    """Cards with all four vectors, as the service stores them."""
    bm25 = qdrant_edge.Bm25()
    out = []
    for point, (condition, preference) in zip(points(embedder, user_id, cards), cards, strict=True):
        cond, pref = embedder.embed([condition, preference])
        words = bm25.embed_document(f"When {condition}: {preference}")
        out.append(dataclasses.replace(point, condition=cond, preference=pref,
                                       keywords=Sparse(list(words.indices), list(words.values))))
    return out


def hybrid(embedder, query: str, weights=(2.0, 1.0, 1.0)) -> tuple[np.ndarray, HybridQuery]:
    words = qdrant_edge.Bm25().embed_query(query)
    return embedder.embed_one(query), HybridQuery(Sparse(list(words.indices), list(words.values)), weights)


def test_hybrid_search_fuses_the_rankings_it_is_weighted_to(store, embedder):
    """Weighted to one ranking alone, the fused order is that ranking's (computed here from the vectors); the
    hits carry the named vectors; the fused search is filtered by user too."""
    cards = [*RIVALS, *CARDS["ada"]]
    stored = full_points(embedder, "ada", cards)
    store.upsert(stored)
    vector, query = hybrid(embedder, "Compare two ways to list numbered steps for a Python function")
    for name, weights in (("condition", (1.0, 0.0, 0.0)), ("preference", (0.0, 1.0, 0.0))):
        expected = sorted(stored, key=lambda p: -float(vector @ getattr(p, name)))
        hits = store.search("ada", vector, len(cards), dataclasses.replace(query, weights=weights))
        assert [h.card_id for h in hits] == [p.card_id for p in expected], name
        assert all(a.score >= b.score for a, b in zip(hits, hits[1:], strict=False))
    both = store.search("ada", vector, 3, query)
    assert len(both) == 3 and set(both[0].named) == {"condition", "preference"}
    assert both[0].vector.shape == (embedder.dim,)
    assert store.search("bob", vector, 2, query) == []


def test_a_layout_1_edge_shard_is_upgraded_when_opened(tmp_path, embedder):
    """A shard written before cards had named vectors is rebuilt in layout 2, its old folder kept; its cards
    come back as missing their condition vectors until the service fills them in."""
    folder = tmp_path / "cards"
    folder.mkdir()
    config = qdrant_edge.EdgeConfig(vectors=qdrant_edge.EdgeVectorParams(size=embedder.dim,
                                                                         distance=qdrant_edge.Distance.Cosine))
    old = qdrant_edge.EdgeShard.create(str(folder), config)
    old.update(qdrant_edge.UpdateOperation.upsert_points([
        qdrant_edge.Point(uuid.UUID(point_id_for(p.user_id, p.card_id)), p.vector.tolist(),
                          {**p.payload, "user_id": p.user_id}) for p in points(embedder, "ada")]))
    old.flush()
    old.close()
    (folder / "attune_collection.json").write_text(json.dumps({"embedder_id": embedder.id, "dim": embedder.dim}))
    store = EdgeCardStore(tmp_path, embedder.id, embedder.dim, "cards")
    try:
        assert (tmp_path / "cards.layout1" / "edge_config.json").is_file(), "the old shard is kept"
        assert store.count("ada") == 3
        assert {c.card_id for c in store.missing_named(10)} == {p.card_id for p in points(embedder, "ada")}
        assert store.search("ada", embedder.embed_one("How do I write a Python function?"), 1)[0].payload[
            "preference"] == "use type hints and short functions"
        store.upsert(full_points(embedder, "ada", CARDS["ada"]))
        assert store.missing_named(10) == []
    finally:
        store.close()
    assert json.loads((folder / "attune_collection.json").read_text())["layout"] == LAYOUT


def test_idf_is_bm25s_over_the_users_own_cards():
    query = Sparse([1, 2, 3], [1.0, 1.0, 2.0])
    weighted = user_idf(query, 4, Counter({1: 1, 2: 4}))
    assert weighted.indices == [1, 2]  # token 3 is on none of the user's cards
    assert weighted.values == pytest.approx([math.log(1 + 3.5 / 1.5), math.log(1 + 0.5 / 4.5)])


WORDS = [("always", "python"), ("always", "table"), ("always", "table chairs")]
OTHERS = [("always", "python python"), ("always", "python answers"), ("always", "python style"),
          ("always", "python code")]


def test_a_users_keyword_ranking_is_their_own(store, embedder):
    """Keywords weighted by IDF over the user's own cards: "python" is rarer than "table" among ada's, so it
    ranks first, whatever other users store or delete. With the engine's IDF over the whole collection, bob's
    cards made "python" common and turned ada's ranking over, and stayed counted after bob was deleted."""
    store.upsert(full_points(embedder, "ada", WORDS))
    vector, query = hybrid(embedder, "python table", weights=(0.0, 0.0, 1.0))

    def ranking():
        return [(h.card_id, round(h.score, 9)) for h in store.search("ada", vector, 3, query)]

    alone = ranking()
    assert alone[0][0] == card_id("ada", *WORDS[0])
    store.upsert(full_points(embedder, "bob", OTHERS))
    assert ranking() == alone
    store.delete_user("bob")
    assert ranking() == alone


def test_a_layout_2_edge_shard_is_rebuilt_without_the_engines_idf(tmp_path, embedder):
    """Layout 2 weighted keywords by the engine's IDF over every user; the rebuilt shard keeps every vector and
    the old folder."""
    folder = tmp_path / "cards"
    folder.mkdir()
    dense = qdrant_edge.EdgeVectorParams(size=embedder.dim, distance=qdrant_edge.Distance.Cosine)
    config = qdrant_edge.EdgeConfig(
        vectors={"": dense, "condition": dense, "preference": dense},
        sparse_vectors={"keywords": qdrant_edge.EdgeSparseVectorParams(modifier=qdrant_edge.Modifier.Idf)})
    old = qdrant_edge.EdgeShard.create(str(folder), config)
    stored = full_points(embedder, "ada", WORDS)
    old.update(qdrant_edge.UpdateOperation.upsert_points([
        qdrant_edge.Point(uuid.UUID(point_id_for(p.user_id, p.card_id)),
                          {"": p.vector.tolist(), "condition": p.condition.tolist(),
                           "preference": p.preference.tolist(),
                           "keywords": qdrant_edge.SparseVector(p.keywords.indices, p.keywords.values)},
                          {**p.payload, "user_id": p.user_id}) for p in stored]))
    old.flush()
    old.close()
    (folder / "attune_collection.json").write_text(json.dumps({"embedder_id": embedder.id, "dim": embedder.dim,
                                                               "layout": 2}))
    store = EdgeCardStore(tmp_path, embedder.id, embedder.dim, "cards")
    try:
        assert (tmp_path / "cards.layout2" / "edge_config.json").is_file(), "the old shard is kept"
        assert store.missing_named(10) == []
        assert "modifier" not in json.loads((folder / "edge_config.json").read_text())["sparse_vectors"]["keywords"]
        vector, query = hybrid(embedder, "python table", weights=(0.0, 0.0, 1.0))
        assert store.search("ada", vector, 1, query)[0].card_id == card_id("ada", *WORDS[0])
    finally:
        store.close()
    assert json.loads((folder / "attune_collection.json").read_text())["layout"] == LAYOUT


def test_a_layout_2_server_collection_loses_the_engines_idf_in_place(tmp_path, embedder):
    from qdrant_client import QdrantClient, models

    location = tmp_path / "qdrant-local"
    client = QdrantClient(path=str(location))
    dense = models.VectorParams(size=embedder.dim, distance=models.Distance.COSINE)
    engine_idf = models.SparseVectorParams(modifier=models.Modifier.IDF)
    client.create_collection("cards", vectors_config={"card": dense, "condition": dense, "preference": dense},
                             sparse_vectors_config={"keywords": engine_idf},
                             metadata={"embedder_id": embedder.id, "dim": embedder.dim, "layout": 2})
    client.close()
    store = open_test_store("qdrant", tmp_path, embedder.id, embedder.dim)
    try:
        config = store.client.get_collection("cards").config
        assert config.params.sparse_vectors["keywords"].modifier == models.Modifier.NONE
        assert config.metadata == {"embedder_id": embedder.id, "dim": embedder.dim, "layout": LAYOUT}
    finally:
        store.close()


def test_a_layout_1_server_collection_is_refused_with_what_to_do(tmp_path, embedder):
    from qdrant_client import QdrantClient, models

    client = QdrantClient(path=str(tmp_path / "qdrant-local"))
    client.create_collection("cards", vectors_config=models.VectorParams(size=embedder.dim,
                                                                         distance=models.Distance.COSINE))
    client.close()
    with pytest.raises(StoreError, match="layout 1.*Set ATTUNE_RETRIEVAL_COLLECTION to a new name"):
        open_test_store("qdrant", tmp_path, embedder.id, embedder.dim)


async def test_the_service_fills_in_the_vectors_of_an_upgraded_shard(tmp_path, embedder):
    """Cards stored with one vector (as a layout-1 shard's come out of the upgrade) get their condition,
    preference and keyword vectors at start, and the hybrid search finds them."""
    from attune.services.retrieval.core import RetrievalService
    from attune.services.retrieval.settings import RetrievalSettings
    from attune.v1 import retrieval_pb2

    store = EdgeCardStore(tmp_path, embedder.id, embedder.dim, "cards")
    store.upsert(points(embedder, "ada"))
    core = RetrievalService(RetrievalSettings(), embedder, store)
    try:
        assert len(store.missing_named(10)) == 3
        await core.start()
        assert store.missing_named(10) == []
        reply = await core.retrieve(retrieval_pb2.RetrieveRequest(user_id="ada", query="Plan my trip to Rome",
                                                                  top_k=3, select_k=1))
        assert reply.candidates[0].card.preference == "prefer trains over flights"
        assert reply.candidates[0].condition_score > 0.3
    finally:
        await core.close()
