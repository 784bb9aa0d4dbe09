"""Card stores, the same tests on each backend: Qdrant's engine in process (qdrant-edge) and
qdrant-client (local mode standing in for the server protocol), with real MiniLM vectors."""

from __future__ import annotations

import numpy as np
import pytest

from attune.services.common.cards import card_id, normalize
from attune.services.common.errors import InvalidArgument
from attune.services.retrieval.store import CardPoint, EdgeCardStore, StoreError
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
