"""The shipped contrast pairs are a fair audit, and the validator that says so can fail."""

from __future__ import annotations

from dataclasses import replace

import pytest

from attune.preferences.contrast import load_pairs, pair_problems, read_group
from attune.preferences.schema import load_schema


def test_every_schema_option_has_a_fair_pair():
    pairs = load_pairs()
    schema = load_schema()
    assert len(pairs) == sum(len(g.options) for g in schema.groups.values())
    assert pair_problems(pairs, schema) == []


def test_the_validator_names_what_makes_a_pair_unfair():
    pairs = dict(load_pairs())
    numbered = pairs["format_structure.numbered_steps"]
    pairs[numbered.preference_id] = replace(numbered, follows=numbered.breaks, query="Tell me about tea.")
    del pairs["tone.casual_general"]
    problems = pair_problems(pairs)
    assert "tone.casual_general: no contrast pair" in problems
    mine = [p for p in problems if p.startswith("format_structure.numbered_steps:")]
    assert any("does not meet the condition" in p for p in mine)
    assert any("the two replies are the same" in p for p in mine)
    assert any("the checker fails the reply that follows" in p for p in mine)


@pytest.mark.parametrize(("text", "problem"), [
    ("- a\n- b\n", "expected a mapping"),
    ("casual:\n  query: hi\n  follows: yes\n", "needs query, follows and breaks"),
    ("casual:\n  query: hi\n  follows: yes\n  breaks: no\n  mood: odd\n", "nothing else"),
    ("casual:\n  query: ''\n  follows: yes\n  breaks: no\n", "empty or non-text"),
])
def test_a_malformed_group_file_is_refused_by_name(text, problem):
    with pytest.raises(ValueError, match=problem):
        read_group("tone", text)
