"""Markup checkers (``markup``): headings, bold terms, no markdown at all, no headings or bold."""

from __future__ import annotations

import re

from attune.preferences.checkers.registry import CheckResult, register
from attune.preferences.checkers.text import BOLD, BULLET_ITEM, HEADING, NUMBERED_ITEM, TABLE_RULE, plain_prose, prose

ITALIC = re.compile(r"(?<![*\w])\*(?=\S)[^*\n]+?(?<=\S)\*(?![*\w])|(?<![_\w])_(?=\S)[^_\n]+?(?<=\S)_(?![_\w])")
MARKDOWN = {
    "headings": HEADING, "bold": BOLD, "italics": ITALIC, "bullets": BULLET_ITEM, "numbered items": NUMBERED_ITEM,
    "code": re.compile(r"`"), "links": re.compile(r"\[[^\]\n]+\]\([^)\s]+\)"),
    "quotes": re.compile(r"^ {0,3}>\s", re.M), "tables": TABLE_RULE,
    "rules": re.compile(r"^ {0,3}(?:-{3,}|\*{3,}|_{3,})\s*$", re.M),
}


@register("markup.headings_long")
def headings(reply: str) -> CheckResult:
    count = len(HEADING.findall(prose(reply)))
    return CheckResult(count >= 2, f"{count} markdown headings (2 or more wanted)")


@register("markup.no_markdown_plain")
def no_markdown(reply: str) -> CheckResult:
    found = [name for name, pattern in MARKDOWN.items() if pattern.search(reply)]
    if found:
        return CheckResult(False, f"markdown: {', '.join(found)}")
    return CheckResult(True, "no markdown")


@register("markup.bold_science")
def bold_terms(reply: str) -> CheckResult:
    """Some term is bold; which terms count as key is the LLM's call and is not checked."""
    count = len(BOLD.findall(plain_prose(reply)))
    return CheckResult(count > 0, f"{count} bold terms")


@register("markup.minimal_markup_code")
def no_headings_or_bold(reply: str) -> CheckResult:
    text = plain_prose(reply)
    found = [name for name, pattern in (("headings", HEADING), ("bold", BOLD)) if pattern.search(text)]
    if found:
        return CheckResult(False, f"uses {' and '.join(found)}")
    return CheckResult(True, "no headings or bold")
