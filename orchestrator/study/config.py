"""The study's configuration (the shipped ``study``, orchestrator/study/configs/study.yaml, or a user's own
file), validated in full before any phase runs."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from attune.orchestrator.study.data import StudyDataError
from attune.orchestrator.study.generate import Difficulty
from attune.services.common.files import user_or_shipped
from attune.services.common.validation import validation_problems


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DataConfig(Strict):
    # generate: the seeded synthetic corpus; folder: a local EdgeWisePersona folder; hub: the public dataset
    source: Literal["generate", "folder", "hub"] = "generate"
    folder: str = ""
    users: int = Field(12, ge=2)
    sessions: int = Field(20, ge=5)
    # How hard the generated corpus is (generate.py's Difficulty: paraphrase, noise, drift, context_only, each
    # 0..1); all 0, the default here, is the fixed-wording corpus; study.yaml sets the study's default.
    difficulty: Difficulty = Difficulty()
    # A split file in the shape of ../shared/data/edgewisepersona/adaptcommand_edgesplits.json (optional).
    splits_file: str = ""
    sessions_per_user: int = Field(50, ge=1)

    @model_validator(mode="after")
    def _folder_named(self):
        if self.source == "folder" and not self.folder:
            raise ValueError("source 'folder' needs data.folder")
        return self


class SplitConfig(Strict):
    train: float = Field(0.6, gt=0, lt=1)
    val: float = Field(0.2, gt=0, lt=1)
    online: int = Field(10, ge=1)
    min_sessions: int = Field(5, ge=3)
    minimum_per_split: int = Field(1, ge=1)
    # Share of users kept out of every training set: their first test turns are the cold-start set.
    held_out_users: float = Field(0.25, ge=0, lt=1)
    cold_start_messages: int = Field(5, ge=1)


class AdapterArm(Strict):
    kind: Literal["lora", "prefix"]
    max_steps: int = Field(40, ge=1)
    learning_rate: float = Field(0.0, ge=0)
    params: dict = {}


class UserAdapters(Strict):
    """Phase D: a micro-update per training user on their online slice."""

    kind: Literal["lora", "prefix"] = "lora"
    # global: start from the global adapter of the same kind (trained in phase C); base: from scratch.
    start: Literal["global", "base"] = "global"
    epochs: int = Field(2, ge=1, le=3)
    token_budget: int = Field(6000, ge=0)
    batch_size: int = Field(4, ge=1)
    learning_rate: float = Field(0.0, ge=0)
    # 0: every training user; N: the first N (a CPU run of the whole study stays short).
    users: int = Field(0, ge=0)


class ClusterAdapters(Strict):
    """Phase D, cluster level: per k-means style cluster, the global adapter updated on its members' online
    slices; then per user a tiny delta on top of their cluster's adapter."""

    epochs: int = Field(1, ge=1, le=3)
    token_budget: int = Field(8000, ge=0)
    # The user delta on top: one pass under a small budget.
    user_epochs: int = Field(1, ge=1, le=3)
    user_token_budget: int = Field(1500, ge=0)


class Ablations(Strict):
    """Phase F's ablations: each factor's values trained alike (``max_steps``, the global train and validation
    rows) and scored on the first ``users`` training users' test replies."""

    lora_targets: list[list[str]] = [["q_proj", "v_proj"], ["q_proj", "k_proj", "v_proj", "o_proj"]]
    prefix_lengths: list[int] = [10, 20, 50, 100]
    # Online examples a per-user update (from the global adapter) learns from.
    online_budgets: list[int] = [4, 8, 12, 20]
    max_steps: int = Field(20, ge=1)
    users: int = Field(4, ge=1)
    eval_replies_per_user: int = Field(4, ge=1)

    @model_validator(mode="after")
    def _values(self):
        if any(not targets for targets in self.lora_targets):
            raise ValueError("ablations.lora_targets: each entry names at least one module")
        if any(n < 1 for n in self.prefix_lengths + self.online_budgets):
            raise ValueError("ablations: prefix lengths and online budgets are at least 1")
        return self


class ExternalTest(Strict):
    """Real dialogues no adapter trained on, scored for the baseline and each global adapter (external.py)."""

    # A file in the shape of adaptcommand_cold_start_test.jsonl, or the shipped edgewise_cold_start (200
    # EdgeWisePersona dialogues, CC BY 4.0).
    file: str = "edgewise_cold_start"
    # 0: every dialogue; N: the first N.
    dialogues: int = Field(0, ge=0)
    # 0: every assistant message of a dialogue; N: its first N (1: the reply to the first request only).
    replies_per_dialogue: int = Field(0, ge=0)


class StudyConfig(Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
    seed: int = 0
    data: DataConfig = DataConfig()
    split: SplitConfig = SplitConfig()
    clusters: int = Field(3, ge=1)
    # A file, or the name of a shipped baseline (orchestrator/study/configs/).
    baseline: str = "baseline_v1.0"
    # Test replies scored per user (0: all); keeps CPU runs short.
    eval_replies_per_user: int = Field(6, ge=0)
    # Validation replies the trainer answers for early stopping.
    eval_rows: int = Field(8, ge=1)
    concurrency: int = Field(8, ge=1)
    global_adapters: list[AdapterArm] = [AdapterArm(kind="lora"), AdapterArm(kind="prefix")]
    user_adapters: UserAdapters = UserAdapters()
    # Cluster adapters with user deltas (phase D); none: skipped.
    cluster_adapters: ClusterAdapters | None = None
    # Ablations (phase F); none: skipped.
    ablations: Ablations | None = None
    # Persona prediction also with SmolLM2's mean-pooled hidden states, of the base model and of each global
    # LoRA adapter (phase E).
    persona_model_embeddings: bool = True
    # The external cold-start test (phases B and C); none: skipped.
    external_test: ExternalTest | None = None

    @model_validator(mode="after")
    def _global_to_start_from(self):
        kinds = {arm.kind for arm in self.global_adapters}
        if self.user_adapters.start == "global" and self.user_adapters.kind == "prefix":
            raise ValueError("user_adapters: a prefix adapter cannot start from the global one (PEFT saves a "
                             "trained prefix in its projected form, not the weights that were trained); use start: "
                             "base")
        if self.user_adapters.start == "global" and self.user_adapters.kind not in kinds:
            raise ValueError(f"user_adapters start from the global {self.user_adapters.kind} adapter, which "
                             f"global_adapters does not train")
        if self.cluster_adapters is not None and "lora" not in kinds:
            raise ValueError("cluster_adapters start from the global lora adapter, which global_adapters does not "
                             "train")
        if self.ablations is not None and self.ablations.online_budgets and "lora" not in kinds:
            raise ValueError("ablations.online_budgets update the global lora adapter, which global_adapters does "
                             "not train")
        return self


def load_config(path: str | Path, overrides: dict | None = None) -> StudyConfig:
    """A study config file, or the name of a shipped one (``study``), with overrides on top, validated."""
    path = user_or_shipped(path, "attune.orchestrator.study", "configs", ".yaml")
    if not path.is_file():
        raise StudyDataError(f"study config {path} does not exist")
    try:
        data = yaml.safe_load(path.read_text()) or {}
        return StudyConfig.model_validate({**data, **(overrides or {})})
    except yaml.YAMLError as err:
        raise StudyDataError(f"{path}: not valid YAML: {err}") from None
    except ValidationError as err:
        raise StudyDataError(f"{path}: {validation_problems(err, 'config')}") from None
