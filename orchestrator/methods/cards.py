"""Methods that remember preference cards: all_memory, rag and rag_vector.

``all_memory`` extracts cards from every user turn and puts every card it has
in the agent's context. ``rag`` and ``rag_vector`` are PersonalizedLLM: cards
are stored in the retrieval service and only the relevant ones are selected
(``rag_vector`` adds the user vector learned from inferred rewards).
"""

from __future__ import annotations

from google.protobuf.json_format import MessageToDict, ParseDict

from attune.orchestrator.methods.base import Context, Ledger, Method, Recall, register_method
from attune.orchestrator.personalized import PersonalizedConfig, PersonalizedLLM, extraction_turns
from attune.orchestrator.prompts import card_line
from attune.v1 import common_pb2, extractor_pb2, retrieval_pb2, uservec_pb2

# z_long is stored in the session record to this many decimals (float32 holds about 7 digits).
VECTOR_DIGITS = 6


def card_dicts(cards) -> list[dict]:
    return [MessageToDict(card, preserving_proto_field_name=True) for card in cards]


def parse_cards(dicts: list[dict]) -> list[common_pb2.PreferenceCard]:
    return [ParseDict(d, common_pb2.PreferenceCard()) for d in dicts]


@register_method
class AllMemory(Method):
    name = "all_memory"
    needs = ("extractor",)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.cards: dict[str, dict[str, common_pb2.PreferenceCard]] = {}

    def memory(self, user_id: str) -> list[str]:
        return [card_line(c.preference, c.condition) for c in self.cards.get(user_id, {}).values()]

    async def recall(self, user_id: str, message: str, ledger: Ledger) -> Recall:
        """Every card so far, after extracting the new ones from this message."""
        known = self.cards.setdefault(user_id, {})
        found = await self.services.extractor.extract(extractor_pb2.ExtractRequest(
            context=self.context[user_id].request("extractor", self.name), user_id=user_id,
            turns=extraction_turns(self.history[user_id], message), known_cards=list(known.values())))
        if found.usage.prompt_tokens:
            ledger.add("extractor", found.usage)
        for card_id in found.removed_card_ids:
            known.pop(card_id, None)
        for card in found.cards:
            known[card.card_id] = card
        return Recall(self.memory(user_id))

    def snapshot(self, user_id: str) -> dict:
        return {"cards": card_dicts(self.cards.get(user_id, {}).values())}

    async def restore(self, user_id: str, state: dict) -> None:
        self.cards[user_id] = {c.card_id: c for c in parse_cards(state.get("cards", []))}


@register_method
class Rag(Method):
    """Extractor + retrieval (+ policy selection); cards live in the retrieval service."""

    name = "rag"
    needs = ("extractor", "retrieval")
    use_user_vector = False

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        s, services = self.settings, self.services
        self.assistant = PersonalizedLLM(
            services.model, services.extractor, services.retrieval,
            services.uservec if self.use_user_vector else None,
            config=PersonalizedConfig(top_k=s.top_k, select_k=s.select_k, rerank=s.rerank,
                                      max_history_turns=s.max_history_turns, max_tokens=s.max_reply_tokens,
                                      temperature=s.temperature, seed=self.seed))
        self.saved: dict[str, list[dict]] = {}

    async def start_session(self, ctx: Context) -> None:
        await super().start_session(ctx)
        self.assistant.run_id = ctx.run_id
        await self.assistant.reset_session(ctx.user_id, str(ctx.session))

    async def recall(self, user_id: str, message: str, ledger: Ledger) -> Recall:
        """The cards retrieved and selected for this message (after extracting and storing new ones)."""
        recalled = await self.assistant.recall(user_id, message, self.history[user_id])
        if recalled.extract_usage.prompt_tokens:
            ledger.add("extractor", recalled.extract_usage)
        if recalled.rerank_usage.prompt_tokens:
            ledger.add("reranker", recalled.rerank_usage)
        return Recall(recalled.memory, recalled.reward)

    async def observe(self, user_id: str, message: str, reply: str) -> None:
        await self.assistant.observe(user_id, reply)

    async def _cards(self, user_id: str) -> list[common_pb2.PreferenceCard]:
        listed = await self.services.retrieval.list_cards(retrieval_pb2.ListCardsRequest(user_id=user_id))
        return list(listed.cards)

    async def end_session(self, user_id: str, ledger: Ledger) -> None:
        self.saved[user_id] = card_dicts(await self._cards(user_id))

    def snapshot(self, user_id: str) -> dict:
        return {"cards": self.saved.get(user_id, [])}

    async def restore(self, user_id: str, state: dict) -> None:
        """Put the store's cards back to the snapshot: a killed session may have added some."""
        saved = parse_cards(state.get("cards", []))
        if card_dicts(await self._cards(user_id)) == card_dicts(saved):
            return
        await self.services.retrieval.delete_user(retrieval_pb2.DeleteUserRequest(user_id=user_id))
        if saved:
            await self.services.retrieval.upsert_cards(retrieval_pb2.UpsertCardsRequest(cards=saved))


@register_method
class RagVector(Rag):
    """rag plus the user vector: z_long / z_short learned by REINFORCE from inferred rewards."""

    name = "rag_vector"
    needs = ("extractor", "retrieval", "uservec")
    use_user_vector = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.vectors: dict[str, dict] = {}
        self.states: dict[str, dict] = {}

    async def end_session(self, user_id: str, ledger: Ledger) -> None:
        """Keep the cards and the user vector after the session: the report compares z_long across users, and
        a resumed run puts the exact state back (``restore``)."""
        await super().end_session(user_id, ledger)
        state = await self.services.uservec.get_vectors(uservec_pb2.GetVectorsRequest(user_id=user_id))
        self.vectors[user_id] = {"z_long": [round(v, VECTOR_DIGITS) for v in state.z_long.values],
                                 "updates": state.updates}
        self.states[user_id] = MessageToDict(state, preserving_proto_field_name=True)

    def snapshot(self, user_id: str) -> dict:
        """The cards, ``user_vector`` (z_long after the session, rounded, and the number of updates so far) and
        ``user_vector_state`` (the whole state, exact: float32 values survive JSON's doubles)."""
        snapshot = super().snapshot(user_id)
        if user_id in self.vectors:
            snapshot["user_vector"] = self.vectors[user_id]
            snapshot["user_vector_state"] = self.states[user_id]
        return snapshot

    async def restore(self, user_id: str, state: dict) -> None:
        """The cards, and the user vector as the last finished session left it: REINFORCE updates of a session
        that was cut off are undone, so the session reruns from the same state. Nothing saved (no session
        finished): the user starts anew. A record from before exact states were kept leaves the vector as is."""
        await super().restore(user_id, state)
        if state and "user_vector_state" not in state:
            return
        saved = ParseDict(state.get("user_vector_state", {"user_id": user_id}), uservec_pb2.UserVectors())
        await self.services.uservec.restore_user(uservec_pb2.RestoreUserRequest(state=saved))
