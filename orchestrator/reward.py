"""Reward inference: how the user's next turn judges the assistant's last reply.

A reward lies in [-1, 1]: re-stating a preference (enforcement) or voicing
disappointment is negative; thanks, praise, or simply moving on is positive.
Two scorers share one interface: a fast rule-based one and one that asks the
model service (JSON constrained) for a verdict.
"""

from __future__ import annotations

import json
import math
import re
from typing import Protocol

from attune.services.model.client import chat_request

NEGATIVE = re.compile(
    r"\b(i (said|asked|told you)|as i said|again[,.!]|(that's|that is|this is) (not|wrong)|not what i|"
    r"wrong|too (long|short|verbose|wordy|brief)|(you|u) (forgot|ignored|didn't|did not)|please remember|"
    r"remember (that|i)|i (prefer|want|need)|stop|don't|do not|no[,.!]|why did you|useless|not helpful|"
    r"still (not|wrong)|disappoint)", re.IGNORECASE)
POSITIVE = re.compile(
    r"\b(thanks|thank you|thx|great|perfect|awesome|excellent|nice|helpful|exactly|that works|got it|"
    r"makes sense|well done|good job|love it|cool)\b", re.IGNORECASE)


def expresses_dissatisfaction(text: str) -> bool:
    """Whether a user's message complains or corrects more than it thanks (the rule scorer's cues)."""
    return len(NEGATIVE.findall(text)) > len(POSITIVE.findall(text))


class RewardScorer(Protocol):
    async def score(self, reply: str, next_turn: str) -> float:
        """Reward in [-1, 1] that ``next_turn`` gives ``reply``."""


class RuleRewardScorer:
    """Cue words, no model call. Moving on without complaint counts as mildly positive."""

    name = "rules"

    def __init__(self, moving_on: float = 0.3):
        self.moving_on = moving_on

    async def score(self, reply: str, next_turn: str) -> float:
        negative = len(NEGATIVE.findall(next_turn))
        positive = len(POSITIVE.findall(next_turn))
        if negative > positive:
            return -1.0 if negative >= 2 else -0.7
        if positive > negative:
            return 1.0 if positive >= 2 else 0.8
        return self.moving_on if not negative else 0.0


REWARD_SCHEMA = json.dumps({
    "type": "object", "additionalProperties": False, "required": ["verdict"],
    "properties": {"verdict": {"enum": ["satisfied", "neutral", "unsatisfied"]}},
})
VERDICT_REWARD = {"satisfied": 1.0, "neutral": 0.2, "unsatisfied": -1.0}
SYSTEM = ("You judge how a user reacted to an assistant's reply. If the user thanks, praises or moves on to "
          "something new, answer satisfied. If the user repeats a request, corrects the assistant, or complains, "
          "answer unsatisfied. Otherwise neutral. Answer JSON only.")


class LLMRewardScorer:
    """Asks the model service for satisfied / neutral / unsatisfied; falls back to rules on bad output.

    ``fallbacks`` counts the scores the fallback gave: the rules give the verdicts' values too,
    so the reward alone does not tell which of the two answered.
    """

    name = "llm"

    def __init__(self, model, fallback: RewardScorer | None = None):
        self.model = model
        self.fallback = fallback or RuleRewardScorer()
        self.fallbacks = 0

    async def score(self, reply: str, next_turn: str) -> float:
        prompt = f"Assistant's reply:\n{reply[-1500:]}\n\nUser's next message:\n{next_turn[:1500]}"
        answer = await self.model.chat(chat_request([("system", SYSTEM), ("user", prompt)], max_tokens=16,
                                                    caller_role="reward", json_schema=REWARD_SCHEMA))
        try:
            return VERDICT_REWARD[json.loads(answer.text)["verdict"]]
        except (json.JSONDecodeError, KeyError, TypeError):
            self.fallbacks += 1
            return await self.fallback.score(reply, next_turn)


def clamp_reward(value: float) -> float:
    """A reward from outside (explicit feedback) as a finite number in [-1, 1]."""
    if not math.isfinite(value):
        raise ValueError(f"reward must be a finite number, got {value}")
    return max(-1.0, min(1.0, value))
