"""The memory-quality cases: the schema's options, the texts of ``bench/memory_data/cases.yaml`` filled in per
split (statements, other turns, requests, conflicts, revisions, retractions, task problems), and the users that
hold the options as cards.

``train`` families may be used for tuning, ``heldout`` families only to measure (bench/memory_quality.py).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

import yaml

from attune.orchestrator.conflicts.templates import TEMPLATES
from attune.preferences.schema import load_schema
from attune.services.common.cards import card_id
from attune.v1 import common_pb2

CASES = Path(__file__).resolve().parent / "memory_data" / "cases.yaml"
CARDS_PER_USER = 40
# The shipped task samples whose problems are turns that state no preference (task_problems).
GATE_DATASETS = ("math-500", "humaneval", "logiqa", "medqa", "mmlu", "theoremqa")


@dataclass(frozen=True)
class Option:
    key: str
    group: str
    condition: str
    preference: str
    family: str
    # The words that switch the option's condition on (the schema's trigger cues).
    cues: tuple[str, ...] = ()


@dataclass
class Case:
    """A text to run and what it should give: ``option`` (stated or requested), ``rival`` (conflicts)."""

    text: str
    option: str = ""
    rival: str = ""
    family: str = ""


def options() -> dict[str, Option]:
    schema = load_schema()
    out = {}
    for group_name, group in schema.groups.items():
        for key, option in group.options.items():
            out[key] = Option(key, group_name, option.condition, option.preference, option.variant_of or key,
                              tuple(option.trigger.cues))
    return out


def load_cases(path: Path = CASES) -> dict:
    return yaml.safe_load(path.read_text())


def fill(template: str, **values: str) -> str:
    """The template with its placeholders replaced (str.replace: the texts may hold braces), capitalized."""
    for name, value in values.items():
        template = template.replace("{" + name + "}", value)
    return template[:1].upper() + template[1:]


def statements(cases: dict, opts: dict[str, Option], split: str, per_family: int, rng: random.Random) -> list[Case]:
    """Each template of the split's statement families filled with ``per_family`` random options; the
    held-apart split adds the hand-written statements."""
    out = []
    for family, templates in cases["statement_families"][split].items():
        for template in templates:
            for option in rng.sample(sorted(opts.values(), key=lambda o: o.key), per_family):
                out.append(Case(fill(template, condition=option.condition, preference=option.preference,
                                     problem="What is 17 times 23?"), option.key, family=family))
    if split == "heldout":
        out += [Case(s["text"], s["option"], family="handwritten") for s in cases["handwritten_statements"]]
    return out


def negatives(cases: dict, split: str) -> list[Case]:
    return [Case(text.replace("{problem}", "What is 17 times 23?"), family=family)
            for family, texts in cases["negative_families"][split].items() for text in texts]


def requests(cases: dict, opts: dict[str, Option], split: str) -> list[Case]:
    """Held-apart: the hand-written requests; train: the schema's own cues, as the profile generator asks."""
    if split == "heldout":
        return [Case(text, key) for key, texts in cases["requests"].items() for text in texts]
    return [Case(f"{cue[:1].upper()}{cue[1:]}: what is the derivative of x squared?", key)
            for key, option in opts.items() for cue in option.cues[:2]]


def conflicts(cases: dict, split: str) -> list[Case]:
    """Held-apart: the hand-written conflicts; train: the conflict templates the benchmark itself uses."""
    if split == "heldout":
        return [Case(c["text"], c["expected"], next(t for t in c["triggers"] if t != c["expected"]))
                for c in cases["conflicts"]]
    return [Case(t.text.replace("{problem}", "What is the derivative of x squared?"), t.expected,
                 next(x for x in t.triggers if x != t.expected), family=t.id) for t in TEMPLATES]


def pack_users(needs: list[list[str]], opts: dict[str, Option], rng: random.Random) -> tuple[list[list[Option]],
                                                                                                list[int]]:
    """Users for the cases, few of them (each upsert embeds every card): each case's options (``needs``) go to
    the first user that can hold them all (one option a family, 40 cards); then each user is filled up to 40
    with random options of other families. Returns the users' options and each case's user."""
    users: list[list[str]] = []
    home = []
    for need in needs:
        for n, held in enumerate(users):
            families = {opts[k].family for k in held}
            fresh = [k for k in need if k not in held]
            if all(k in held or opts[k].family not in families for k in need) and \
                    len(held) + len(fresh) <= CARDS_PER_USER:
                held += fresh
                home.append(n)
                break
        else:
            users.append(list(dict.fromkeys(need)))
            home.append(len(users) - 1)
    return [fill_up(held, opts, rng) for held in users], home


def fill_up(held: list[str], opts: dict[str, Option], rng: random.Random) -> list[Option]:
    """``held`` plus random options of other families (one option a family, as profiles hold them), 40 in all."""
    families = {opts[k].family for k in held}
    others = [o for o in sorted(opts.values(), key=lambda o: o.key) if o.family not in families]
    rng.shuffle(others)
    chosen = [opts[k] for k in held]
    for option in others:
        if len(chosen) == CARDS_PER_USER:
            break
        if option.family not in families:
            families.add(option.family)
            chosen.append(option)
    return chosen


def card_of(user_id: str, option: Option) -> common_pb2.PreferenceCard:
    return common_pb2.PreferenceCard(card_id=card_id(user_id, option.condition, option.preference), user_id=user_id,
                                     condition=option.condition, preference=option.preference,
                                     conflict_group=option.group, confidence=1.0)


def revisions(cases: dict, opts: dict[str, Option], split: str) -> list[tuple[str, str, str]]:
    """(text, old option, new option) for each update template and each pair of variants (same condition)."""
    pairs = [(o.family, o.key) for o in opts.values() if o.family != o.key]
    out = []
    for templates in cases["update_families"][split].values():
        for template in templates:
            for old, new in pairs:
                out.append((fill(template, condition=opts[old].condition, old_preference=opts[old].preference,
                                 new_preference=opts[new].preference), old, new))
    return out


def retractions(cases: dict, opts: dict[str, Option], split: str, per_family: int,
                rng: random.Random) -> list[tuple[str, str]]:
    out = []
    for templates in cases["forget_families"][split].values():
        for template in templates:
            for option in rng.sample(sorted(opts.values(), key=lambda o: o.key), per_family):
                out.append((fill(template, condition=option.condition, preference=option.preference), option.key))
    return out


def task_problems(split: str) -> list[str]:
    """The problems of each shipped task sample: train the first half, held-apart the second."""
    from attune.orchestrator.tasks.registry import load_problems

    out = []
    for name in GATE_DATASETS:
        problems = [p.question[:500] for p in load_problems(name)]
        half = len(problems) // 2
        out += problems[:half] if split == "train" else problems[half:]
    return out
