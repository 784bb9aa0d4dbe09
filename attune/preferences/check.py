"""Quality control of one profile: every problem found, as plain sentences."""

from __future__ import annotations

from collections import defaultdict
from itertools import combinations

from attune.preferences.model import DOMAINS, SOURCES, Preference, Profile, Trigger, overlaps

TEXT_FIELDS = ("id", "condition", "preference", "conflict_group", "enforce_if")


def trigger_problems(trigger: Trigger) -> list[str]:
    """Problems of one trigger on its own."""
    problems = []
    if trigger.is_empty():
        problems.append("trigger never holds (no always, domains, cues or languages)")
    if trigger.always and (trigger.domains or trigger.cues or trigger.languages):
        problems.append("trigger sets always together with domains, cues or languages")
    problems += [f"unknown domain {d!r} (expected one of {', '.join(DOMAINS)})"
                 for d in trigger.domains if d not in DOMAINS]
    problems += [f"blank cue or language {v!r}" for v in trigger.cues + trigger.languages if not v.strip()]
    return problems


def pair_problems(a: Preference, b: Preference) -> list[str]:
    """Problems between two preferences of one conflict group."""
    problems = []
    if _norm(a.condition) == _norm(b.condition):
        problems.append(f"{a.id} and {b.id} contradict under the same condition {a.condition!r}")
    if overlaps(a.trigger, b.trigger):
        problems.append(f"{a.id} and {b.id} have triggers that can hold at once on one signal "
                        "(conditions in one conflict group must be disjoint)")
    return problems


def preference_problems(pref: Preference) -> list[str]:
    blank = [f"{pref.id or '(no id)'}: {name} is empty" for name in TEXT_FIELDS if not getattr(pref, name).strip()]
    return blank + [f"{pref.id}: {p}" for p in trigger_problems(pref.trigger)]


def check_profile(profile: Profile) -> list[str]:
    """Quality-control problems of ``profile``; [] when it is fine."""
    problems = []
    if not profile.user_id.strip():
        problems.append("user_id is empty")
    if not profile.persona.strip():
        problems.append("persona is missing")
    if profile.source not in SOURCES:
        problems.append(f"unknown source {profile.source!r} (expected one of {', '.join(SOURCES)})")
    if not profile.preferences:
        problems.append("profile has no preferences")
    seen = set()
    for pref in profile.preferences:
        if pref.id in seen:
            problems.append(f"duplicate preference id {pref.id}")
        seen.add(pref.id)
        problems += preference_problems(pref)
    by_group = defaultdict(list)
    for pref in profile.preferences:
        by_group[pref.conflict_group].append(pref)
    for prefs in by_group.values():
        for a, b in combinations(prefs, 2):
            problems += pair_problems(a, b)
    return problems


def _norm(text: str) -> str:
    return " ".join(text.lower().split())
