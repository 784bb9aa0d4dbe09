"""Length checkers (``verbosity_level``): sentence limits, with and without code."""

from __future__ import annotations

from attune.preferences.checkers.registry import CheckResult, register
from attune.preferences.checkers.text import FENCE, sentences


@register("verbosity_level.concise_quick")
def two_or_three_sentences(reply: str) -> CheckResult:
    count = len(sentences(reply))
    return CheckResult(1 <= count <= 3, f"{count} sentences (at most 3 wanted)")


@register("verbosity_level.concise_code")
def code_first_two_sentences(reply: str) -> CheckResult:
    """Code, and at most two sentences of prose of which at most one comes before the code."""
    first = FENCE.search(reply)
    if not first:
        return CheckResult(False, "no code block")
    count, before = len(sentences(reply)), len(sentences(reply[:first.start()]))
    if before > 1:
        return CheckResult(False, f"{before} sentences before the code")
    return CheckResult(count <= 2, f"{count} sentences of prose (at most 2 wanted)")
