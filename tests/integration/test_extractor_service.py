"""The real extractor service on 127.0.0.1, reading user turns with the real SmolLM2 model."""

from __future__ import annotations

import asyncio

import pytest

from attune.services.common import metrics
from attune.services.common.errors import InvalidArgument, Unauthenticated
from attune.services.common.launch import serve_core
from attune.services.extractor.client import ExtractorClient
from attune.services.extractor.core import GROUPS, ExtractorService
from attune.services.extractor.gate import PreferenceGate
from attune.services.extractor.settings import ExtractorSettings
from attune.v1 import common_pb2, extractor_pb2

STATEMENT = "I prefer short answers with bullet points."
STEPS = "I prefer numbered lists when I ask for steps."
REVISION = "Actually, from now on I want bullet points instead of numbered lists when I ask for steps. Thanks!"
UNRELATED = "From now on, please always write math in LaTeX."
TOKEN = "extractor-test-token"
PROMPT_TOKENS = {"model": "SmolLM2-135M-Instruct", "caller_role": "extractor", "method": "none", "kind": "prompt"}


@pytest.fixture(scope="module")
async def extractor(model_core, embedder):
    core = ExtractorService(ExtractorSettings(), model_core, PreferenceGate(embedder))
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


async def test_in_a_task_turn_only_the_preference_sentence_can_become_the_card(extractor):
    """The benchmark's users pose a problem with one preference sentence in it; the problem's sentences are no
    candidates (SmolLM2 chose "Express your answer as a common fraction." and "reactive C." before)."""
    turn = ("Why does this work? Please don't list the reasons as bullets: A bag has 3 red and 5 blue marbles. "
            "What is the chance of drawing two red ones? Express your answer as a common fraction.")
    reply = await extractor.extract(request(turn, user_id="task-user"))
    assert [c.preference for c in reply.cards] == ["Please don't list the reasons as bullets"]


def prompt_tokens() -> float:
    return metrics.TOKENS.labels(**PROMPT_TOKENS)._value.get()


async def test_a_turn_without_a_preference_costs_no_model_call(extractor):
    before = prompt_tokens()
    reply = await extractor.extract(request("What is 12 times 7?"))
    assert list(reply.cards) == []
    assert prompt_tokens() == before


async def test_a_user_changing_their_mind_replaces_and_removes_cards(extractor):
    """State, revise (an unrelated preference alongside, batched with it), then retract."""
    first = await extractor.extract(request(STEPS, "changer"))
    stale = {c.card_id for c in first.cards if "numbered lists" in c.preference}
    assert stale
    revised, unrelated = await asyncio.gather(extractor.extract(request(REVISION, "changer", first.cards)),
                                              extractor.extract(request(UNRELATED, "changer", first.cards)))
    bullets = [c for c in revised.cards if "bullet points" in c.preference]
    assert bullets and bullets[0].evidence == REVISION, "a card keeps the whole turn it came from"
    assert stale <= set(revised.removed_card_ids)
    assert not set(revised.removed_card_ids) & {c.card_id for c in revised.cards}
    assert unrelated.cards and list(unrelated.removed_card_ids) == [], "another topic supersedes nothing"

    before = prompt_tokens()
    forget = await extractor.extract(request("Forget that I asked for bullet points.", "changer",
                                             [*bullets, *unrelated.cards]))
    assert list(forget.removed_card_ids) == [bullets[0].card_id]
    assert list(forget.cards) == []
    assert forget.usage.prompt_tokens == forget.usage.completion_tokens == 0 and prompt_tokens() == before


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
