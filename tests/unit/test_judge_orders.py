"""Conflicts are asked in both orders of the rivals: the LLM's choice counts only when both orders agree.

Pure logic of combining the two answers, so the model is scripted: one answers by the position ("A" always),
one by the content (the card whose text it prefers, wherever it is listed).
"""

from __future__ import annotations

import json

import pytest

from attune.services.judge.core import JudgeService
from attune.services.judge.settings import JudgeSettings
from attune.v1 import common_pb2, judge_pb2, model_pb2

# No checker sees either (tone), so the LLM decides.
CASUAL, FORMAL = "tone.casual_general", "tone.formal_general"


class Scripted:
    """Answers every conflict question with ``pick(a_text, b_text)``, a letter."""

    def __init__(self, pick):
        self.pick = pick

    async def get_info(self, request=None):
        return model_pb2.ModelInfo(model="scripted", backend="test")

    async def chat(self, request):
        text = request.messages[-1].content
        a = text.split("\nA: ", 1)[1].split("\nB: ", 1)[0]
        b = text.split("\nB: ", 1)[1]
        answer = {"followed": self.pick(a, b), "reason": "scripted"}
        return model_pb2.ChatResponse(text=json.dumps(answer), usage=common_pb2.TokenUsage(prompt_tokens=7))


def card(card_id: str) -> common_pb2.PreferenceCard:
    return common_pb2.PreferenceCard(card_id=card_id, preference=card_id.replace(".", " "), condition="always",
                                     conflict_group="tone")


async def ask(pick, expected: str) -> judge_pb2.Verdict:
    judge = JudgeService(JudgeSettings(retries=0), Scripted(pick))
    await judge.start()
    return await judge.judge_conflict(judge_pb2.ConflictRequest(
        query="Explain recursion.", reply="Hey! So recursion is...", triggered=[card(CASUAL), card(FORMAL)],
        expected_card_id=expected))


async def test_a_choice_that_follows_the_position_is_no_opinion():
    verdict = await ask(lambda a, b: "A", expected=CASUAL)
    assert list(verdict.positions) == ["A", "A"]
    assert verdict.llm == judge_pb2.OPINION_UNJUDGED and verdict.unjudged and verdict.decided_by == "llm"
    assert "followed the order" in verdict.reason
    assert verdict.usage.prompt_tokens == 14, "two questions asked"


@pytest.mark.parametrize(("expected", "opinion"), [(CASUAL, judge_pb2.OPINION_YES), (FORMAL, judge_pb2.OPINION_NO)])
async def test_a_choice_that_follows_the_content_counts_in_both_directions(expected, opinion):
    verdict = await ask(lambda a, b: "A" if "casual" in a else "B", expected=expected)
    assert verdict.llm == opinion and verdict.passed == (opinion == judge_pb2.OPINION_YES)
    assert list(verdict.positions) == (["A", "B"] if expected == CASUAL else ["B", "A"])
    assert not verdict.unjudged and verdict.decided_by == "llm"
