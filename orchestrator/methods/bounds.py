"""The bounds a run is calibrated against: ``oracle`` knows the user perfectly, ``anti_oracle`` wrongly.

Neither is a way of remembering a user; both are given the session's ground truth (the preferences
of the user's profile that apply to this session's request, after the conflict plan names the winner)
and play the agent through the same prompt builder as every method, so the only difference is the
memory lines:

- ``oracle``: exactly the applicable preferences, worded as the profile states them.
- ``anti_oracle``: for each of them a rival of the same conflict group from the shipped schema, in the
  same format: the option of the same condition with the opposite preference where the schema has one
  (``variant_of``), else the group's next option. As many lines, as long, pointing the wrong way.

A metric that cannot tell ``oracle`` from ``vanilla`` cannot rank methods at this size; the report
marks both as bounds, never ranks them with the contenders, and gives each method's share of the
oracle gap (docs/benchmark.md, "Bounds").
"""

from __future__ import annotations

from functools import cache

from attune.orchestrator.methods.base import Method, register_method
from attune.orchestrator.prompts import card_line
from attune.preferences.model import Preference
from attune.preferences.schema import Schema, load_schema


@cache
def _schema() -> Schema:
    return load_schema()


def rival(preference: Preference) -> Preference | None:
    """A preference of the same conflict group that contradicts ``preference``; None where the shipped schema
    has no such group (a MultiSessionCollab profile's own ids)."""
    schema = _schema()
    group_name, _, option = preference.id.partition(".")
    group = schema.groups.get(group_name)
    if group is None or option not in group.options:
        return None
    family = next(f for f in group.families() if option in f)
    others = [o for o in family if o != option] or [o for f in group.families() if option not in f for o in f]
    return schema.preference(group_name, others[0]) if others else None


class Bound(Method):
    """A method that sees the session's ground truth (``know``) instead of remembering anything."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.lines: dict[str, list[str]] = {}

    def know(self, user_id: str, applicable: list[Preference]) -> None:
        self.lines[user_id] = [card_line(p.preference, p.condition) for p in self.given(applicable)]

    def given(self, applicable: list[Preference]) -> list[Preference]:
        raise NotImplementedError

    def memory(self, user_id: str) -> list[str]:
        return list(self.lines.get(user_id, []))


@register_method
class Oracle(Bound):
    name = "oracle"
    bound = "upper"

    def given(self, applicable: list[Preference]) -> list[Preference]:
        return list(applicable)


@register_method
class AntiOracle(Bound):
    name = "anti_oracle"
    bound = "lower"

    def given(self, applicable: list[Preference]) -> list[Preference]:
        return [r for r in map(rival, applicable) if r is not None]
