"""PersonalizedLLM: an assistant that remembers a user's preferences.

Per turn (``recall``): the user's message first rewards the previous reply
(inferred reward -> REINFORCE update of the user vector for the cards that reply
used), then preference cards are extracted from it and stored (the known cards
it supersedes or retracts deleted first), and the cards relevant to it are
retrieved and selected by the policy. The agent answers with them in the one
system prompt every method uses (attune.orchestrator.prompts);
``observe`` records the reply for the next turn's reward. ``chat`` does all of it
for a standalone assistant; the rag methods call ``recall`` and ``observe``
around the common assistant path. Every collaborator is an interface that is either the in-process
core or its gRPC client, so the same code runs in one process or over gRPC.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from attune.orchestrator.prompts import agent_messages, card_line
from attune.orchestrator.reward import RewardScorer, RuleRewardScorer, clamp_reward
from attune.services.common.errors import NotFound
from attune.services.model.client import chat_request
from attune.v1 import common_pb2, extractor_pb2, retrieval_pb2, uservec_pb2

# Turns of the history the extractor sees before the one it reads.
EXTRACT_CONTEXT_TURNS = 4


@dataclass(frozen=True)
class PersonalizedConfig:
    top_k: int = 16
    select_k: int = 4
    rerank: bool = False
    max_history_turns: int = 12
    max_tokens: int = 256
    temperature: float = 0.0
    seed: int = 0


@dataclass
class PersonalizedReply:
    text: str
    selected: list[common_pb2.PreferenceCard]
    extracted: list[common_pb2.PreferenceCard]
    reward: float | None
    usage: common_pb2.TokenUsage
    # Tokens the extractor spent reading this turn (zero when it needed no model call).
    extract_usage: common_pb2.TokenUsage = field(default_factory=common_pb2.TokenUsage)


@dataclass
class Recalled:
    """The memory of one turn: the selected cards, the cards just extracted, the inferred reward."""

    selected: list[common_pb2.PreferenceCard]
    extracted: list[common_pb2.PreferenceCard]
    reward: float | None
    extract_usage: common_pb2.TokenUsage
    # Tokens the LLM rerank spent (zero without rerank).
    rerank_usage: common_pb2.TokenUsage = field(default_factory=common_pb2.TokenUsage)

    @property
    def memory(self) -> list[str]:
        return [card_line(c.preference, c.condition) for c in self.selected]


@dataclass
class _Session:
    session_id: str = "1"
    # Kept for ``chat`` only; the rag methods pass their own (the one) history.
    history: list[tuple[str, str]] = field(default_factory=list)
    # The last reply and the retrieval it used, waiting for the user's reaction.
    last_reply: str = ""
    pending: retrieval_pb2.RetrieveResponse | None = None


def extraction_turns(history: list[tuple[str, str]], message: str) -> list[common_pb2.Message]:
    """The turns the extractor reads: the last few of the history, then the new user message."""
    turns = [common_pb2.Message(role=r, content=c) for r, c in history[-EXTRACT_CONTEXT_TURNS:]]
    return [*turns, common_pb2.Message(role="user", content=message)]


class PersonalizedLLM:
    """``chat``, ``apply_feedback``, ``reset_session``, ``reset_user`` over the memory services.

    Without ``uservec`` it is the ``rag`` method (retrieval only); with it,
    ``rag_vector`` (retrieval plus the learned user vector).
    """

    def __init__(self, model, extractor, retrieval, uservec=None, reward: RewardScorer | None = None,
                 config: PersonalizedConfig | None = None, run_id: str = ""):
        self.model = model
        self.extractor = extractor
        self.retrieval = retrieval
        self.uservec = uservec
        self.reward = reward or RuleRewardScorer()
        self.config = config or PersonalizedConfig()
        self.method = "rag_vector" if uservec is not None else "rag"
        self.run_id = run_id
        self._sessions: dict[str, _Session] = {}

    def _context(self, user_id: str, role: str) -> common_pb2.RequestContext:
        session = self._sessions.setdefault(user_id, _Session())
        return common_pb2.RequestContext(run_id=self.run_id, user_id=user_id, session_id=session.session_id,
                                         caller_role=role, method=self.method)

    async def chat(self, user_id: str, message: str) -> PersonalizedReply:
        """One turn of a standalone assistant: recall, answer with the common prompt, observe."""
        session = self._sessions.setdefault(user_id, _Session())
        recalled = await self.recall(user_id, message, session.history)
        messages = agent_messages(recalled.memory, [*session.history, ("user", message)],
                                  self.config.max_history_turns)
        request = chat_request(messages, max_tokens=self.config.max_tokens, temperature=self.config.temperature,
                               seed=self.config.seed)
        request.context.CopyFrom(self._context(user_id, "agent"))
        reply = await self.model.chat(request)
        session.history += [("user", message), ("assistant", reply.text)]
        await self.observe(user_id, reply.text)
        return PersonalizedReply(reply.text, recalled.selected, recalled.extracted, recalled.reward, reply.usage,
                                 recalled.extract_usage)

    async def recall(self, user_id: str, message: str, history: list[tuple[str, str]]) -> Recalled:
        """Reward the last reply, extract and store cards from ``message``, retrieve and select cards."""
        session = self._sessions.setdefault(user_id, _Session())
        reward = None
        if session.pending is not None:
            reward = await self.reward.score(session.last_reply, message)
            await self._learn(user_id, reward, session)
        found = await self._remember(user_id, history, message)
        retrieved = await self.retrieval.retrieve(retrieval_pb2.RetrieveRequest(
            context=self._context(user_id, "agent"), user_id=user_id, query=message, top_k=self.config.top_k,
            select_k=self.config.select_k, rerank=self.config.rerank, use_user_vector=self.uservec is not None))
        selected = [c.card for c in retrieved.candidates if c.selected]
        session.pending = retrieved if selected else None
        return Recalled(selected, list(found.cards), reward, found.usage, retrieved.usage)

    async def observe(self, user_id: str, reply: str) -> None:
        """The reply the agent gave; the user's next message rewards it."""
        self._sessions.setdefault(user_id, _Session()).last_reply = reply

    async def _remember(self, user_id: str, history: list[tuple[str, str]],
                        message: str) -> extractor_pb2.ExtractResponse:
        return await remember(self.extractor, self.retrieval, extractor_pb2.ExtractRequest(
            context=self._context(user_id, "extractor"), user_id=user_id, turns=extraction_turns(history, message)))

    async def _learn(self, user_id: str, reward: float, session: _Session) -> None:
        pending, session.pending = session.pending, None
        if self.uservec is None or pending is None:
            return
        candidates = list(pending.candidates)
        await self.uservec.update_from_reward(uservec_pb2.UpdateFromRewardRequest(
            context=self._context(user_id, "agent"), user_id=user_id, reward=reward, request_id=uuid.uuid4().hex,
            candidate_vectors=[c.item_vector for c in candidates],
            probabilities=[c.probability for c in candidates],
            chosen=[i for i, c in enumerate(candidates) if c.selected]))

    async def apply_feedback(self, user_id: str, feedback: str | float) -> float:
        """Explicit feedback on the last reply: a reward number, or text scored like a next turn."""
        session = self._sessions.setdefault(user_id, _Session())
        if isinstance(feedback, str):
            reward = await self.reward.score(session.last_reply, feedback)
        else:
            reward = clamp_reward(float(feedback))
        await self._learn(user_id, reward, session)
        return reward

    async def reset_session(self, user_id: str, session_id: str = "") -> None:
        """A new session: history and z_short cleared, long-term memory kept."""
        previous = self._sessions.get(user_id, _Session())
        self._sessions[user_id] = _Session(session_id=session_id or str(int(previous.session_id) + 1))
        if self.uservec is not None:
            try:
                await self.uservec.reset_session(uservec_pb2.ResetRequest(user_id=user_id))
            except NotFound:
                pass

    async def reset_user(self, user_id: str) -> None:
        """Forget the user entirely: cards, vectors and history."""
        self._sessions.pop(user_id, None)
        await self.retrieval.delete_user(retrieval_pb2.DeleteUserRequest(user_id=user_id))
        if self.uservec is not None:
            try:
                await self.uservec.reset_user(uservec_pb2.ResetRequest(user_id=user_id))
            except NotFound:
                pass


async def remember(extractor, retrieval, request: extractor_pb2.ExtractRequest) -> extractor_pb2.ExtractResponse:
    """What a card method does with a user turn: extract cards from ``request`` (its turns) given the user's known
    cards, delete the known cards they supersede or retract, store the new ones; returns the extractor's answer."""
    known = await retrieval.list_cards(retrieval_pb2.ListCardsRequest(user_id=request.user_id))
    request.known_cards.extend(known.cards)
    found = await extractor.extract(request)
    for card_id in found.removed_card_ids:
        try:
            await retrieval.delete_card(retrieval_pb2.DeleteCardRequest(user_id=request.user_id, card_id=card_id))
        except NotFound:  # already gone: deleted by a concurrent turn, or a retried one
            pass
    if found.cards:
        await retrieval.upsert_cards(retrieval_pb2.UpsertCardsRequest(context=request.context, cards=found.cards))
    return found
