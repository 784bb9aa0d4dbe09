"""Settings of the orchestrator service (environment prefix ATTUNE_ORCHESTRATOR_).

The runs it starts reach the other services at their ATTUNE_<NAME>_TARGET (an
experiment with ``transport: grpc``), or load them into this process
(``transport: in_process``). ``launcher`` says where a run's sessions run: in
this process, in shard processes beside it, or in a Kubernetes Indexed Job
(launchers.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

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
    # "in_process": each run in this process; "processes": each run split over `shards` local processes;
    # "kubernetes": each run as an Indexed Job of `shards` indexes, created through the Kubernetes API.
    launcher: Literal["in_process", "processes", "kubernetes"] = "in_process"
    # Shards of a run when StartRun does not say (processes and kubernetes launchers).
    shards: int = Field(1, ge=1, le=1024)
    # How often a sharded run's shard logs and Job status are read for progress.
    poll_interval_s: float = Field(5.0, gt=0, le=300)
    # kubernetes: the run Job manifest the chart renders (its ConfigMap, mounted as a file).
    job_template: Path | None = None
    # kubernetes: the Jobs' namespace; empty: the orchestrator pod's own.
    namespace: str = ""
    # kubernetes: a kubeconfig file for an orchestrator outside the cluster; empty: the in-cluster account.
    kubeconfig: Path | None = None

    def resolved_runs_dir(self, data_dir: Path) -> Path:
        """``runs_dir``, or ``<data_dir>/runs`` when unset."""
        return self.runs_dir if self.runs_dir is not None else Path(data_dir) / RUNS_SUBDIR
