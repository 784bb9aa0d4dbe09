"""The job queue and process handling, with a stand-in job process (a few lines of Python, no training).

The stand-in speaks the job protocol (JSON progress lines on stdout, an error
line and a non-zero status on failure, an adapter folder on success), so these
tests cover the service's bookkeeping; tests/integration/test_trainer_service.py
runs real GRPO jobs.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys

import pytest

from attune.services.trainer.client import wait_for_job
from attune.services.trainer.core import STAGING
from attune.services.trainer.store import JobStore
from attune.v1 import trainer_pb2
from tests.fixtures.trainer import start_trainer_core

STAND_IN = """
import json, os, sys, time
out, steps, pause, error = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
print("library chatter that is not progress", flush=True)
for step in range(1, steps + 1):
    time.sleep(pause)
    print(json.dumps({"step": step, "loss": 1.0 / step}), flush=True)
if error:
    print(json.dumps({"error": error}), flush=True)
    sys.exit(1)
os.makedirs(out)
with open(os.path.join(out, "adapter_config.json"), "w") as f:
    f.write("{}")
"""
ROW = {"transcript": [["user", "Please be brief."]], "revealed": ["be brief"]}


def stand_in(steps: int = 2, pause: float = 0.0, error: str = ""):
    return lambda spec_file, out: [sys.executable, "-c", STAND_IN, str(out), str(steps), str(pause), error]


@pytest.fixture()
def data(tmp_path):
    path = tmp_path / "rows.jsonl"
    path.write_text(json.dumps(ROW) + "\n")
    return path


@pytest.fixture()
async def make_core(tmp_path):
    cores = []

    async def make(command, **settings):
        cores.append(await start_trainer_core(tmp_path / "data", command, **settings))
        return cores[-1]

    yield make
    for core in cores:
        await core.close()


def spec(data, name: str) -> trainer_pb2.TrainJobSpec:
    return trainer_pb2.TrainJobSpec(kind="grpo_notes", data_path=str(data), adapter_name=name, max_steps=3)


def get(job_id: str) -> trainer_pb2.GetJobRequest:
    return trainer_pb2.GetJobRequest(job_id=job_id)


async def test_jobs_beyond_the_limit_wait_their_turn(processes, make_core, data):
    core = await make_core(stand_in(steps=3, pause=0.1), max_concurrent_jobs=1)
    first = await core.submit_job(spec(data, "first"))
    second = await core.submit_job(spec(data, "second"))
    assert (first.state, second.state) == ("running", "queued")
    done = await wait_for_job(core, second.job_id, 30)
    assert (await core.get_job(get(first.job_id))).state == "succeeded"
    assert done.state == "succeeded" and done.step == 3 and done.loss == pytest.approx(1 / 3)
    assert done.adapter_path == str(core.adapter_dir / "second")
    assert (core.adapter_dir / "second" / "adapter_config.json").is_file()
    assert list((core.adapter_dir / STAGING).iterdir()) == []
    listed = (await core.list_jobs(trainer_pb2.ListJobsRequest())).jobs
    assert [j.job_id for j in listed] == [first.job_id, second.job_id]
    on_disk = {r.job.job_id: r.job for r in JobStore(core.store.folder).load_all()}
    assert on_disk[second.job_id] == done


async def test_two_slots_run_two_jobs_at_once(processes, make_core, data):
    core = await make_core(stand_in(steps=5, pause=0.1), max_concurrent_jobs=2)
    jobs = [await core.submit_job(spec(data, f"a{i}")) for i in range(3)]
    assert [j.state for j in jobs] == ["running", "running", "queued"]
    done = await asyncio.gather(*(wait_for_job(core, j.job_id, 30) for j in jobs))
    assert [j.state for j in done] == ["succeeded"] * 3


async def test_watch_streams_each_change_until_the_end(processes, make_core, data):
    core = await make_core(stand_in(steps=3, pause=0.2))
    job = await core.submit_job(spec(data, "watched"))
    seen = [(j.state, j.step) async for j in core.watch_job(get(job.job_id))]
    assert seen[0] == ("running", 0)
    assert seen[-1] == ("succeeded", 3)
    steps = [step for _, step in seen]
    assert steps == sorted(steps) and 2 in steps
    # A finished job's watch yields it once and ends.
    assert [j.state async for j in core.watch_job(get(job.job_id))] == ["succeeded"]


async def test_cancel_kills_a_running_job_and_drops_a_queued_one(processes, make_core, data):
    core = await make_core(stand_in(steps=1000, pause=0.05))
    running = await core.submit_job(spec(data, "long"))
    queued = await core.submit_job(spec(data, "later"))
    async for job in core.watch_job(get(running.job_id)):
        if job.step >= 2:
            break
    pid = core._procs[running.job_id].pid

    assert (await core.cancel_job(get(queued.job_id))).state == "cancelled"
    cancelled = await core.cancel_job(get(running.job_id))
    assert cancelled.state == "cancelled" and cancelled.error == "" and cancelled.step >= 2
    with pytest.raises(ProcessLookupError):
        os.killpg(pid, 0)
    assert not (core.adapter_dir / "long").exists() and not (core.adapter_dir / "later").exists()
    assert not (core.adapter_dir / STAGING / running.job_id).exists()
    # Cancelling a finished job changes nothing; the queued one never ran.
    assert await core.cancel_job(get(running.job_id)) == cancelled
    assert (await core.get_job(get(queued.job_id))).step == 0


async def test_a_failing_job_reports_its_error(processes, make_core, data):
    core = await make_core(stand_in(steps=1, error="ValueError: bad row"))
    job = await wait_for_job(core, (await core.submit_job(spec(data, "bad"))).job_id, 30)
    assert (job.state, job.error, job.step) == ("failed", "ValueError: bad row", 1)
    assert not (core.adapter_dir / "bad").exists()


async def test_a_crash_reports_the_exit_status_and_the_log(processes, make_core, data):
    core = await make_core(lambda spec_file, out: [sys.executable, "-c", "import sys; sys.exit(3)"])
    job = await wait_for_job(core, (await core.submit_job(spec(data, "crash"))).job_id, 30)
    assert job.state == "failed"
    assert "exited with status 3" in job.error and "job.log" in job.error


async def test_a_job_that_saves_no_adapter_fails(processes, make_core, data):
    core = await make_core(lambda spec_file, out: [sys.executable, "-c", "pass"])
    job = await wait_for_job(core, (await core.submit_job(spec(data, "empty"))).job_id, 30)
    assert job.state == "failed" and "without saving an adapter" in job.error


async def test_a_job_past_its_timeout_is_killed(processes, make_core, data):
    core = await make_core(stand_in(steps=1000, pause=0.05), job_timeout_s=0.5)
    job = await wait_for_job(core, (await core.submit_job(spec(data, "slow"))).job_id, 30)
    assert (job.state, job.error) == ("failed", "timed out after 0.5s")


async def test_close_stops_running_and_queued_jobs(processes, make_core, data):
    core = await make_core(stand_in(steps=1000, pause=0.05))
    jobs = [await core.submit_job(spec(data, f"s{i}")) for i in range(2)]
    await core.close()
    for job in jobs:
        stopped = await core.get_job(get(job.job_id))
        assert (stopped.state, stopped.error) == ("failed", "trainer stopped")
