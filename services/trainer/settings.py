"""Settings of the trainer service (environment prefix ATTUNE_TRAINER_)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from attune.services.common.settings import ServiceSettings

ADAPTER_SUBDIR = "adapters"


class TrainerSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="ATTUNE_TRAINER_", extra="ignore")

    port: int = Field(50056, ge=0, le=65535)
    # Where finished adapters are published, one folder per adapter name: the model
    # service's ATTUNE_MODEL_ADAPTER_DIR. Empty: <ATTUNE_DATA_DIR>/adapters.
    adapter_dir: Path | None = None
    # Base model of jobs whose spec names none: a local model folder. Empty: the embedded
    # SmolLM2-135M-Instruct (converted under ATTUNE_DATA_DIR), as the model service's default.
    base_model: str = ""
    # Jobs beyond this many wait in a queue, in submission order.
    max_concurrent_jobs: int = Field(1, ge=1, le=64)
    # A job running longer is killed and fails.
    job_timeout_s: float = Field(6 * 3600.0, gt=0)
    # torch threads of each job process; 0 = torch's default (all cores).
    job_threads: int = Field(0, ge=0, le=1024)

    def resolved_adapter_dir(self, data_dir: Path) -> Path:
        """``adapter_dir``, or ``<data_dir>/adapters`` when unset."""
        return self.adapter_dir if self.adapter_dir is not None else Path(data_dir) / ADAPTER_SUBDIR
