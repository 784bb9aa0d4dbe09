"""The benchmark's task datasets: loading problems (shipped sample, local file or hub), prompting, scoring.

See docs/tasks.md for the datasets, their sources and licences, and how each is scored.
"""

from attune.orchestrator.tasks.base import Problem, Score, TaskDataset
from attune.orchestrator.tasks.errors import TaskError, UnknownDataset
from attune.orchestrator.tasks.registry import DATASETS, get_dataset, load_problems

__all__ = ["DATASETS", "Problem", "Score", "TaskDataset", "TaskError", "UnknownDataset", "get_dataset",
           "load_problems"]
