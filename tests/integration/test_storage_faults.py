"""Storage faults, for real: a process killed (SIGKILL) in the middle of writing the user-vector SQLite file
or the retrieval shard loses nothing it acknowledged and leaves a store that opens; a damaged file is refused
at start with a message naming it, never served from; a full disk (a file-size limit the kernel enforces)
stops a run with a clear error and loses no finished session."""

from __future__ import annotations

import asyncio
import json
import os
import resource
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from attune.services.retrieval.cardstore import CardPoint
from attune.services.retrieval.cardstore import StoreError as ShardError
from attune.services.retrieval.store import EdgeCardStore
from attune.services.uservec.client import update_request
from attune.services.uservec.core import UserVectorService
from attune.services.uservec.settings import UserVecSettings
from attune.services.uservec.store import StoreError
from attune.v1 import uservec_pb2

ROOT = Path(__file__).resolve().parents[2]
DIM = 256  # the policy's default dimension
ACKNOWLEDGED = 40


def update_for(i: int) -> uservec_pb2.UpdateFromRewardRequest:
    """The i-th update of the writer: the same for the child that writes and the replay that checks."""
    rng = np.random.default_rng(i)
    return update_request("writer", float(rng.uniform(-1, 1)), rng.normal(size=(3, DIM)).astype(np.float32),
                          [0.2, 0.3, 0.5], [i % 3])


def card_for(i: int) -> CardPoint:
    vector = np.random.default_rng(i).normal(size=8).astype(np.float32)
    return CardPoint("writer", f"card-{i}", vector, {"user_id": "writer", "card_id": f"card-{i}", "text": "x" * 200})


async def uservec_writer(folder: str) -> None:
    core = UserVectorService(UserVecSettings(), folder)
    await core.start()
    i = 0
    while True:
        await core.update_from_reward(update_for(i))
        i += 1
        print(i, flush=True)  # acknowledged: the update's transaction has committed


def shard_writer(folder: str) -> None:
    store = EdgeCardStore(Path(folder), "test", 8)
    i = 0
    while True:
        store.upsert([card_for(i)])
        i += 1
        print(i, flush=True)


def kill_after(writer: str, folder: Path, acknowledged: int = ACKNOWLEDGED) -> int:
    """Run ``writer`` in a child process, SIGKILL it once it has acknowledged that many writes; returns the
    last number it acknowledged."""
    code = f"import asyncio, sys; from tests.integration.test_storage_faults import {writer} as w; " \
           "r = w(sys.argv[1]); " \
           "asyncio.run(r) if asyncio.iscoroutine(r) else None"
    child = subprocess.Popen([sys.executable, "-c", code, str(folder)], cwd=ROOT, stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, text=True)
    last = 0
    for line in child.stdout:
        if not line.strip().isdigit():
            continue  # a log line of the writer's service
        last = int(line)
        if last >= acknowledged:
            os.kill(child.pid, signal.SIGKILL)
            break
    child.wait(timeout=60)
    assert child.returncode == -signal.SIGKILL, "the writer died before it was killed"
    return last


async def open_uservec(folder: Path) -> UserVectorService:
    core = UserVectorService(UserVecSettings(), folder)
    await core.start()
    return core


async def test_uservec_killed_mid_write_keeps_every_acknowledged_update(processes, tmp_path):
    last = await asyncio.to_thread(kill_after, "uservec_writer", tmp_path / "killed")
    core = await open_uservec(tmp_path / "killed")  # opens: quick_check found every page intact
    state = await core.get_vectors(uservec_pb2.GetVectorsRequest(user_id="writer"))
    await core.close()
    assert last <= state.updates <= last + 1, "acknowledged updates kept (one more may have committed unseen)"
    replay = await open_uservec(tmp_path / "replay")
    for i in range(state.updates):
        await replay.update_from_reward(update_for(i))
    expected = await replay.get_vectors(uservec_pb2.GetVectorsRequest(user_id="writer"))
    await replay.close()
    assert np.array(state.z_long.values, np.float32).tobytes() == np.array(expected.z_long.values,
                                                                           np.float32).tobytes()


def test_shard_killed_mid_write_keeps_every_acknowledged_card(processes, tmp_path):
    last = kill_after("shard_writer", tmp_path)
    store = EdgeCardStore(tmp_path, "test", 8)  # opens: every payload read back
    ids = {c.card_id for c in store.list("writer")}
    store.close()
    assert {f"card-{i}" for i in range(last)} <= ids


async def test_a_damaged_user_vector_file_is_refused_naming_it(processes, tmp_path):
    core = await open_uservec(tmp_path)
    for i in range(5):
        await core.update_from_reward(update_for(i))
    await core.close()
    data = bytearray(core.db_path.read_bytes())
    for i in range(4096, len(data), 97):  # every page after the header
        data[i] ^= 0xFF
    core.db_path.write_bytes(bytes(data))
    with pytest.raises(StoreError, match=rf"{core.db_path} is not an intact user-vector store"):
        await open_uservec(tmp_path)
    served = subprocess.run([sys.executable, "-m", "attune.services", "uservec"], cwd=ROOT, capture_output=True,
                            text=True, timeout=120, env=dict(os.environ, ATTUNE_DATA_DIR=str(tmp_path),
                                                             ATTUNE_USERVEC_PORT="0"))
    assert served.returncode != 0 and "is not an intact user-vector store" in served.stderr + served.stdout


def test_a_damaged_shard_is_refused_naming_it(tmp_path):
    store = EdgeCardStore(tmp_path, "test", 8)
    store.upsert([card_for(i) for i in range(20)])
    store.close()
    for page in tmp_path.rglob("payload_storage/page_*.dat"):
        page.write_bytes(b"\xff" * 4096)
    with pytest.raises(ShardError, match=r"is damaged .*it is not served from"):
        EdgeCardStore(tmp_path, "test", 8)


def limit_file_size(limit: int):
    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG instead

    return apply


def test_a_full_disk_stops_the_run_clearly_and_loses_no_finished_session(processes, data_dir, tmp_path):
    experiment = tmp_path / "full.yaml"
    experiment.write_text(yaml.safe_dump({
        "name": "full-disk", "methods": ["vanilla"], "datasets": ["math-500"], "n_profiles": 1, "n_sessions": 8,
        "max_turns": 1, "seed": 6, "concurrency": 1, "transport": "in_process",
        "method_settings": {"max_reply_tokens": 16}, "simulator": {"max_tokens": 48}, "judge": {"enabled": False}}))
    out = tmp_path / "run"
    command = [sys.executable, "-m", "attune.orchestrator.cli", "run", str(experiment), "--output-dir", str(out)]
    env = dict(os.environ, ATTUNE_DATA_DIR=str(data_dir))
    # Room for the run's provenance (about 8 KB) and some of its 8 records (about 1.7 KB each), not for all.
    stopped = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=900, env=env,
                             preexec_fn=limit_file_size(10_000))
    assert stopped.returncode == 2, stopped.stderr[-2000:] + stopped.stdout[-2000:]
    said = " ".join((stopped.stdout + stopped.stderr).split())  # the console wraps long lines
    assert "cannot append to" in said and "make room and run again to resume" in said, said[-2000:]
    log = out / "sessions.jsonl"
    kept = [json.loads(line) for line in log.read_bytes().splitlines()]
    assert 1 <= len(kept) < 8 and log.read_bytes().endswith(b"\n"), "whole records only, and some were written"
    resumed = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=900, env=env)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    after = [json.loads(line) for line in log.read_bytes().splitlines()]
    assert len(after) == 8 and after[:len(kept)] == kept, "the finished sessions were kept as they were"
