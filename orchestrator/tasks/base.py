"""The shapes every task dataset shares: a problem, a score, the dataset base class and its registration.

A dataset turns records in its native field layout (the layout of its hub copy,
which is also the layout of the sample shipped here) into `Problem`s, scores a
reply against a problem, and phrases the problem as a user would ask it.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import TypeVar

from attune.orchestrator.tasks import sources
from attune.orchestrator.tasks.errors import TaskError


@dataclass(frozen=True)
class Problem:
    dataset: str
    id: str
    question: str
    reference: str
    kind: str
    domain: str
    tests: str = ""
    entry_point: str = ""
    meta: dict = field(default_factory=dict, compare=False, hash=False)


@dataclass(frozen=True)
class Score:
    correct: bool
    detail: str


def text_id(text: str) -> str:
    """A stable id from a problem's text, for layouts that carry no id of their own."""
    return hashlib.sha1(text.encode()).hexdigest()[:12]


def unique_ids(problems: list[Problem]) -> list[Problem]:
    """Repeated ids (duplicate items in a source) get "-2", "-3"... in file order."""
    seen: dict[str, int] = {}
    unique = []
    for problem in problems:
        seen[problem.id] = seen.get(problem.id, 0) + 1
        count = seen[problem.id]
        unique.append(problem if count == 1 else replace(problem, id=f"{problem.id}-{count}"))
    return unique


def pick(items: list, limit: int | None, seed: int) -> list:
    """All items in file order, or `limit` of them after a shuffle seeded by `seed`."""
    if limit is None:
        return list(items)
    if limit < 0:
        raise TaskError(f"limit must be >= 0, got {limit}")
    order = list(range(len(items)))
    random.Random(seed).shuffle(order)
    return [items[i] for i in order[:limit]]


class TaskDataset:
    """One benchmark dataset. Subclasses set the class attributes and implement `parse`, `score`, `prompt`."""

    name: str = ""
    kind: str = ""
    domain: str = ""
    default_hub_id: str = ""
    hub_config: str | None = None
    hub_split: str = "test"
    sample_file: str = ""  # file name under orchestrator/tasks/samples/, "" when none is shipped
    no_sample_reason: str = ""
    request: str = ""  # said after the question in the plain prompt

    @property
    def sample_available(self) -> bool:
        return bool(self.sample_file)

    def load(self, source: str | Path | None = None, *, limit: int | None = None, seed: int = 0) -> list[Problem]:
        """Problems from the shipped sample (None), the hub ("hub" or "hub:<id>") or a local file or folder."""
        records = self.records(source)
        try:
            problems = self.parse(records, seed)
        except (AttributeError, KeyError, TypeError, ValueError, IndexError, SyntaxError) as err:
            raise TaskError(f"{self.name}: {describe(source)} is not in the {self.name} layout: {err!r}") from None
        if not problems:
            raise TaskError(f"{self.name}: {describe(source)} holds no problems")
        return pick(unique_ids(problems), limit, seed)

    def records(self, source: str | Path | None) -> list[dict]:
        if source is None:
            return self.sample_records()
        try:
            if isinstance(source, str) and (source == "hub" or source.startswith("hub:")):
                return sources.read_hub(source[4:] or self.default_hub_id, self.hub_config, self.hub_split)
            return sources.read_path(Path(source))
        except TaskError as err:
            raise TaskError(f"{self.name}: {err}") from None

    def sample_records(self) -> list[dict]:
        if not self.sample_file:
            hub = f" or source='hub' (hub id {self.default_hub_id})" if self.default_hub_id else ""
            raise TaskError(f"{self.name}: no sample ships with attune ({self.no_sample_reason}); "
                            f"pass a local copy as source=PATH{hub}")
        sample = resources.files("attune.orchestrator.tasks") / "samples" / self.sample_file
        with resources.as_file(sample) as path:
            return sources.read_path(path)

    def parse(self, records: list[dict], seed: int) -> list[Problem]:
        """Records in the native layout -> problems. `seed` matters only where options are shuffled."""
        raise NotImplementedError

    def score(self, problem: Problem, answer: str) -> Score:
        raise NotImplementedError

    def prompt(self, problem: Problem, step_by_step: bool = False) -> str:
        """The user's first message: the question, then either `request` or an ask to go step by step together."""
        return f"{problem.question.strip()}\n\n{STEP_BY_STEP if step_by_step else self.request}".strip()

    def make(self, id: str, question: str, reference: str, **extra) -> Problem:
        return Problem(dataset=self.name, id=str(id), question=question, reference=reference,
                       kind=self.kind, domain=extra.pop("domain", self.domain), **extra)


DATASETS: dict[str, TaskDataset] = {}
D = TypeVar("D", bound=TaskDataset)


def register_dataset(cls: type[D]) -> type[D]:
    """Class decorator: adds an instance of the dataset class to DATASETS under its `name`.

    It lives here rather than in registry.py because the dataset modules use it and registry.py imports them.
    """
    if not cls.name:
        raise ValueError(f"{cls.__name__} has no name to register it under")
    if cls.name in DATASETS:
        raise ValueError(f"dataset {cls.name!r} is already registered (by {type(DATASETS[cls.name]).__name__})")
    DATASETS[cls.name] = cls()
    return cls


def describe(source: str | Path | None) -> str:
    return "the shipped sample" if source is None else str(source)


STEP_BY_STEP = ("Can we work through it step by step together? Walk me through your reasoning one step at a time "
                "and check with me before moving on.")
