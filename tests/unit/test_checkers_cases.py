"""Every checker against the replies that follow it and the replies that break it (tests/fixtures/checker_replies.py,
one table per family of checkers: layout, verbosity, code, notation, closing, units, markup)."""

from __future__ import annotations

import pytest

from attune.preferences.checkers import check
from tests.fixtures.checker_replies import CASES, CSHARP_CAMEL, PY_CAMEL, PY_UNDOCUMENTED, SQL_CAMEL

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


def test_reasons_name_what_broke_the_rule():
    assert "wordCounts" in check("code_naming.snake_python", PY_CAMEL).reason
    assert "display_name" not in check("code_naming.snake_sql", SQL_CAMEL).reason
    assert "UserAccounts" in check("code_naming.snake_sql", SQL_CAMEL).reason
    assert "getCount" in check("code_naming.pascal_csharp", CSHARP_CAMEL).reason
    assert "median" in check("code_comments.docstrings_code", PY_UNDOCUMENTED).reason
