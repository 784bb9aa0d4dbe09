"""No user ever sees another's memory: random programs of concurrent calls from several users (hypothesis)
against the real retrieval service (MiniLM, an embedded Qdrant shard, the user-vector policy) and the real
user-vector service (SQLite). Every card a Retrieve or ListCards returns belongs to the caller, every vector
answer is the caller's, and resetting one user leaves every other user's cards and vectors byte-identical.
The user ids are chosen to collide where a sloppy filter would: prefixes, case, spaces, unicode."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from attune.services.common.errors import NotFound
from attune.services.retrieval.core import RetrievalService
from attune.services.retrieval.settings import RetrievalSettings
from attune.services.retrieval.store import EdgeCardStore
from attune.services.uservec.client import update_request
from attune.services.uservec.core import UserVectorService
from attune.services.uservec.settings import UserVecSettings
from attune.v1 import common_pb2, retrieval_pb2, uservec_pb2

USERS = ["u1", "u10", "U1", "u1 ", "ü1", "u1/x"]
WORDS = ["tables", "bullet points", "short answers", "python", "latex", "examples", "no emojis", "sources"]

user = st.sampled_from(USERS)
upsert = st.tuples(st.just("upsert"), user, st.sampled_from(WORDS), st.sampled_from(WORDS))
retrieve = st.tuples(st.just("retrieve"), user, st.sampled_from(WORDS))
listing = st.tuples(st.just("list"), user)
reward = st.tuples(st.just("reward"), user, st.floats(-1, 1))
vectors = st.tuples(st.just("vectors"), user)
step = st.lists(st.one_of(upsert, retrieve, listing, reward, vectors), min_size=1, max_size=6)
reset = st.tuples(st.just("reset"), user)
program = st.lists(st.one_of(step, reset), min_size=2, max_size=8)


def owner_text(user_id: str, word: str) -> str:
    """Card text that names its owner, so a card shown to anyone else is caught by its text, not only its id."""
    return f"[{user_id}] prefers {word}"


class Users:
    """Both services, and what each user has put in."""

    def __init__(self, retrieval: RetrievalService, uservec: UserVectorService):
        self.retrieval, self.uservec = retrieval, uservec
        self.rng = np.random.default_rng(0)

    async def run(self, op: tuple) -> None:
        kind, user_id = op[0], op[1]
        if kind == "upsert":
            card = common_pb2.PreferenceCard(user_id=user_id, condition=f"when asked about {op[2]}",
                                             preference=owner_text(user_id, op[3]), confidence=0.9)
            await self.retrieval.upsert_cards(retrieval_pb2.UpsertCardsRequest(cards=[card]))
        elif kind == "retrieve":
            found = await self.retrieval.retrieve(retrieval_pb2.RetrieveRequest(
                user_id=user_id, query=f"please use {op[2]}", top_k=8, select_k=3, use_user_vector=True))
            self.check_cards(user_id, [c.card for c in found.candidates])
        elif kind == "list":
            listed = await self.retrieval.list_cards(retrieval_pb2.ListCardsRequest(user_id=user_id))
            self.check_cards(user_id, list(listed.cards))
        elif kind == "reward":
            dim = self.uservec.config.dim
            items = self.rng.normal(size=(2, dim)).astype(np.float32)
            answer = await self.uservec.update_from_reward(update_request(user_id, op[2], items, [0.5, 0.5], [0]))
            assert answer.user_id == user_id
        elif kind == "vectors":
            answer = await self.uservec.get_vectors(uservec_pb2.GetVectorsRequest(user_id=user_id))
            assert answer.user_id == user_id

    @staticmethod
    def check_cards(user_id: str, cards: list) -> None:
        for card in cards:
            assert card.user_id == user_id, f"{user_id!r} was shown a card of {card.user_id!r}"
            assert card.preference.startswith(f"[{user_id}] "), f"{user_id!r} was shown {card.preference!r}"

    async def state(self, user_id: str) -> tuple:
        """The user's cards and stored vectors, as bytes. A user never stored has no vectors of their own: the
        defaults a new user starts from are the mean of everyone's z_long, which a reset rightly moves."""
        listed = await self.retrieval.list_cards(retrieval_pb2.ListCardsRequest(user_id=user_id))
        cards = sorted(c.SerializeToString(deterministic=True) for c in listed.cards)
        row = await self.uservec._read(lambda store: store.get(user_id))
        if row is None:
            return cards, None
        return cards, (row.z_long.tobytes(), row.z_short.tobytes(), row.baseline, row.updates)

    async def reset(self, user_id: str) -> None:
        others = [u for u in USERS if u != user_id]
        before = [await self.state(u) for u in others]
        await self.retrieval.delete_user(retrieval_pb2.DeleteUserRequest(user_id=user_id))
        try:
            await self.uservec.reset_user(uservec_pb2.ResetRequest(user_id=user_id))
        except NotFound:
            pass  # never stored
        assert await self.state(user_id) == ([], None), "the reset user has no cards and no vectors left"
        after = [await self.state(u) for u in others]
        for other, was, now in zip(others, before, after, strict=True):
            assert was == now, f"resetting {user_id!r} changed {other!r}"


@pytest.fixture(scope="module")
async def users(embedder, tmp_path_factory):
    folder = tmp_path_factory.mktemp("isolation")
    uservec = UserVectorService(UserVecSettings(), folder)
    await uservec.start()
    retrieval = RetrievalService(RetrievalSettings(), embedder, EdgeCardStore(folder, embedder.id, embedder.dim),
                                 uservec=uservec)
    yield Users(retrieval, uservec)
    await retrieval.close()
    await uservec.close()


@settings(max_examples=25, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(program=program)
async def test_no_call_returns_another_users_memory(users, program):
    for item in program:
        if item[0] == "reset":
            await users.reset(item[1])
        else:
            await asyncio.gather(*(users.run(op) for op in item))
