"""Contrast pairs: for every preference of the schema, two replies to one request that differ in that
preference's property alone, one that follows it and one that breaks it (data/contrast/<group>.yaml).

The judge audit (orchestrator/benchmark/judging.py) asks the judge about both replies the way it asks
about a real reply, so a judge that always says "yes" falsely accepts every broken reply and one that
always says "no" falsely rejects every followed one: the audit can fail, for the preferences a checker
decides and, above all, for those only the LLM can see. ``pair_problems`` holds the data to that
standard: every schema option has a pair, the request meets the option's condition, the two replies
differ, and where a checker exists it passes the one and fails the other.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import yaml

from attune.preferences import checkers
from attune.preferences.model import QueryContext
from attune.preferences.schema import Schema, load_schema

SHIPPED = resources.files(__package__) / "data" / "contrast"
REQUIRED, OPTIONAL = {"query", "follows", "breaks"}, {"domain", "language"}


@dataclass(frozen=True)
class ContrastPair:
    preference_id: str
    query: str
    domain: str
    language: str
    follows: str
    breaks: str

    def context(self) -> QueryContext:
        return QueryContext(text=self.query, domain=self.domain, language=self.language)


def read_group(group: str, text: str) -> list[ContrastPair]:
    """The pairs of one group's file (``option: {query, domain, language, follows, breaks}``, the domain
    "general" and the language "" unless given); ValueError names what is wrong."""
    raw = yaml.safe_load(text) or {}
    if not isinstance(raw, dict):
        raise ValueError(f"contrast/{group}.yaml: expected a mapping of option to pair")
    pairs = []
    for option, fields in raw.items():
        if not isinstance(fields, dict) or not REQUIRED <= set(fields) <= REQUIRED | OPTIONAL:
            raise ValueError(f"contrast/{group}.yaml: {option} needs query, follows and breaks "
                             "(and may give domain and language), nothing else")
        if not all(isinstance(fields[k], str) and fields[k].strip() for k in REQUIRED):
            raise ValueError(f"contrast/{group}.yaml: {option} has an empty or non-text field")
        pairs.append(ContrastPair(f"{group}.{option}", fields["query"].strip(), str(fields.get("domain", "general")),
                                  str(fields.get("language", "")), fields["follows"].strip(),
                                  fields["breaks"].strip()))
    return pairs


@lru_cache(maxsize=1)
def load_pairs() -> dict[str, ContrastPair]:
    """Every shipped pair by preference id."""
    pairs = {}
    for entry in sorted(SHIPPED.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".yaml"):
            pairs.update((p.preference_id, p) for p in read_group(entry.name.removesuffix(".yaml"),
                                                                   entry.read_text(encoding="utf-8")))
    return pairs


def pair_problems(pairs: dict[str, ContrastPair], schema: Schema | None = None) -> list[str]:
    """What keeps the pairs from being a fair audit; empty when they are one."""
    schema = schema or load_schema()
    wanted = {f"{g}.{k}": (g, k) for g, group in schema.groups.items() for k in group.options}
    problems = [f"{pid}: no such option in the schema" for pid in pairs if pid not in wanted]
    problems += [f"{pid}: no contrast pair" for pid in wanted if pid not in pairs]
    for pid, pair in pairs.items():
        if pid in wanted:
            problems += [f"{pid}: {p}" for p in _pair_problems(pair, schema.preference(*wanted[pid]))]
    return problems


def _pair_problems(pair: ContrastPair, preference) -> list[str]:
    problems = []
    if not preference.trigger.holds(pair.context()):
        problems.append(f"the query does not meet the condition ({preference.condition})")
    if pair.follows == pair.breaks:
        problems.append("the two replies are the same")
    follows, breaks = checkers.check(pair.preference_id, pair.follows), checkers.check(pair.preference_id, pair.breaks)
    if follows is not None and not follows.passed:
        problems.append(f"the checker fails the reply that follows: {follows.reason}")
    if breaks is not None and breaks.passed:
        problems.append(f"the checker passes the reply that breaks: {breaks.reason}")
    return problems
