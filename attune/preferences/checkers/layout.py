"""Layout checkers (``format_structure``): numbered steps, bullet lists, tables, prose without lists."""

from __future__ import annotations

from attune.preferences.checkers.registry import CheckResult, register
from attune.preferences.checkers.text import BULLET_ITEM, NUMBERED_ITEM, STEP_LABEL, TABLE_RULE, prose


def _tables(text: str) -> int:
    """Markdown tables: a delimiter row (|---|---|) right under a header row with a pipe."""
    lines = text.splitlines()
    return sum(1 for i, line in enumerate(lines) if i and TABLE_RULE.match(line) and "|" in lines[i - 1])


def _counts(reply: str) -> tuple[int, int]:
    """Numbered items (a "Step 2" label counts as one) and bullet points outside code."""
    text = prose(reply)
    return len(NUMBERED_ITEM.findall(text)) + len(STEP_LABEL.findall(text)), len(BULLET_ITEM.findall(text))


@register("format_structure.numbered_steps")
def numbered_steps(reply: str) -> CheckResult:
    """The list must be numbered; whether each step holds one action is not checked."""
    numbered, bullets = _counts(reply)
    if numbered < 2:
        return CheckResult(False, f"no numbered list ({numbered} numbered items, {bullets} bullets)")
    return CheckResult(True, f"{numbered} numbered items")


@register("format_structure.bullets_steps", "format_structure.bullets_unordered")
def bullets_not_numbers(reply: str) -> CheckResult:
    numbered, bullets = _counts(reply)
    if numbered:
        return CheckResult(False, f"{numbered} numbered items")
    if bullets < 2:
        return CheckResult(False, "no bullet list")
    return CheckResult(True, f"{bullets} bullet points, no numbered items")


@register("format_structure.table_compare")
def table(reply: str) -> CheckResult:
    if _tables(prose(reply)):
        return CheckResult(True, "has a markdown table")
    return CheckResult(False, "no markdown table")


@register("format_structure.prose_why")
def no_lists(reply: str) -> CheckResult:
    numbered, bullets = _counts(reply)
    if numbered or bullets:
        return CheckResult(False, f"has list items ({numbered} numbered, {bullets} bullets)")
    return CheckResult(True, "no list items")
