"""MultiSessionCollab user profiles (user_profiles.json) as attune profiles.

MSC preferences have no conditions: each becomes an ``always`` preference whose conflict group is its
category. MSC draws one preference per category per user, so groups stay disjoint; should a user
ever hold two preferences of one category, the later ones get groups "<category>_2", "<category>_3"...
because MSC categories are topics, not sets of contradicting options.
"""

from __future__ import annotations

import re

from attune.preferences.model import Preference, Profile, Trigger

ENFORCE = re.compile(r"\s*\bEnforce(?: only)? (?:if|whenever|when)\b\s*", re.IGNORECASE)
MSC_KEYS = {"categories", "preferences", "persona"}


def is_msc(raw) -> bool:
    """Whether parsed JSON looks like MSC's user_profiles.json: a list of users with string preferences."""
    return (isinstance(raw, list) and bool(raw) and all(isinstance(u, dict) and MSC_KEYS <= u.keys() for u in raw)
            and all(isinstance(p, str) for u in raw for p in u["preferences"]))


def split_preference(text: str) -> tuple[str, str]:
    """(preference, enforce_if): MSC writes the rule after "Enforce if" (or "when", "whenever") in one string."""
    parts = ENFORCE.split(text.strip(), maxsplit=1)
    if len(parts) == 2 and parts[1].strip():
        return parts[0].strip(), parts[1].strip().rstrip(".")
    return text.strip(), f"the reply does not follow: {text.strip()}"


def msc_profile(user: dict, index: int) -> Profile:
    number = user.get("i", index)
    user_id = f"msc-{number:03d}" if isinstance(number, int) else f"msc-{number}"
    seen: dict[str, int] = {}
    preferences = []
    for k, (category, text) in enumerate(zip(user["categories"], user["preferences"], strict=True)):
        seen[category] = seen.get(category, 0) + 1
        group = category if seen[category] == 1 else f"{category}_{seen[category]}"
        preference, enforce_if = split_preference(text)
        preferences.append(Preference(id=f"{group}.{k}", condition="always", preference=preference,
                                      conflict_group=group, enforce_if=enforce_if, trigger=Trigger(always=True)))
    return Profile(user_id=user_id, persona=str(user["persona"]), preferences=preferences,
                   source="multisessioncollab")
