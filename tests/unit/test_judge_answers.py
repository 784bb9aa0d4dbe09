"""The judge reads the LLM's per-preference answers only from an object, whatever a cut answer repairs to."""

from __future__ import annotations

import pytest

from attune.services.judge.core import answers_by_id, parse_json


@pytest.mark.parametrize(("text", "expected"), [
    ('{"followed": {"a": true, "b": false}, "reason": "ok"}', {"a": True, "b": False}),
    # SmolLM2 cut at 16 tokens inside its first id (found by fuzzing JudgeCompliance): it repairs to a list,
    # which used to reach `answers.get` and fail the RPC with INTERNAL.
    ('{"followed": {"fuzz-card"', {}),
    ('{"followed": "yes"}', {}),
    ('{"followed": null}', {}),
    ('{"reason": "no decision"}', {}),
])
def test_answers_by_id_is_an_object_or_nothing(text, expected):
    assert answers_by_id(parse_json(text), "followed") == expected


def test_a_cut_answer_repairs_to_a_list():
    """The case above is real: json_repair turns the cut object into a list of its keys."""
    assert parse_json('{"followed": {"fuzz-card"') == {"followed": ["fuzz-card"]}
