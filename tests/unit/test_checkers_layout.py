"""Layout checkers (``format_structure``): each against replies that follow and break it."""

from __future__ import annotations

import pytest

from attune.preferences.checkers import check
from tests.fixtures.checker_replies import LAYOUT_CASES as CASES

FOLLOWS = [(pid, reply) for pid, (good, _) in CASES.items() for reply in good]
BREAKS = [(pid, reply) for pid, (_, bad) in CASES.items() for reply in bad]


@pytest.mark.parametrize(("pid", "reply"), FOLLOWS)
def test_follows(pid, reply):
    result = check(pid, reply)
    assert result.passed, result.reason


@pytest.mark.parametrize(("pid", "reply"), BREAKS)
def test_breaks(pid, reply):
    result = check(pid, reply)
    assert not result.passed, result.reason
    assert result.reason
