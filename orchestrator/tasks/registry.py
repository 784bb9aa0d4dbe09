"""The registry of task datasets, by name.

Each dataset class registers itself with `@register_dataset` (tasks/base.py); importing the modules below
is what fills DATASETS, so a new dataset is one decorated class in one of them.
"""

from __future__ import annotations

from pathlib import Path

from attune.orchestrator.tasks import choice_sets, code_sets, math_sets  # noqa: F401 (they register their datasets)
from attune.orchestrator.tasks.base import DATASETS, Problem, TaskDataset
from attune.orchestrator.tasks.errors import UnknownDataset


def get_dataset(name: str) -> TaskDataset:
    try:
        return DATASETS[name]
    except KeyError:
        raise UnknownDataset(f"unknown dataset {name!r}; known: {', '.join(sorted(DATASETS))}") from None


def load_problems(name: str, source: str | Path | None = None, *, limit: int | None = None,
                  seed: int = 0) -> list[Problem]:
    return get_dataset(name).load(source, limit=limit, seed=seed)
