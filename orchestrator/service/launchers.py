"""Where a sharded run's shards run: local processes, or the indexes of a Kubernetes Indexed Job.

Both start the same command, ``attune run <run>/experiment.yaml --shards N
--output-dir <run>`` with the shard's index, so a shard writes only its own
folder of the run (orchestrator/benchmark/shards.py) and the last one to finish
merges and judges the run. A launcher only starts shards, says how they are
doing and stops them; the orchestrator reads their progress from the run folder
(progress.py), which both kinds share with it.

The Kubernetes launcher creates the Job through the API (the official
``kubernetes`` client) from the run Job manifest the Helm chart renders, the
same one ``runJob`` deploys: image, service targets, auth, volumes and
resources come from the chart; the run's name, shard count and folder are
filled in here.
"""

from __future__ import annotations

import asyncio
import copy
import ctypes
import hashlib
import os
import re
import signal
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import yaml

from attune.orchestrator.benchmark.runner import EXPERIMENT_FILE
from attune.orchestrator.service.settings import OrchestratorSettings
from attune.services.common.errors import FailedPrecondition
from attune.services.common.settings import CommonSettings

# The namespace file of an in-cluster service account.
POD_NAMESPACE_FILE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
RUN_ID_LABEL = "attune.dev/run-id"


@dataclass(frozen=True)
class ShardRun:
    """One start of a sharded run."""

    run_id: str
    run_dir: Path
    shards: int

    @property
    def experiment_file(self) -> Path:
        return self.run_dir / EXPERIMENT_FILE

    def command_args(self) -> list[str]:
        """``attune run``'s arguments after the subcommand, the same for every shard and launcher."""
        return [str(self.experiment_file), "--shards", str(self.shards), "--output-dir", str(self.run_dir),
                "--json-logs"]


@dataclass(frozen=True)
class Status:
    """``running``, ``succeeded`` or ``failed`` (with why); ``failed_shards`` counts shards given up on."""

    state: str
    message: str = ""
    failed_shards: int = 0


class Launcher(Protocol):
    name: str
    # Whether shards go on when the orchestrator stops (and a restarted one picks the run up again).
    outlives_service: bool

    async def launch(self, run: ShardRun) -> str:
        """Start every shard; returns a handle for ``status`` and ``stop``."""

    async def status(self, handle: str) -> Status: ...

    async def stop(self, handle: str) -> None:
        """Stop every shard; finished sessions stay in their logs."""


class ProcessLauncher:
    """Each shard a child process of the orchestrator, its output in ``<run>/logs/shard-<i>.log``."""

    name = "processes"
    outlives_service = False

    def __init__(self, common: CommonSettings):
        self.common = common
        self.running: dict[str, list[asyncio.subprocess.Process]] = {}

    async def launch(self, run: ShardRun) -> str:
        logs = run.run_dir / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ, ATTUNE_DATA_DIR=str(self.common.data_dir))
        procs = []
        for index in range(run.shards):
            with open(logs / f"shard-{index}.log", "ab") as out:
                procs.append(await asyncio.create_subprocess_exec(
                    sys.executable, "-m", "attune.orchestrator.cli", "run", *run.command_args(),
                    env=dict(env, JOB_COMPLETION_INDEX=str(index)), stdout=out, stderr=out,
                    stdin=asyncio.subprocess.DEVNULL, preexec_fn=_die_with_parent))
        handle = ",".join(str(p.pid) for p in procs)
        self.running[handle] = procs
        return handle

    async def status(self, handle: str) -> Status:
        procs = self._procs(handle)
        codes = [p.returncode for p in procs]
        failed = [i for i, code in enumerate(codes) if code not in (None, 0)]
        if failed:
            return Status("failed", f"shard {failed[0]} exited with status {codes[failed[0]]} (its log: "
                                    f"logs/shard-{failed[0]}.log)", len(failed))
        return Status("running" if None in codes else "succeeded")

    async def stop(self, handle: str) -> None:
        procs = self.running.pop(handle, [])
        for proc in procs:
            if proc.returncode is None:
                proc.terminate()
        await asyncio.gather(*(p.wait() for p in procs))

    def _procs(self, handle: str) -> list[asyncio.subprocess.Process]:
        try:
            return self.running[handle]
        except KeyError:
            raise FailedPrecondition(f"no shard processes {handle}: the orchestrator that started them "
                                     f"stopped; StartRun resumes the run") from None


# libc's prctl, resolved in the orchestrator: between fork and exec a child of a threaded process must not load
# modules or libraries (importing ctypes there crashed shard processes with SIGSEGV).
_PRCTL = ctypes.CDLL(None, use_errno=True).prctl
_PR_SET_PDEATHSIG = 1
_SIGTERM = int(signal.SIGTERM)


def _die_with_parent() -> None:
    """In a shard process: SIGTERM when the orchestrator dies, even by SIGKILL (Linux's PR_SET_PDEATHSIG), so a
    resumed run never meets an orphaned shard still writing its log."""
    _PRCTL(_PR_SET_PDEATHSIG, _SIGTERM)


def job_name(run_id: str, attempt: str) -> str:
    """A DNS-1123 Job name from the run id, unique per start (``attempt``) and at most 63 characters."""
    slug = re.sub(r"[^a-z0-9-]+", "-", run_id.lower()).strip("-")[:40].strip("-") or "run"
    digest = hashlib.sha256(f"{run_id}/{attempt}".encode()).hexdigest()[:8]
    return f"attune-run-{slug}-{digest}"


def job_body(template: dict, run: ShardRun, name: str) -> dict:
    """The chart's run Job with this run's name, label, shard count and ``attune run`` arguments."""
    body = copy.deepcopy(template)
    if body.get("kind") != "Job" or not body.get("spec", {}).get("template", {}).get("spec", {}).get("containers"):
        raise FailedPrecondition("the Job template is not a batch/v1 Job with a container (render it from the "
                                 "chart: orchestratorJobs.enabled)")
    body["metadata"] = {"name": name, "labels": {**body.get("metadata", {}).get("labels", {}),
                                                  RUN_ID_LABEL: _label_value(run.run_id)}}
    spec = body["spec"]
    spec["completionMode"] = "Indexed"
    spec["completions"] = run.shards
    spec["parallelism"] = min(int(spec.get("parallelism") or run.shards), run.shards)
    spec["template"].setdefault("metadata", {}).setdefault("labels", {})[RUN_ID_LABEL] = _label_value(run.run_id)
    container = spec["template"]["spec"]["containers"][0]
    container["args"] = [*run.command_args(), "--transport", "grpc", *_extra_args(container.get("args", []))]
    return body


def _extra_args(template_args: list[str]) -> list[str]:
    """The chart's own ``runJob.args`` (after its ``--json-logs``), kept; the run-specific ones are replaced."""
    return template_args[template_args.index("--json-logs") + 1:] if "--json-logs" in template_args else []


def _label_value(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text)[:63].strip("-_.") or "run"


class KubernetesLauncher:
    """Each run an Indexed Job in the orchestrator's namespace; the Job outlives the orchestrator's restarts."""

    name = "kubernetes"
    outlives_service = True

    def __init__(self, settings: OrchestratorSettings):
        from kubernetes import client, config

        if settings.job_template is None:
            raise ValueError("ATTUNE_ORCHESTRATOR_JOB_TEMPLATE is empty: the kubernetes launcher needs the run Job "
                             "manifest the chart renders (orchestratorJobs.enabled)")
        self.template = yaml.safe_load(settings.job_template.read_text())
        if settings.kubeconfig is not None:
            config.load_kube_config(config_file=str(settings.kubeconfig))
        else:
            config.load_incluster_config()
        self.namespace = settings.namespace or _pod_namespace()
        self.jobs = client.BatchV1Api()
        self.api_error = client.ApiException
        self.attempts = 0

    async def launch(self, run: ShardRun) -> str:
        self.attempts += 1
        name = job_name(run.run_id, f"{os.getpid()}-{self.attempts}-{os.urandom(4).hex()}")
        body = job_body(self.template, run, name)
        await asyncio.to_thread(self.jobs.create_namespaced_job, self.namespace, body)
        return name

    async def status(self, name: str) -> Status:
        try:
            job = await asyncio.to_thread(self.jobs.read_namespaced_job_status, name, self.namespace)
        except self.api_error as err:
            if err.status == 404:
                return Status("failed", f"Job {name} is gone (deleted outside attune); StartRun resumes the run")
            raise
        return job_status(job.status)

    async def stop(self, name: str) -> None:
        try:
            await asyncio.to_thread(self.jobs.delete_namespaced_job, name, self.namespace,
                                    propagation_policy="Background")
        except self.api_error as err:
            if err.status != 404:
                raise


def job_status(status) -> Status:
    """A Job's status (a V1JobStatus) as a Status: its Complete or Failed condition, else running."""
    failed = len(_indexes(status.failed_indexes or ""))
    for condition in status.conditions or []:
        if condition.status != "True":
            continue
        if condition.type == "Complete":
            return Status("succeeded")
        if condition.type == "Failed":
            return Status("failed", f"Job failed: {condition.reason}: {condition.message}", failed)
    return Status("running", failed_shards=failed)


def _indexes(text: str) -> list[int]:
    """A Job's index list ("1,3-5") as numbers."""
    out: list[int] = []
    for part in filter(None, text.split(",")):
        first, _, last = part.partition("-")
        out += range(int(first), int(last or first) + 1)
    return out


def _pod_namespace() -> str:
    try:
        return POD_NAMESPACE_FILE.read_text().strip()
    except OSError:
        raise ValueError("ATTUNE_ORCHESTRATOR_NAMESPACE is empty and this is not a pod (no service account "
                         "namespace file): set the namespace for the run Jobs") from None


def make_launcher(settings: OrchestratorSettings, common: CommonSettings) -> Launcher | None:
    """The settings' launcher; None for runs in the orchestrator's own process."""
    if settings.launcher == "processes":
        return ProcessLauncher(common)
    if settings.launcher == "kubernetes":
        return KubernetesLauncher(settings)
    return None
