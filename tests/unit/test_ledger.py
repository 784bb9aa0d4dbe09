"""The session ledger's timing: parts time exclusively, and merging adds seconds as it adds tokens."""

from __future__ import annotations

import pytest

from attune.orchestrator.methods.base import Ledger
from attune.v1 import common_pb2


class Clock:
    """A clock the test moves by hand: the ledger reads it at every switch of part."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_part_opened_inside_another_stops_the_outer_clock():
    clock = Clock()
    ledger = Ledger(clock=clock)
    with ledger.timed("upkeep"):
        clock.now += 1.0
        with ledger.timed("memory"):
            clock.now += 4.0
        clock.now += 2.0
    clock.now += 8.0  # after every part closed: nobody's time
    assert ledger.seconds == {"upkeep": 3.0, "memory": 4.0}, "the inner 4 s are not the outer part's"


def test_a_part_raising_is_still_timed_and_closed():
    clock = Clock()
    ledger = Ledger(clock=clock)
    with pytest.raises(ValueError, match="boom"):
        fail_inside(ledger, clock)
    clock.now += 5.0
    with ledger.timed("agent"):
        clock.now += 2.0
    assert ledger.seconds == {"recall": 1.0, "agent": 2.0}, "recall's clock stopped when it raised"


def fail_inside(ledger: Ledger, clock: Clock) -> None:
    with ledger.timed("recall"):
        clock.now += 1.0
        raise ValueError("boom")


def test_merge_adds_seconds_and_tokens():
    first, second = Ledger(), Ledger()
    first.seconds, second.seconds = {"agent": 1.0}, {"agent": 0.5, "recall": 2.0}
    second.add("agent", common_pb2.TokenUsage(prompt_tokens=3, completion_tokens=4))
    first.merge(second)
    assert first.seconds == {"agent": 1.5, "recall": 2.0}
    assert first.tokens == {"agent": {"prompt": 3, "completion": 4, "calls": 1}}
