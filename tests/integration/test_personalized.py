"""PersonalizedLLM end to end: real model, extractor, Qdrant retrieval and user vectors.

The same conversation runs with the in-process cores and with gRPC clients of
real servers on 127.0.0.1 around those cores, and must give the same replies.
"""

from __future__ import annotations

import pytest

from attune.orchestrator.personalized import PersonalizedConfig, PersonalizedLLM
from attune.orchestrator.prompts import card_line, system_prompt
from attune.services.common.launch import serve_core
from attune.services.extractor.client import ExtractorClient
from attune.services.extractor.core import ExtractorService
from attune.services.extractor.gate import PreferenceGate
from attune.services.extractor.settings import ExtractorSettings
from attune.services.model.client import ModelClient
from attune.services.retrieval.client import RetrievalClient
from attune.services.uservec.client import UserVectorClient
from attune.v1 import retrieval_pb2, uservec_pb2
from tests.conftest import TOKEN
from tests.fixtures.retrieval import RETRIEVAL_TOKEN
from tests.fixtures.uservec import USERVEC_TOKEN

CONFIG = PersonalizedConfig(max_tokens=24, select_k=2)
PREFERENCE = "I prefer short answers with bullet points."
STEPS = "I prefer numbered lists when I ask for steps."
REVISION = "Actually, from now on I want bullet points instead of numbered lists when I ask for steps."


@pytest.fixture(scope="module")
async def extractor_core(model_core, embedder):
    core = ExtractorService(ExtractorSettings(), model_core, PreferenceGate(embedder))
    await core.start()
    return core


@pytest.fixture(scope="module")
async def in_process(model_core, extractor_core, retrieval_core, uservec_core):
    return PersonalizedLLM(model_core, extractor_core, retrieval_core, uservec_core, config=CONFIG)


@pytest.fixture(scope="module")
async def over_grpc(model_server, extractor_core, retrieval_server, uservec_server):
    server = await serve_core("extractor", extractor_core)
    clients = [ModelClient(model_server.address, token=TOKEN), ExtractorClient(server.address),
               RetrievalClient(retrieval_server.address, token=RETRIEVAL_TOKEN),
               UserVectorClient(uservec_server.address, token=USERVEC_TOKEN)]
    yield PersonalizedLLM(*clients, config=CONFIG)
    for client in clients:
        await client.close()
    await server.stop()


async def converse(assistant: PersonalizedLLM, user: str):
    """Session 1 states a preference; session 2 asks something else."""
    first = await assistant.chat(user, PREFERENCE)
    followup = await assistant.chat(user, "Thanks! What is 2 plus 2?")
    await assistant.reset_session(user)
    later = await assistant.chat(user, "Please give me some tips for writing short answers.")
    return first, followup, later


async def test_a_preference_from_one_session_is_used_in_the_next(in_process, uservec_core, retrieval_core):
    first, followup, later = await converse(in_process, "pers-alice")
    assert any("short answers" in c.preference.lower() for c in first.extracted)
    assert any("short answers" in c.preference.lower() for c in later.selected), "memory must reach session 2"
    assert "short answers" in system_prompt([card_line(c.preference, c.condition) for c in later.selected]).lower()
    assert followup.reward is not None and followup.reward > 0, "thanks is a positive reward"
    vectors = await uservec_core.get_vectors(uservec_pb2.GetVectorsRequest(user_id="pers-alice"))
    assert vectors.known and vectors.updates >= 1, "the reward must update the user vector"
    cards = await retrieval_core.list_cards(retrieval_pb2.ListCardsRequest(user_id="pers-alice"))
    assert len(cards.cards) == len({c.card_id for c in cards.cards}) >= 1


async def test_grpc_gives_the_same_conversation(in_process, over_grpc):
    local = await converse(in_process, "pers-same-1")
    remote = await converse(over_grpc, "pers-same-2")
    assert [r.text for r in local] == [r.text for r in remote]
    assert [[c.preference for c in r.selected] for r in local] == [[c.preference for c in r.selected]
                                                                    for r in remote]


async def test_reset_user_forgets_everything(in_process, retrieval_core, uservec_core):
    await in_process.chat("pers-bob", PREFERENCE)
    await in_process.reset_user("pers-bob")
    cards = await retrieval_core.list_cards(retrieval_pb2.ListCardsRequest(user_id="pers-bob"))
    assert list(cards.cards) == []
    assert not (await uservec_core.get_vectors(uservec_pb2.GetVectorsRequest(user_id="pers-bob"))).known
    fresh = await in_process.chat("pers-bob", "What is 2 plus 2?")
    assert fresh.selected == []


async def test_explicit_feedback_updates_the_vector(in_process, uservec_core):
    await in_process.chat("pers-carol", PREFERENCE)
    await in_process.chat("pers-carol", "Tell me about short answers.")
    before = await uservec_core.get_vectors(uservec_pb2.GetVectorsRequest(user_id="pers-carol"))
    reward = await in_process.apply_feedback("pers-carol", -1.0)
    after = await uservec_core.get_vectors(uservec_pb2.GetVectorsRequest(user_id="pers-carol"))
    assert reward == -1.0
    assert after.updates == before.updates + 1


async def test_a_revised_preference_replaces_the_stale_card(in_process, retrieval_core):
    first = await in_process.chat("pers-dave", STEPS)
    stale = {c.card_id for c in first.extracted}
    assert stale
    await in_process.chat("pers-dave", REVISION)
    stored = await retrieval_core.list_cards(retrieval_pb2.ListCardsRequest(user_id="pers-dave"))
    assert not stale & {c.card_id for c in stored.cards}, "the stale card must be deleted"
    assert any("bullet points" in c.preference for c in stored.cards)
