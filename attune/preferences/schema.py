"""The preference schema: conflict groups, their options, and persona building blocks (data/schema.yaml)."""

from __future__ import annotations

import re
from importlib import resources
from itertools import combinations
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from attune.preferences.check import trigger_problems
from attune.preferences.model import Preference, ProfileError, Trigger, overlaps

# Package data: read through importlib.resources, so an installed wheel finds it as a checkout does.
SHIPPED = resources.files(__package__) / "data" / "schema.yaml"
NAME = re.compile(r"^[a-z][a-z0-9_]*$")


class Option(BaseModel):
    """One preference a user of this group may hold. ``variant_of`` names an option with the same
    condition but the opposite preference: a profile holds at most one option of such a family."""

    model_config = ConfigDict(extra="forbid")

    condition: str = Field(min_length=1)
    preference: str = Field(min_length=1)
    enforce_if: str = Field(min_length=1)
    trigger: Trigger
    variant_of: str | None = None


class Group(BaseModel):
    model_config = ConfigDict(extra="forbid")

    description: str = Field(min_length=1)
    options: dict[str, Option]

    def families(self) -> list[list[str]]:
        """Option ids grouped with their variants, base option first, in schema order."""
        families: dict[str, list[str]] = {}
        for key, option in self.options.items():
            families.setdefault(option.variant_of or key, []).append(key)
        return list(families.values())


class PersonaBlocks(BaseModel):
    """A persona line is "A <trait> <role> who is <goal>."."""

    model_config = ConfigDict(extra="forbid")

    traits: list[str] = Field(min_length=1)
    roles: list[str] = Field(min_length=1)
    goals: list[str] = Field(min_length=1)

    def line(self, trait: str, role: str, goal: str) -> str:
        article = "An" if trait[:1].lower() in "aeiou" else "A"
        return f"{article} {trait} {role} who is {goal}."


class Schema(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: int = 1
    persona: PersonaBlocks
    groups: dict[str, Group]

    def preference(self, group: str, option: str) -> Preference:
        opt = self.groups[group].options[option]
        return Preference(id=f"{group}.{option}", condition=opt.condition, preference=opt.preference,
                          conflict_group=group, enforce_if=opt.enforce_if, trigger=opt.trigger.model_copy(deep=True))

    def capacity(self) -> int:
        """How many preferences one profile can hold at most: one per option family."""
        return sum(len(g.families()) for g in self.groups.values())


def schema_problems(schema: Schema) -> list[tuple[str, str]]:
    """(field, problem) pairs: bad names, dangling variants, invalid triggers, families whose triggers overlap."""
    problems = []
    for name, group in schema.groups.items():
        where = f"groups.{name}"
        if not NAME.match(name):
            problems.append((where, "group names are lowercase snake_case"))
        if len(group.families()) < 2:
            problems.append((where, "a conflict group needs at least two option families"))
        for key, option in group.options.items():
            problems += [(f"{where}.options.{key}", p) for p in _option_problems(group, key, option)]
        problems += [(where, p) for p in _family_overlaps(group)]
    return problems


def _option_problems(group: Group, key: str, option: Option) -> list[str]:
    problems = [] if NAME.match(key) else ["option names are lowercase snake_case"]
    base = group.options.get(option.variant_of) if option.variant_of else None
    if option.variant_of and (base is None or base.variant_of):
        problems.append(f"variant_of {option.variant_of!r} is not a base option of this group")
    return problems + [f"trigger: {p}" for p in trigger_problems(option.trigger)]


def _family_overlaps(group: Group) -> list[str]:
    problems = []
    for fa, fb in combinations(group.families(), 2):
        for a in fa:
            problems += [f"options {a} and {b} overlap: their conditions must be disjoint"
                         for b in fb if overlaps(group.options[a].trigger, group.options[b].trigger)]
    return problems


def load_schema(path: str | Path | None = None) -> Schema:
    """Read and validate a schema file; ``None`` is the shipped one. Raises ProfileError naming the field."""
    path = Path(path) if path is not None else SHIPPED
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise ProfileError(f"cannot read schema ({err.strerror or err})", path=path) from None
    except yaml.YAMLError as err:
        raise ProfileError(f"not valid YAML ({err})", path=path) from None
    try:
        schema = Schema.model_validate(raw)
    except ValidationError as err:
        first = err.errors()[0]
        field = ".".join(str(part) for part in first["loc"]) or "(top level)"
        raise ProfileError(first["msg"], path=path, field=field) from None
    problems = schema_problems(schema)
    if problems:
        raise ProfileError("; ".join(f"{field}: {problem}" for field, problem in problems), path=path)
    return schema
