"""The real extractor service on 127.0.0.1, reading user turns with the real SmolLM2 model."""

from __future__ import annotations

import pytest

from attune.services.common import metrics
from attune.services.common.errors import InvalidArgument, Unauthenticated
from attune.services.common.launch import serve_core
from attune.services.extractor.client import ExtractorClient
from attune.services.extractor.core import GROUPS, ExtractorService
from attune.services.extractor.settings import ExtractorSettings
from attune.v1 import common_pb2, extractor_pb2

STATEMENT = "I prefer short answers with bullet points."
TOKEN = "extractor-test-token"


@pytest.fixture(scope="module")
async def extractor(model_core):
    core = ExtractorService(ExtractorSettings(), model_core)
    await core.start()
    server = await serve_core("extractor", core, token=TOKEN)
    client = ExtractorClient(server.address, token=TOKEN)
    yield client
    await client.close()
    await server.stop()


def request(text: str, user_id: str = "alice", known=()) -> extractor_pb2.ExtractRequest:
    return extractor_pb2.ExtractRequest(user_id=user_id, turns=[{"role": "user", "content": text}],
                                        known_cards=list(known), context={"session_id": "s1"})


async def test_an_explicit_preference_becomes_a_card(extractor):
    reply = await extractor.extract(request(STATEMENT))
    assert len(reply.cards) >= 1
    card = reply.cards[0]
    assert "short answers" in card.preference.lower()
    assert card.user_id == "alice" and card.session_id == "s1"
    assert card.conflict_group in GROUPS
    assert 0 < card.confidence <= 1
    assert card.evidence == STATEMENT
    again = await extractor.extract(request(STATEMENT))
    assert [c.card_id for c in again.cards] == [c.card_id for c in reply.cards], "same statement, same card"


async def test_a_known_preference_is_merged_not_duplicated(extractor):
    """The merged card has the higher confidence: SmolLM2 rates STATEMENT 0.75, above 0.5 and below 0.875."""
    for known_confidence, merged in ((0.5, 0.75), (0.875, 0.875)):
        known = common_pb2.PreferenceCard(card_id="known-1", user_id="alice", condition="always",
                                          preference="I prefer short answers with bullet points",
                                          confidence=known_confidence)
        reply = await extractor.extract(request(STATEMENT, known=[known]))
        assert [c.card_id for c in reply.cards] == ["known-1"]
        assert reply.cards[0].confidence == merged


async def test_a_turn_without_a_preference_costs_no_model_call(extractor):
    labels = {"model": "SmolLM2-135M-Instruct", "caller_role": "extractor", "method": "none", "kind": "prompt"}
    before = metrics.TOKENS.labels(**labels)._value.get()
    reply = await extractor.extract(request("What is 12 times 7?"))
    assert list(reply.cards) == []
    assert metrics.TOKENS.labels(**labels)._value.get() == before


@pytest.mark.parametrize(("bad", "field"), [
    (extractor_pb2.ExtractRequest(turns=[{"role": "user", "content": "hi"}]), "user_id"),
    (extractor_pb2.ExtractRequest(user_id="a"), "turns"),
    (extractor_pb2.ExtractRequest(user_id="a", turns=[{"role": "assistant", "content": "hi"}]), "turns"),
    (extractor_pb2.ExtractRequest(user_id="a", turns=[{"role": "user", "content": "  "}]), "turns[-1].content"),
    (extractor_pb2.ExtractRequest(user_id="a", turns=[{"role": "user", "content": "x" * 5000}]), "turns[-1].content"),
])
async def test_bad_input_is_invalid_argument(extractor, bad, field):
    with pytest.raises(InvalidArgument) as err:
        await extractor.extract(bad)
    assert err.value.field == field


async def test_calls_without_the_token_are_refused(extractor):
    for token in ("", "wrong"):
        async with ExtractorClient(extractor.target, token=token) as other:
            with pytest.raises(Unauthenticated):
                await other.extract(request(STATEMENT))
            assert await other.health("attune.v1.ExtractorService") == "SERVING", "probes need no token"
