"""The session ledger's timing: parts time exclusively, and merging adds seconds as it adds tokens."""

from __future__ import annotations

import time

import pytest

from attune.orchestrator.methods.base import Ledger
from attune.v1 import common_pb2


def test_a_part_opened_inside_another_stops_the_outer_clock():
    ledger = Ledger()
    with ledger.timed("upkeep"):
        time.sleep(0.05)
        with ledger.timed("memory"):
            time.sleep(0.1)
        time.sleep(0.05)
    assert ledger.seconds["memory"] == pytest.approx(0.1, abs=0.04)
    assert ledger.seconds["upkeep"] == pytest.approx(0.1, abs=0.04), "the inner 0.1 s is not the outer part's"


def test_a_part_raising_is_still_timed_and_closed():
    ledger = Ledger()
    with pytest.raises(ValueError), ledger.timed("recall"):
        raise ValueError("boom")
    assert set(ledger.seconds) == {"recall"}
    with ledger.timed("agent"):
        pass
    assert ledger.seconds["recall"] < 0.05, "recall's clock stopped when it raised"


def test_merge_adds_seconds_and_tokens():
    first, second = Ledger(), Ledger()
    first.seconds, second.seconds = {"agent": 1.0}, {"agent": 0.5, "recall": 2.0}
    second.add("agent", common_pb2.TokenUsage(prompt_tokens=3, completion_tokens=4))
    first.merge(second)
    assert first.seconds == {"agent": 1.5, "recall": 2.0}
    assert first.tokens == {"agent": {"prompt": 3, "completion": 4, "calls": 1}}
