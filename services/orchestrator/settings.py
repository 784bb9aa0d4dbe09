"""Settings of the orchestrator service (environment prefix ATTUNE_ORCHESTRATOR_).

The runs it starts reach the other services at their ATTUNE_<NAME>_TARGET (an
experiment with ``transport: grpc``), or load them into this process
(``transport: in_process``).
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from attune.services.common.settings import ServiceSettings

RUNS_SUBDIR = "runs"


class OrchestratorSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="ATTUNE_ORCHESTRATOR_", extra="ignore")

    port: int = Field(50057, ge=0, le=65535)
    # One folder per run id. Empty: <ATTUNE_DATA_DIR>/runs.
    runs_dir: Path | None = None
    # Runs beyond this many at once are refused with RESOURCE_EXHAUSTED.
    max_concurrent_runs: int = Field(1, ge=1, le=64)
    max_experiment_bytes: int = Field(256 * 1024, ge=1024)

    def resolved_runs_dir(self, data_dir: Path) -> Path:
        """``runs_dir``, or ``<data_dir>/runs`` when unset."""
        return self.runs_dir if self.runs_dir is not None else Path(data_dir) / RUNS_SUBDIR
