"""The retrieval service through gRPC on 127.0.0.1: real MiniLM, real Qdrant (edge), the real
SmolLM2 model service for the LLM rerank and the real user-vector service for the policy."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from attune.services.common import metrics
from attune.services.common.errors import (
    DeadlineExceeded,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    Unauthenticated,
)
from attune.services.common.launch import BuildContext
from attune.services.common.net import free_port
from attune.services.common.policy import PolicyConfig
from attune.services.common.settings import CommonSettings
from attune.services.retrieval.cardstore import StoreError
from attune.services.retrieval.client import RetrievalClient
from attune.services.retrieval.core import RetrievalService, build
from attune.services.retrieval.settings import RetrievalSettings
from attune.services.retrieval.store import EdgeCardStore
from attune.services.uservec.client import update_request
from attune.v1 import common_pb2, retrieval_pb2, uservec_pb2

ROOT = Path(__file__).resolve().parents[2]
MODEL = "SmolLM2-135M-Instruct"

PROFILE = [
    ("writing Python code", "use type hints and keep functions short"),
    ("explaining a math proof", "show every step of the derivation"),
    ("planning a trip", "prefer trains over flights"),
    ("cooking dinner", "suggest vegetarian recipes only"),
    ("writing an email to a colleague", "keep it under five sentences"),
    ("learning a new language", "give example sentences with translations"),
]


def cards(user_id: str, profile=PROFILE, **fields) -> list[common_pb2.PreferenceCard]:
    return [common_pb2.PreferenceCard(user_id=user_id, condition=c, preference=p, conflict_group=c.split()[0],
                                      **fields) for c, p in profile]


def retrieve_request(user_id: str, query: str, **kwargs) -> retrieval_pb2.RetrieveRequest:
    return retrieval_pb2.RetrieveRequest(user_id=user_id, query=query, context={"caller_role": "agent",
                                                                                "method": "rag"}, **kwargs)


async def upsert(client, user_cards) -> list[str]:
    return list((await client.upsert_cards(retrieval_pb2.UpsertCardsRequest(cards=user_cards))).card_ids)


async def listed(client, user_id: str) -> list[common_pb2.PreferenceCard]:
    return list((await client.list_cards(retrieval_pb2.ListCardsRequest(user_id=user_id))).cards)


async def test_retrieve_ranks_the_relevant_card_first(retrieval_client):
    ids = await upsert(retrieval_client, cards("rank-user"))
    reply = await retrieval_client.retrieve(retrieve_request(
        "rank-user", "Can you write a Python function that parses a CSV file?", top_k=4, select_k=2))
    assert reply.reranker == "none"
    assert len(reply.candidates) == 4
    first = reply.candidates[0]
    assert first.card.preference == "use type hints and keep functions short"
    assert first.card.card_id == ids[0] and first.card.user_id == "rank-user"
    selected = [c for c in reply.candidates if c.selected]
    assert len(selected) == 2 and selected[0] == first
    writing = [c for c in reply.candidates if c.card.conflict_group == "writing"]
    assert len(writing) == 2 and sum(c.selected for c in writing) == 1, \
        "the rival of the group (writing an email) stays out: its condition does not hold"
    assert writing[0].condition_score > writing[1].condition_score
    assert sum(c.probability for c in reply.candidates) == pytest.approx(1.0, abs=1e-5)
    assert all(len(c.item_vector.values) == 256 for c in reply.candidates)
    travel = await retrieval_client.retrieve(retrieve_request("rank-user", "Book me a route from Paris to Berlin",
                                                              top_k=3, select_k=1))
    assert travel.candidates[0].card.preference == "prefer trains over flights"


async def test_upserting_the_same_preference_again_merges(retrieval_client):
    first = await upsert(retrieval_client, cards("merge-user", PROFILE[:2], created_at_ms=1000))
    again = await upsert(retrieval_client, [common_pb2.PreferenceCard(
        user_id="merge-user", condition="Writing  Python code", preference="Use type hints and keep functions short.",
        evidence="said again in session 2", session_id="s2", created_at_ms=5000)])
    assert again == first[:1]
    stored = {c.card_id: c for c in await listed(retrieval_client, "merge-user")}
    assert len(stored) == 2
    assert stored[first[0]].evidence == "said again in session 2"
    assert stored[first[0]].created_at_ms == 1000, "a merged card keeps the time it was first stored"


async def test_llm_rerank_runs_batched_and_is_recorded(retrieval_client):
    await upsert(retrieval_client, cards("rerank-user"))
    labels = {"model": MODEL, "caller_role": "reranker", "method": "rag"}
    tokens_before = metrics.TOKENS.labels(kind="completion", **labels)._value.get()
    batches = metrics.BATCH_SIZE.labels(MODEL)
    calls_before, rows_before = sum(b.get() for b in batches._buckets), batches._sum.get()
    reply = await retrieval_client.retrieve(retrieve_request(
        "rerank-user", "Write a Python function that reverses a string.", top_k=4, select_k=1, rerank=True))
    assert reply.reranker == f"llm:{MODEL}"
    assert len(reply.candidates) == 4
    assert all(0.0 <= c.rerank_score <= 1.0 for c in reply.candidates)
    assert [c.rerank_score for c in reply.candidates] == sorted((c.rerank_score for c in reply.candidates),
                                                                reverse=True)
    spent = metrics.TOKENS.labels(kind="completion", **labels)._value.get() - tokens_before
    assert spent > 0 and reply.usage.completion_tokens == spent, "the reply carries the rerank's tokens"
    assert reply.usage.prompt_tokens > 0
    rows = batches._sum.get() - rows_before
    calls = sum(b.get() for b in batches._buckets) - calls_before
    assert rows == 4 and calls < 4, "the four candidates are scored in shared generate calls"


async def test_a_local_cross_encoder_is_used_when_configured(retrieval_core, embedder, tmp_path):
    """No package ships cross-encoder weights: this one is MiniLM with an untrained scoring head,
    enough to check that a cross-encoder folder is loaded, run and recorded (not its quality)."""
    import torch
    from sentence_transformers import CrossEncoder

    torch.manual_seed(0)
    CrossEncoder(str(embedder.path), num_labels=1, device="cpu").save_pretrained(str(tmp_path / "ce"))
    # Ranked by the rerank alone (no conflict choice), so the order is the scores'.
    core = RetrievalService(RetrievalSettings(cross_encoder_path=tmp_path / "ce", conflict_choice="none"), embedder,
                            retrieval_core.store)
    await core.upsert_cards(retrieval_pb2.UpsertCardsRequest(cards=cards("ce-user")))
    reply = await core.retrieve(retrieve_request("ce-user", "Write a Python function.", top_k=5, rerank=True))
    assert reply.reranker == f"cross-encoder:{tmp_path / 'ce'}"
    scores = [c.rerank_score for c in reply.candidates]
    assert len(scores) == 5 and all(0 < x < 1 for x in scores) and scores == sorted(scores, reverse=True)
    assert reply.usage.prompt_tokens == reply.usage.completion_tokens == 0, "no model call, no tokens"


async def test_policy_selection_follows_the_user_vector(retrieval_client, uservec_core):
    """A user rewarded for choosing B over A learns a z_long that selects B for the same query."""
    user = "retrieval-policy-user"
    profile = [("writing code", "indent with tabs"), ("writing code", "indent with four spaces")]
    await upsert(retrieval_client, cards(user, profile))
    query = "How should I indent this code?"
    plain = await retrieval_client.retrieve(retrieve_request(user, query, top_k=2, select_k=1))
    favoured = plain.candidates[0].card.card_id  # A: the dense favourite
    wanted = plain.candidates[1].card.card_id    # B: the card this user keeps choosing
    personal = await retrieval_client.retrieve(retrieve_request(user, query, top_k=2, select_k=1,
                                                                use_user_vector=True))
    assert [c.card.card_id for c in personal.candidates if c.selected] == [favoured], "a new user: dense order"
    # The published step sizes are small (eta_long 1e-3, beta_long 0.1): a few thousand rewards
    # move a selection between two near cards. The user-vector service commits them in groups.
    for _ in range(80):
        # The loop a session runs: the policy's candidates and probabilities, the reward of the
        # card the user wanted (+1) or not (-1), sent to the user-vector service.
        reply = await retrieval_client.retrieve(retrieve_request(user, query, top_k=2, select_k=1,
                                                                 use_user_vector=True))
        selected = [c.card.card_id for c in reply.candidates if c.selected]
        if selected == [wanted]:
            break
        vectors = [c.item_vector.values for c in reply.candidates]
        probs = [c.probability for c in reply.candidates]
        index = {c.card.card_id: i for i, c in enumerate(reply.candidates)}
        await asyncio.gather(*[uservec_core.update_from_reward(update_request(
            user, reward, vectors, probs, [index[card]])) for _ in range(50)
            for card, reward in ((wanted, 1.0), (favoured, -1.0))])
    else:
        pytest.fail("the user vector never moved the selection")
    state = await uservec_core.get_vectors(uservec_pb2.GetVectorsRequest(user_id=user))
    assert state.known and state.updates > 0
    items = {c.card.card_id: np.array(c.item_vector.values) for c in reply.candidates}
    assert np.dot(state.z_long.values, items[wanted] - items[favoured]) > 0
    again = await retrieval_client.retrieve(retrieve_request(user, query, top_k=2, select_k=1))
    assert [c.card.card_id for c in again.candidates if c.selected] == [favoured], \
        "without use_user_vector the selection is the dense one"


async def test_a_user_vector_of_another_dimension_is_failed_precondition(retrieval_core, uservec_core):
    core = RetrievalService(RetrievalSettings(), retrieval_core.embedder, retrieval_core.store,
                            uservec=uservec_core, policy=PolicyConfig(dim=8))
    await core.upsert_cards(retrieval_pb2.UpsertCardsRequest(cards=cards("dim-user", PROFILE[:2])))
    with pytest.raises(FailedPrecondition, match="dimension 256, the policy uses 8"):
        await core.retrieve(retrieve_request("dim-user", "Python help", use_user_vector=True))


async def test_an_unknown_user_gets_no_candidates(retrieval_client):
    labels = {"model": MODEL, "caller_role": "reranker", "method": "rag"}
    before = metrics.TOKENS.labels(kind="prompt", **labels)._value.get()
    reply = await retrieval_client.retrieve(retrieve_request("nobody-at-all", "Python help", rerank=True,
                                                             use_user_vector=True))
    assert list(reply.candidates) == [] and reply.reranker == "none"
    assert metrics.TOKENS.labels(kind="prompt", **labels)._value.get() == before, "no model call for no cards"
    assert await listed(retrieval_client, "nobody-at-all") == []
    assert (await retrieval_client.delete_user(retrieval_pb2.DeleteUserRequest(user_id="nobody-at-all"))).deleted == 0


async def test_delete_card_and_user(retrieval_client):
    ids = await upsert(retrieval_client, cards("delete-user", PROFILE[:3]))
    await upsert(retrieval_client, cards("delete-other", PROFILE[:1]))
    reply = await retrieval_client.delete_card(retrieval_pb2.DeleteCardRequest(user_id="delete-user", card_id=ids[0]))
    assert reply.deleted == 1
    with pytest.raises(NotFound, match="no card"):
        await retrieval_client.delete_card(retrieval_pb2.DeleteCardRequest(user_id="delete-user", card_id=ids[0]))
    with pytest.raises(NotFound):
        await retrieval_client.delete_card(retrieval_pb2.DeleteCardRequest(user_id="delete-other", card_id=ids[1]))
    assert (await retrieval_client.delete_user(retrieval_pb2.DeleteUserRequest(user_id="delete-user"))).deleted == 2
    assert await listed(retrieval_client, "delete-user") == []
    assert len(await listed(retrieval_client, "delete-other")) == 1


GOOD = common_pb2.PreferenceCard(user_id="bad-input-user", condition="coding", preference="be brief")


@pytest.mark.parametrize(("bad", "field"), [
    (common_pb2.PreferenceCard(user_id="bad-input-user", preference=""), "cards[1].preference"),
    (common_pb2.PreferenceCard(user_id="bad-input-user", preference="   "), "cards[1].preference"),
    (common_pb2.PreferenceCard(user_id="bad-input-user", preference="x" * 2001), "cards[1].preference"),
    (common_pb2.PreferenceCard(user_id="bad-input-user", condition="y" * 2001, preference="p"), "cards[1].condition"),
    (common_pb2.PreferenceCard(user_id="", preference="be brief"), "cards[1].user_id"),
    (common_pb2.PreferenceCard(user_id="bad-input-user", preference="p", confidence=1.5), "cards[1].confidence"),
    (common_pb2.PreferenceCard(user_id="bad-input-user", preference="p", confidence=float("nan")),
     "cards[1].confidence"),
    (common_pb2.PreferenceCard(user_id="bad\nuser", preference="p"), "cards[1].user_id"),
])
async def test_bad_cards_are_invalid_argument_and_store_nothing(retrieval_client, bad, field):
    with pytest.raises(InvalidArgument) as err:
        await upsert(retrieval_client, [GOOD, bad])
    assert err.value.field == field
    assert await listed(retrieval_client, "bad-input-user") == [], "the valid card of the batch was not stored"


@pytest.mark.parametrize(("request_", "field"), [
    (retrieval_pb2.RetrieveRequest(user_id="bad-input-user", query=""), "query"),
    (retrieval_pb2.RetrieveRequest(user_id="bad-input-user", query="q" * 2001), "query"),
    (retrieval_pb2.RetrieveRequest(user_id="", query="hello"), "user_id"),
    (retrieval_pb2.RetrieveRequest(user_id="bad-input-user", query="hello", top_k=-1), "top_k"),
    (retrieval_pb2.RetrieveRequest(user_id="bad-input-user", query="hello", top_k=100_000), "top_k"),
    (retrieval_pb2.RetrieveRequest(user_id="bad-input-user", query="hello", top_k=3, select_k=4), "select_k"),
])
async def test_bad_retrieve_requests_are_invalid_argument(retrieval_client, request_, field):
    with pytest.raises(InvalidArgument) as err:
        await retrieval_client.retrieve(request_)
    assert err.value.field == field


async def test_other_bad_requests(retrieval_client):
    with pytest.raises(InvalidArgument, match="cards: must not be empty"):
        await retrieval_client.upsert_cards(retrieval_pb2.UpsertCardsRequest())
    with pytest.raises(InvalidArgument) as err:
        await retrieval_client.delete_card(retrieval_pb2.DeleteCardRequest(user_id="bad-input-user"))
    assert err.value.field == "card_id"
    with pytest.raises(InvalidArgument):
        await retrieval_client.list_cards(retrieval_pb2.ListCardsRequest())


async def test_rerank_or_user_vector_without_the_service_is_failed_precondition(retrieval_core):
    bare = RetrievalService(RetrievalSettings(), retrieval_core.embedder, retrieval_core.store)
    with pytest.raises(FailedPrecondition, match="ATTUNE_MODEL_TARGET"):
        await bare.retrieve(retrieve_request("rank-user", "hello", rerank=True))
    with pytest.raises(FailedPrecondition, match="ATTUNE_USERVEC_TARGET"):
        await bare.retrieve(retrieve_request("rank-user", "hello", use_user_vector=True))


async def test_in_process_and_grpc_give_the_same_reply(retrieval_client, retrieval_core):
    await upsert(retrieval_client, cards("same-user"))
    request = retrieve_request("same-user", "Explain why the square root of two is irrational.", top_k=3)
    assert await retrieval_core.retrieve(request) == await retrieval_client.retrieve(request)


async def test_auth_token_is_required(retrieval_server):
    async with RetrievalClient(retrieval_server.address) as anonymous:
        with pytest.raises(Unauthenticated):
            await anonymous.list_cards(retrieval_pb2.ListCardsRequest(user_id="rank-user"))
        assert await anonymous.health("attune.v1.RetrievalService") == "SERVING"


async def test_a_collection_of_another_embedder_stops_the_service_at_start(tmp_path, embedder):
    EdgeCardStore(tmp_path / "retrieval", "other/model", embedder.dim, "attune_cards").close()
    common = CommonSettings(data_dir=tmp_path)
    with pytest.raises(StoreError, match="built with embedder 'other/model'.*ATTUNE_RETRIEVAL_COLLECTION"):
        await build(BuildContext(RetrievalSettings(), common, tmp_path))


def start_process(data_dir: Path, port: int) -> subprocess.Popen:
    # The peers are named but not running: their channels connect only when a call needs them.
    env = dict(os.environ, ATTUNE_DATA_DIR=str(data_dir), ATTUNE_RETRIEVAL_PORT=str(port), ATTUNE_LOG_LEVEL="warning",
               ATTUNE_MODEL_TARGET=f"127.0.0.1:{free_port()}", ATTUNE_USERVEC_TARGET=f"127.0.0.1:{free_port()}",
               ATTUNE_AUTH_TOKEN="")
    return subprocess.Popen([sys.executable, "-m", "attune.services.retrieval"], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


async def wait_serving(client: RetrievalClient, proc: subprocess.Popen, timeout_s: float = 120) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while proc.poll() is None and asyncio.get_running_loop().time() < deadline:
        try:
            return await client.wait_ready(1)
        except DeadlineExceeded:
            pass
    stderr = proc.stderr.read().decode()[-2000:] if proc.poll() is not None else ""
    pytest.fail(f"the retrieval service did not start (exit status {proc.poll()}): {stderr}")


async def test_a_killed_service_loses_nothing_acknowledged(processes, tmp_path):
    port = free_port()
    proc = start_process(tmp_path, port)
    try:
        async with RetrievalClient(f"127.0.0.1:{port}", timeout_s=30) as client:
            await wait_serving(client, proc)
            ids = await upsert(client, cards("durable-user"))
            await client.delete_card(retrieval_pb2.DeleteCardRequest(user_id="durable-user", card_id=ids[-1]))
            await upsert(client, cards("durable-user", PROFILE[:1], evidence="acknowledged just before the kill"))
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)
            proc = start_process(tmp_path, port)
            await wait_serving(client, proc)
            stored = {c.card_id: c for c in await listed(client, "durable-user")}
            assert set(stored) == set(ids[:-1])
            assert stored[ids[0]].evidence == "acknowledged just before the kill"
            reply = await client.retrieve(retrieve_request("durable-user", "Help me plan a trip to Rome", top_k=2))
            assert reply.candidates[0].card.preference == "prefer trains over flights"
    finally:
        proc.kill()
        proc.wait(10)
