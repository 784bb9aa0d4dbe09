"""The checker registry: ``CHECKERS`` by preference id, the ``register`` decorator and the lookups the
judge and the orchestrator use (``check``, ``leaves_a_mark``, ``applied``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

from attune.preferences.schema import load_schema


@dataclass(frozen=True)
class CheckResult:
    passed: bool
    reason: str


Checker = Callable[[str], CheckResult]


def _schema_ids() -> frozenset[str]:
    schema = load_schema()
    return frozenset(schema.preference(group, key).id for group, g in schema.groups.items() for key in g.options)


SCHEMA_IDS = _schema_ids()
CHECKERS: dict[str, Checker] = {}


def register(*preference_ids: str) -> Callable[[Checker], Checker]:
    """Decorator: the checker decides these preferences. An id the shipped schema lacks, or one that
    already has a checker, is refused with ValueError, so a stale id fails at import."""
    def add(checker: Checker) -> Checker:
        for pid in preference_ids:
            if pid not in SCHEMA_IDS:
                raise ValueError(f"no preference {pid!r} in the shipped schema")
            if pid in CHECKERS or preference_ids.count(pid) > 1:
                raise ValueError(f"preference {pid!r} already has a checker")
        CHECKERS.update(dict.fromkeys(preference_ids, checker))
        return checker
    return add


def checker_for(preference_id: str) -> Checker | None:
    return CHECKERS.get(preference_id)


def is_checkable(preference_id: str) -> bool:
    return preference_id in CHECKERS


def check(preference_id: str, reply: str) -> CheckResult | None:
    """The checker's verdict, or None where no program can decide the preference (the LLM judges it)."""
    checker = CHECKERS.get(preference_id)
    return checker(reply) if checker else None


# A reply that applies no preference at all: a checker that fails on it detects a preference's mark.
NEUTRAL_REPLY = "The answer is 4."


@lru_cache(maxsize=1024)
def leaves_a_mark(preference_id: str) -> bool:
    """Whether following the preference shows in a reply (a table, LaTeX, a TL;DR line), so that a
    checker can tell it was applied; "no LaTeX" is followed by any plain reply and shows nothing."""
    result = check(preference_id, NEUTRAL_REPLY)
    return result is not None and not result.passed


def applied(preference_id: str, reply: str) -> CheckResult | None:
    """The checker's view of whether the reply applies the preference (preferences that leave a mark)."""
    return check(preference_id, reply) if leaves_a_mark(preference_id) else None
