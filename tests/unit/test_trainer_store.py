"""Job records: atomic writes, unreadable files, and what a restarted trainer makes of unfinished jobs."""

from __future__ import annotations

import json
import os

import pytest

from attune.services.trainer.core import STAGING
from attune.services.trainer.store import JobStore, Record
from attune.v1 import trainer_pb2
from tests.fixtures.trainer import start_trainer_core


def record(job_id: str, state: str, created_at: float = 1.0, **fields) -> Record:
    spec = trainer_pb2.TrainJobSpec(kind="grpo_notes", adapter_name=f"a-{job_id}", max_steps=5)
    return Record(trainer_pb2.TrainJob(job_id=job_id, spec=spec, state=state, **fields), created_at)


def test_records_round_trip_oldest_first(tmp_path):
    store = JobStore(tmp_path / "jobs")
    store.save(record("b", "succeeded", 2.0, step=5, loss=0.25, adapter_path="/x/a-b"))
    store.save(record("a", "failed", 1.0, error="boom"))
    loaded = store.load_all()
    assert [r.job.job_id for r in loaded] == ["a", "b"]
    assert loaded[1].job.step == 5 and loaded[1].job.loss == 0.25 and loaded[1].job.spec.max_steps == 5
    assert loaded[0].job.error == "boom"


def test_a_failed_write_leaves_the_previous_record(tmp_path, monkeypatch):
    store = JobStore(tmp_path)
    store.save(record("j", "running", step=1))

    def crash(src, dst):
        raise OSError("disk gone")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="disk gone"):
        store.save(record("j", "running", step=2))
    monkeypatch.undo()
    (loaded,) = store.load_all()
    assert loaded.job.step == 1


def test_unreadable_records_and_temporary_files_are_skipped(tmp_path):
    store = JobStore(tmp_path)
    store.save(record("good", "succeeded"))
    (tmp_path / "bad.json").write_text("{not json")
    (tmp_path / "other.json").write_text(json.dumps({"job": {"state": 3}}))
    (tmp_path / ".half.json.tmp").write_text("{")
    assert [r.job.job_id for r in store.load_all()] == ["good"]


async def test_restart_fails_jobs_left_queued_or_running(tmp_path):
    data_dir = tmp_path / "data"
    store = JobStore(data_dir / "trainer" / "jobs")
    for job_id, state in [("q", "queued"), ("r", "running"), ("s", "succeeded"), ("c", "cancelled")]:
        store.save(record(job_id, state, step=3 if state == "running" else 0))
    half = data_dir / "adapters" / STAGING / "r"
    half.mkdir(parents=True)
    (half / "adapter_model.safetensors").write_bytes(b"half")

    core = await start_trainer_core(data_dir)
    try:
        jobs = {j.job_id: j for j in (await core.list_jobs(trainer_pb2.ListJobsRequest())).jobs}
        assert {k: (j.state, j.error) for k, j in jobs.items()} == {
            "q": ("failed", "trainer restarted"), "r": ("failed", "trainer restarted"),
            "s": ("succeeded", ""), "c": ("cancelled", "")}
        assert jobs["r"].step == 3, "progress made before the restart is kept"
        assert not half.exists()
        on_disk = {r.job.job_id: r.job.state for r in JobStore(store.folder).load_all()}
        assert on_disk == {"q": "failed", "r": "failed", "s": "succeeded", "c": "cancelled"}
    finally:
        await core.close()
