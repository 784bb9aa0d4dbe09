"""The pure parts of sharded runs in the orchestrator service: Job names and statuses, shard progress read
from the logs, and the refusals of StartRun that come before anything runs."""

from __future__ import annotations

import asyncio
import json
import re

import pytest
import yaml
from google.protobuf import json_format
from kubernetes.client import V1JobCondition, V1JobStatus

from attune.orchestrator.service.core import OrchestratorService
from attune.orchestrator.service.launchers import (
    ProcessLauncher,
    ShardRun,
    Status,
    job_body,
    job_name,
    job_status,
)
from attune.orchestrator.service.progress import ShardProgress
from attune.orchestrator.service.settings import OrchestratorSettings
from attune.services.common.errors import FailedPrecondition, InvalidArgument
from attune.services.common.settings import CommonSettings
from attune.v1 import orchestrator_pb2

DNS_1123 = r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?"


@pytest.mark.parametrize("run_id", ["full", "A_very.Long-run id " * 8, "___", "run-1"])
def test_job_names_are_dns_labels_unique_per_start(run_id):
    names = {job_name(run_id, str(attempt)) for attempt in range(20)}
    assert len(names) == 20
    assert all(re.fullmatch(DNS_1123, n) and len(n) <= 63 for n in names), names


def condition(kind: str, status: str = "True", reason: str = "", message: str = "") -> V1JobCondition:
    return V1JobCondition(type=kind, status=status, reason=reason, message=message)


def test_job_status_reads_the_jobs_conditions():
    assert job_status(V1JobStatus(active=3)).state == "running"
    assert job_status(V1JobStatus(conditions=[condition("Complete")])).state == "succeeded"
    assert job_status(V1JobStatus(conditions=[condition("Failed", "False")])).state == "running"
    failed = job_status(V1JobStatus(failed_indexes="0,2-4", conditions=[
        condition("FailureTarget", reason="FailedIndexes"),
        condition("Failed", reason="FailedIndexes", message="Job has failed indexes")]))
    assert (failed.state, failed.failed_shards) == ("failed", 4)
    assert "FailedIndexes: Job has failed indexes" in failed.message
    assert job_status(V1JobStatus(failed_indexes="1", active=2)).failed_shards == 1


def test_a_template_that_is_no_job_is_refused(tmp_path):
    run = ShardRun("r", tmp_path, 2)
    with pytest.raises(FailedPrecondition, match="not a batch/v1 Job"):
        job_body({"kind": "Deployment", "spec": {}}, run, "n")


def record_line(tokens: dict) -> str:
    return json.dumps({"tokens": {role: {"prompt": p, "completion": c} for role, (p, c) in tokens.items()}}) + "\n"


def test_shard_progress_reads_whole_new_lines_only(tmp_path):
    progress = ShardProgress(tmp_path, 2)
    progress.read()
    assert (progress.sessions, progress.shards_done) == (0, 0), "no shard has started"
    first, second = (log.path for log in progress.logs)
    first.parent.mkdir(parents=True)
    first.write_text(record_line({"agent": (10, 2), "user_simulator": (5, 1)}) + '{"tokens": {"agent": {"pro')
    progress.read()
    assert (progress.sessions, progress.prompt_tokens, progress.completion_tokens) == (1, 15, 3)
    with first.open("a") as f:
        f.write('mpt": 7, "completion": 1}}}\n')
    second.parent.mkdir(parents=True)
    second.write_text(record_line({"agent": (100, 20)}))
    (second.parent / "done.json").write_text("{}")
    progress.read()
    assert (progress.sessions, progress.prompt_tokens, progress.completion_tokens) == (3, 122, 24)
    assert progress.shards_done == 1
    first.write_text(record_line({"agent": (1, 1)}))  # rewritten shorter: a shard repaired its log
    progress.read()
    assert (progress.sessions, progress.prompt_tokens) == (2, 101)


def experiment_yaml() -> str:
    return yaml.safe_dump({"name": "shards", "methods": ["vanilla"], "datasets": ["math-500"], "n_profiles": 2,
                           "n_sessions": 1})


async def test_shards_are_refused_where_runs_cannot_be_split(tmp_path):
    common = CommonSettings(data_dir=tmp_path)
    in_process = OrchestratorService(OrchestratorSettings(runs_dir=tmp_path / "runs"), common)
    with pytest.raises(InvalidArgument, match="shards.*in its own process"):
        await in_process.start_run(orchestrator_pb2.StartRunRequest(experiment_yaml=experiment_yaml(), shards=2))
    sharded = OrchestratorService(OrchestratorSettings(runs_dir=tmp_path / "runs", launcher="processes"), common,
                                  launcher=ProcessLauncher(common))
    with pytest.raises(InvalidArgument, match="shards.*give 0"):
        await sharded.start_run(orchestrator_pb2.StartRunRequest(experiment_yaml=experiment_yaml(), shards=-1))
    with pytest.raises(InvalidArgument, match="shards.*more than the experiment's 2 profiles"):
        await sharded.start_run(orchestrator_pb2.StartRunRequest(experiment_yaml=experiment_yaml(), shards=3))
    assert sharded.runs == {}, "nothing was started"


class JobsElsewhere:
    """A launcher whose shards outlive the service, as a Kubernetes Job's do (the logic under test is the
    service's, not the cluster's)."""

    name = "kubernetes"
    outlives_service = True

    def __init__(self, state: str, message: str = ""):
        self.answer = Status(state, message)
        self.stopped: list[str] = []

    async def launch(self, run: ShardRun) -> str:
        return "attune-run-new"

    async def status(self, handle: str) -> Status:
        return self.answer

    async def stop(self, handle: str) -> None:
        self.stopped.append(handle)


def left_running(runs_dir, launcher: str, job: str) -> None:
    run = orchestrator_pb2.Run(run_id="big", state="running", output_dir=str(runs_dir / "big"), launcher=launcher,
                               shards=2, job=job, progress=orchestrator_pb2.RunProgress(run_id="big"))
    (runs_dir / "big").mkdir(parents=True)
    (runs_dir / "big" / "run.json").write_text(json_format.MessageToJson(run))


async def test_a_restarted_service_follows_a_job_that_outlived_it(tmp_path):
    left_running(tmp_path / "runs", "kubernetes", "attune-run-big-1")
    launcher = JobsElsewhere("failed", "Job failed: BackoffLimitExceeded: index 1")
    core = OrchestratorService(OrchestratorSettings(runs_dir=tmp_path / "runs", launcher="kubernetes",
                                                    poll_interval_s=0.01), CommonSettings(data_dir=tmp_path),
                               launcher=launcher)
    await core.start()
    await asyncio.wait_for(core.runs["big"].task, 10)
    run = core.runs["big"].run
    assert (run.state, run.error, run.job) == ("failed", "Job failed: BackoffLimitExceeded: index 1",
                                               "attune-run-big-1")
    assert launcher.stopped == [], "a failed Job is left for its logs (ttlSecondsAfterFinished removes it)"


async def test_shard_processes_do_not_outlive_the_service(tmp_path):
    left_running(tmp_path / "runs", "processes", "123,124")
    common = CommonSettings(data_dir=tmp_path)
    core = OrchestratorService(OrchestratorSettings(runs_dir=tmp_path / "runs", launcher="processes"), common,
                               launcher=ProcessLauncher(common))
    await core.start()
    assert core.runs["big"].run.state == "interrupted" and core.runs["big"].task is None


def test_a_shard_process_dies_with_its_orchestrator(processes):
    """The orchestrator killed with SIGKILL leaves no shard behind (it would write the log a resume rewrites)."""
    import os
    import signal
    import subprocess
    import sys
    import time

    parent = subprocess.Popen([sys.executable, "-c", (
        "import subprocess, sys, time\n"
        "from attune.orchestrator.service.launchers import _die_with_parent\n"
        "child = subprocess.Popen(['sleep', '120'], preexec_fn=_die_with_parent)\n"
        "print(child.pid, flush=True)\n"
        "time.sleep(120)\n")], stdout=subprocess.PIPE, text=True)
    shard = int(parent.stdout.readline())
    os.kill(parent.pid, signal.SIGKILL)
    parent.wait()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            os.kill(shard, 0)
        except ProcessLookupError:
            return
        if open(f"/proc/{shard}/stat").read().split()[2] == "Z":  # dead, not yet reaped by init
            return
        time.sleep(0.1)
    os.kill(shard, signal.SIGKILL)
    raise AssertionError("the shard outlived its orchestrator")
