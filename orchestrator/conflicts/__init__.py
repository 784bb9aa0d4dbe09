"""Conflict queries: a task problem wrapped in a message that triggers two preferences of one group."""

from __future__ import annotations

import random
from dataclasses import dataclass

from attune.orchestrator.conflicts.templates import PLACEHOLDER, TEMPLATES, ConflictTemplate
from attune.orchestrator.profiles import Profile, QueryContext, applicable

__all__ = ["TEMPLATES", "ConflictQuery", "ConflictTemplate", "make_conflict", "render", "should_conflict"]


@dataclass(frozen=True)
class ConflictQuery:
    template_id: str
    group: str
    text: str
    triggered: tuple[str, ...]
    expected: str


def render(template: ConflictTemplate, problem_text: str) -> str:
    # str.replace, not str.format: problems often contain braces (code, LaTeX).
    return template.text.replace(PLACEHOLDER, problem_text)


def make_conflict(profile: Profile, problem_text: str, domain: str, rng: random.Random) -> ConflictQuery | None:
    """A conflict query for this profile, or None when no template fits.

    A template fits when the profile holds all the options it triggers, its domain matches, and the
    rendered query switches on exactly those preferences of the group (no third option, e.g. from
    a cue inside the problem), so that the expected one is well defined.
    """
    fitting = [q for t in TEMPLATES if t.domain in (None, domain) and (q := _query(t, profile, problem_text, domain))]
    return rng.choice(fitting) if fitting else None


def _query(template: ConflictTemplate, profile: Profile, problem_text: str, domain: str) -> ConflictQuery | None:
    ids = tuple(f"{template.group}.{option}" for option in template.triggers)
    held = set(profile.ids())
    if not all(i in held for i in ids):
        return None
    text = render(template, problem_text)
    switched_on = {p.id for p in applicable(profile, QueryContext(text=text, domain=domain))
                   if p.conflict_group == template.group}
    if switched_on != set(ids):
        return None
    return ConflictQuery(template.id, template.group, text, ids, f"{template.group}.{template.expected}")


def should_conflict(rng: random.Random, share: float = 0.3) -> bool:
    """Whether the next query should be a conflict query; true for about ``share`` of calls."""
    if not 0.0 <= share <= 1.0:
        raise ValueError(f"share must lie in [0, 1], got {share}")
    return rng.random() < share
