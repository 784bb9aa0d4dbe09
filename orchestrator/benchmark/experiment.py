"""An experiment: which methods, datasets and users, how many sessions, which models; validated at load.

The same fields come from a YAML file or from ``attune run`` flags. Everything
that can be checked before a session runs is checked here, and a problem is
reported with the key it came from: an unknown method, dataset or key, a
profile file that does not validate, a dataset path that does not exist.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from attune.orchestrator.benchmark.simulator import SimulatorSettings
from attune.orchestrator.methods import METHODS, MethodSettings
from attune.services.common.files import shipped_files, user_or_shipped
from attune.services.common.validation import validation_problems


class ExperimentError(ValueError):
    pass


class ModelTargets(BaseModel):
    """The model service each role talks to; empty = the run's default model."""

    model_config = ConfigDict(extra="forbid")

    agent: str = ""
    user_simulator: str = ""
    # The judge's model (a larger one at scale); empty: the run's judge (the judge service over gRPC,
    # the run's model in process).
    judge: str = ""


class JudgeOptions(BaseModel):
    """The judge step at the end of a run (``attune judge`` runs it alone)."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    # Inapplicable preferences no checker can see, asked of the LLM per agent turn (a seeded sample).
    over_llm_max: int = Field(3, ge=0, le=64)
    concurrency: int = Field(8, ge=1, le=256)
    # Contrast pairs put to the judge (attune/preferences/contrast.py): a seeded sample, None for all of them.
    contrast_pairs: int | None = Field(None, ge=0)


# Fields that may change between a run and its resumption: they do not change the sessions.
NOT_IDENTITY = {"concurrency", "judge"}


class Experiment(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = "experiment"
    methods: list[str] = Field(min_length=1)
    datasets: list[str] = Field(min_length=1)
    # A local file or folder per dataset; unset = the sample shipped with attune ("hub" = datasets.load_dataset).
    dataset_sources: dict[str, str] = {}
    # A profile file (attune JSONL or MultiSessionCollab JSON); unset = generated from the schema with the seed.
    profiles: str | None = None
    schema_path: str | None = None
    n_profiles: int = Field(2, ge=1)
    n_sessions: int = Field(2, ge=1)
    max_turns: int = Field(15, ge=1, le=100)
    conflict_share: float = Field(0.3, ge=0.0, le=1.0)
    # Share of sessions whose problem is posed as "let's work through it step by step" (longer sessions).
    step_by_step_share: float = Field(0.0, ge=0.0, le=1.0)
    seed: int = 0
    concurrency: int = Field(4, ge=1, le=256)
    transport: Literal["in_process", "grpc"] = "in_process"
    models: ModelTargets = ModelTargets()
    method_settings: MethodSettings = MethodSettings()
    simulator: SimulatorSettings = SimulatorSettings()
    judge: JudgeOptions = JudgeOptions()

    @field_validator("methods")
    @classmethod
    def _known_methods(cls, names: list[str]) -> list[str]:
        unknown = [n for n in names if n not in METHODS]
        if unknown:
            raise ValueError(f"unknown method(s) {', '.join(unknown)}; known: {', '.join(sorted(METHODS))}")
        return list(dict.fromkeys(names))

    @field_validator("datasets")
    @classmethod
    def _known_datasets(cls, names: list[str]) -> list[str]:
        from attune.orchestrator.tasks import DATASETS

        unknown = [n for n in names if n not in DATASETS]
        if unknown:
            raise ValueError(f"unknown dataset(s) {', '.join(unknown)}; known: {', '.join(sorted(DATASETS))}")
        return list(dict.fromkeys(names))

    @model_validator(mode="after")
    def _sources_exist(self) -> Experiment:
        for name, source in self.dataset_sources.items():
            if name not in self.datasets:
                raise ValueError(f"dataset_sources names {name!r}, which is not in datasets")
            if not source.startswith("hub") and not Path(source).exists():
                raise ValueError(f"dataset_sources.{name}: {source} does not exist")
        for key in ("profiles", "schema_path"):
            path = getattr(self, key)
            if path and not Path(path).exists():
                raise ValueError(f"{key}: {path} does not exist")
        return self

    def identity(self) -> dict:
        """The fields that define the sessions: a resumed run must match them (concurrency, judging may change)."""
        return self.model_dump(mode="json", exclude=NOT_IDENTITY)


def parse_experiment(data: dict, origin: str = "experiment") -> Experiment:
    try:
        return Experiment.model_validate(data)
    except ValidationError as err:
        raise ExperimentError(f"{origin}: {validation_problems(err, 'experiment')}") from None


def experiment_file(value: str | Path) -> Path:
    """The user's experiment file at ``value``, or the shipped experiment of that name."""
    path = user_or_shipped(value, "attune.orchestrator", "experiments", ".yaml")
    if not path.is_file():
        shipped = ", ".join(sorted(shipped_files("attune.orchestrator", "experiments", ".yaml")))
        raise ExperimentError(f"experiment file {path} does not exist (experiments attune ships: {shipped})")
    return path


def load_experiment(path: str | Path, overrides: dict | None = None) -> Experiment:
    """An experiment file, or the name of one attune ships (``demo``, ``small``, ...), with CLI overrides
    applied on top, validated."""
    path = experiment_file(path)
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:
        raise ExperimentError(f"{path}: not valid YAML: {err}") from None
    if not isinstance(data, dict):
        raise ExperimentError(f"{path}: expected a mapping of keys, got {type(data).__name__}")
    return parse_experiment({**data, **(overrides or {})}, str(path))


def load_profiles_for(exp: Experiment) -> list:
    """The experiment's users: its profile file, or profiles generated from the schema with its seed."""
    from attune.orchestrator.profiles import ProfileError, generate_from_schema, load_profiles, load_schema

    try:
        if exp.profiles:
            profiles = load_profiles(exp.profiles)
        else:
            profiles = generate_from_schema(load_schema(exp.schema_path), exp.n_profiles, exp.seed)
    except ProfileError as err:
        raise ExperimentError(f"profiles: {err}") from None
    if len(profiles) < exp.n_profiles:
        raise ExperimentError(f"profiles: {exp.profiles} has {len(profiles)} profiles; n_profiles is "
                              f"{exp.n_profiles}")
    return profiles[:exp.n_profiles]


# Training profiles generated from the schema use another seed and carry this id prefix.
TRAINING_PREFIX = "train-"
TRAINING_SEED_OFFSET = 1_000_003


def load_training_profiles(exp: Experiment, evaluated: list, n: int = 8) -> list:
    """Profiles a method may learn from before the run (reflection_grpo's note-writer), disjoint by id from
    the ``evaluated`` ones: the profile file's profiles past the evaluated ones, else ``n`` generated from the
    schema with another seed (ids prefixed ``train-``). Never one of the evaluated users."""
    from attune.orchestrator.profiles import generate_from_schema, load_profiles, load_schema

    taken = {p.user_id for p in evaluated}
    spare = [p for p in load_profiles(exp.profiles) if p.user_id not in taken] if exp.profiles else []
    if not spare:
        generated = generate_from_schema(load_schema(exp.schema_path), n, exp.seed + TRAINING_SEED_OFFSET)
        spare = [p.model_copy(update={"user_id": TRAINING_PREFIX + p.user_id}) for p in generated]
    training = spare[:n]
    if taken & {p.user_id for p in training}:
        raise ExperimentError("training profiles overlap the evaluated ones")
    return training


def seeds_used(exp: Experiment, judge_seed: int) -> dict:
    """Every seed a run of ``exp`` uses, and how each model call derives its own (provenance.json)."""
    return {
        "experiment": exp.seed,
        "profiles": None if exp.profiles else exp.seed,
        "training_profiles": exp.seed + TRAINING_SEED_OFFSET,
        "problems": exp.seed,
        "session_plans": f"random.Random('{exp.seed}:<profile id>:<session>')",
        "agent_calls": f"{exp.seed} + session index",
        "user_simulator_calls": f"{exp.seed} + 1000 x session + history length + 7919 x retry",
        "grpo_training": exp.seed,
        "judge_calls": f"{judge_seed} + 7919 x retry (ATTUNE_JUDGE_SEED)",
        "judge_sampling": f"random.Random('{exp.seed}:<session key>:<turn>')",
    }


def load_problems_for(exp: Experiment) -> dict[str, list]:
    """Enough problems of each dataset for every session of the run (fewer if the dataset is smaller)."""
    from attune.orchestrator.tasks import TaskError, load_problems

    problems = {}
    for name in exp.datasets:
        try:
            problems[name] = load_problems(name, exp.dataset_sources.get(name), limit=exp.n_profiles * exp.n_sessions,
                                           seed=exp.seed)
        except TaskError as err:
            raise ExperimentError(f"datasets.{name}: {err}") from None
        if not problems[name]:
            raise ExperimentError(f"datasets.{name}: no problems loaded")
    return problems
