"""One assistant path: methods differ only in the memory lines they put in the one prompt.

Pure prompt logic, so the model, extractor and retrieval are stand-ins that
record what they are sent; that the real services answer is tested elsewhere.
"""

from __future__ import annotations

from attune.orchestrator.memory import Services
from attune.orchestrator.methods import Context, Ledger, MethodSettings, method_class
from attune.orchestrator.prompts import BASE_SYSTEM, MEMORY_INTRO, system_prompt
from attune.v1 import common_pb2, extractor_pb2, model_pb2, retrieval_pb2

CARD = common_pb2.PreferenceCard(card_id="c1", user_id="u", condition="always", preference="use bullet points")


class RecordingModel:
    def __init__(self):
        self.requests: list[model_pb2.ChatRequest] = []

    async def chat(self, request):
        self.requests.append(request)
        return model_pb2.ChatResponse(text="ok", usage=common_pb2.TokenUsage(prompt_tokens=3, completion_tokens=1))


class OneCardMemory:
    """Extractor and retrieval that know one card and always select it."""

    async def extract(self, request):
        return extractor_pb2.ExtractResponse()

    async def list_cards(self, request):
        return retrieval_pb2.ListCardsResponse(cards=[CARD])

    async def retrieve(self, request):
        return retrieval_pb2.RetrieveResponse(candidates=[retrieval_pb2.ScoredCard(card=CARD, selected=True)])


class ForgettingMemory(OneCardMemory):
    """An extractor that reads every turn as retracting every card the user has."""

    async def extract(self, request):
        return extractor_pb2.ExtractResponse(removed_card_ids=[c.card_id for c in request.known_cards])


async def prompt_of(name: str, memory_state: dict, memory=None) -> list[tuple[str, str]]:
    model, memory = RecordingModel(), memory or OneCardMemory()
    method = method_class(name)(Services(model, extractor=memory, retrieval=memory), MethodSettings(), seed=7)
    await method.restore("u", memory_state)
    await method.start_session(Context("run", "u", 1))
    await method.respond("u", "How do plants make food?", Ledger())
    (request,) = model.requests
    return [(m.role, m.content) for m in request.messages]


async def test_the_same_memory_gives_the_same_prompt_whatever_the_method():
    cards = {"cards": [{"card_id": "c1", "user_id": "u", "condition": "always", "preference": "use bullet points"}]}
    prompts = {
        "reflection": await prompt_of("reflection", {"notes": "- use bullet points"}),
        "all_memory": await prompt_of("all_memory", cards),
        "rag": await prompt_of("rag", cards),
    }
    assert prompts["reflection"] == prompts["all_memory"] == prompts["rag"]
    assert prompts["rag"][0] == ("system", f"{BASE_SYSTEM}\n{MEMORY_INTRO}\n- use bullet points")


async def test_no_memory_is_the_base_prompt():
    assert await prompt_of("vanilla", {}) == [("system", BASE_SYSTEM), ("user", "How do plants make food?")]
    assert system_prompt(["  ", ""]) == BASE_SYSTEM


async def test_all_memory_drops_the_cards_the_extractor_removes():
    cards = {"cards": [{"card_id": "c1", "user_id": "u", "condition": "always", "preference": "use bullet points"}]}
    assert await prompt_of("all_memory", cards, ForgettingMemory()) == await prompt_of("vanilla", {})
