"""Checkers of how a reply ends (``checking_questions``, ``summary_at_end``): a closing checking question
or none, a TL;DR line, a "Key takeaways" list."""

from __future__ import annotations

import re

from attune.preferences.checkers.registry import CheckResult, register
from attune.preferences.checkers.text import BULLET_ITEM, NUMBERED_ITEM, closing_sentence, ends_with_code, prose

OFFER = re.compile(r"\b(would you like|do you want|want me to|shall i|should i|can i help|anything else|let me know|"
                   r"need (?:any|more)|does (?:that|this|it) (?:help|make sense)|is (?:that|this) (?:clear|helpful)|"
                   r"any (?:other |more |further )?questions|happy to)\b", re.I)


@register("checking_questions.check_learning", "checking_questions.check_code")
def ends_with_checking_question(reply: str) -> CheckResult:
    """The reply ends with one short question (30 words at most) that is not an offer of more help."""
    last = closing_sentence(reply)
    if not last.endswith("?"):
        return CheckResult(False, "does not end with a question")
    if OFFER.search(last):
        return CheckResult(False, f"the closing question offers help instead of checking: {last[:80]!r}")
    words = len(last.split())
    return CheckResult(words <= 30, f"ends with a question of {words} words")


@register("checking_questions.no_questions_medicine")
def no_closing_question(reply: str) -> CheckResult:
    last = closing_sentence(reply)
    if last.endswith("?"):
        return CheckResult(False, f"ends with a question: {last[:80]!r}")
    return CheckResult(True, "does not end with a question")


TLDR = re.compile(r"^[#>*_\s]*tl;?\s*dr\b[*_:.\s-]*(?P<rest>.*)$", re.I)
TAKEAWAYS = re.compile(r"^[#>*_\s]*key takeaways?\b[*_:\s]*$", re.I)


@register("summary_at_end.tldr_long")
def closing_tldr(reply: str) -> CheckResult:
    """The last line is "TL;DR: ...", or a bare TL;DR label followed by one closing line."""
    if ends_with_code(reply):
        return CheckResult(False, "ends with code, not a TL;DR")
    lines = [line for line in reply.splitlines() if line.strip()]
    last = TLDR.match(lines[-1]) if lines else None
    label = TLDR.match(lines[-2]) if len(lines) > 1 else None
    if (last and last["rest"].strip()) or (label and not label["rest"].strip() and not last):
        return CheckResult(True, "ends with a one-line TL;DR")
    return CheckResult(False, "does not end with a one-line TL;DR")


@register("summary_at_end.takeaways_medicine")
def closing_takeaways(reply: str) -> CheckResult:
    """A "Key takeaways" label, then at least two list items; one closing line may follow the list."""
    lines = [line for line in prose(reply).splitlines() if line.strip()]
    labels = [i for i, line in enumerate(lines) if TAKEAWAYS.match(line)]
    if not labels:
        return CheckResult(False, "no \"Key takeaways\" section")
    after = lines[labels[-1] + 1:]
    items = next((i for i, line in enumerate(after) if not _list_item(line)), len(after))
    if items < 2 or len(after) - items > 1 or ends_with_code(reply):
        return CheckResult(False, "\"Key takeaways\" is not a closing list of two or more items")
    return CheckResult(True, f"ends with a \"Key takeaways\" list of {items} items")


def _list_item(line: str) -> bool:
    return bool(NUMBERED_ITEM.match(line) or BULLET_ITEM.match(line))
