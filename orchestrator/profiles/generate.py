"""Profiles drawn from the schema with a seeded random generator (no model)."""

from __future__ import annotations

import random

from attune.preferences.model import Preference, Profile, ProfileError
from attune.preferences.schema import Schema


def profile_rng(kind: str, seed: int, index: int, attempt: int = 0) -> random.Random:
    """One generator per profile: profile i is the same whatever n is (string seeds are stable across runs)."""
    return random.Random(f"attune-{kind}:{seed}:{index}:{attempt}")


def persona_line(schema: Schema, rng: random.Random) -> str:
    blocks = schema.persona
    return blocks.line(rng.choice(blocks.traits), rng.choice(blocks.roles), rng.choice(blocks.goals))


def draw_preferences(schema: Schema, per_profile: int, rng: random.Random,
                     chosen: dict[str, str] | None = None) -> list[Preference]:
    """``per_profile`` preferences, at most one per option family, every group represented when there is room.

    ``chosen`` (group -> option) is kept as given; the rest is drawn around it. Returned in schema order.
    """
    if per_profile > schema.capacity():
        raise ProfileError(f"asked for {per_profile} preferences per profile; the schema holds at most "
                           f"{schema.capacity()} (one per option family)")
    chosen = chosen or {}
    picks = set(chosen.items())
    pools = {group: _free_families(schema, group, chosen.get(group)) for group in schema.groups}
    for group in schema.groups:
        rng.shuffle(pools[group])
    firsts = [(g, pools[g].pop()) for g in schema.groups if g not in chosen and pools[g]]
    room = per_profile - len(picks)
    if room <= len(firsts):
        drawn = rng.sample(firsts, max(room, 0))
    else:
        rest = [(g, family) for g in schema.groups for family in pools[g]]
        drawn = firsts + rng.sample(rest, room - len(firsts))
    picks |= {(g, rng.choice(family)) for g, family in drawn}
    return [schema.preference(g, o) for g, group in schema.groups.items() for o in group.options if (g, o) in picks]


def _free_families(schema: Schema, group: str, taken: str | None) -> list[list[str]]:
    return [family for family in schema.groups[group].families() if taken not in family]


def generate_from_schema(schema: Schema, n: int, seed: int, per_profile: int = 40) -> list[Profile]:
    """``n`` profiles; the same (schema, n, seed) always gives the same profiles."""
    profiles = []
    for i in range(n):
        rng = profile_rng("schema", seed, i)
        profiles.append(Profile(user_id=f"user-{seed}-{i:03d}", persona=persona_line(schema, rng),
                                preferences=draw_preferences(schema, per_profile, rng), source="schema"))
    return profiles
