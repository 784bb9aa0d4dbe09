"""Resume is exact for a method that learns: a rag_vector session cut off after its REINFORCE updates reached
the user-vector store is undone on resume (RestoreUser puts back the state the last finished session left,
and forgets the applied request ids), so the rerun ends with the same z_long, bit for bit, as a run that was
never interrupted. Real SmolLM2, real stores, one chain at a time (deterministic batches)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from attune.orchestrator.benchmark.experiment import parse_experiment
from attune.orchestrator.benchmark.records import SessionLog
from attune.orchestrator.benchmark.run import run_experiment
from attune.services.common.settings import CommonSettings
from attune.services.uservec.client import update_request
from attune.services.uservec.core import UserVectorService
from attune.services.uservec.settings import UserVecSettings
from attune.v1 import uservec_pb2

EXPERIMENT = {"name": "exact", "methods": ["rag_vector"], "datasets": ["math-500"], "n_profiles": 1,
              "n_sessions": 2, "max_turns": 2, "conflict_share": 1.0, "seed": 4, "concurrency": 1,
              "transport": "in_process", "method_settings": {"max_reply_tokens": 24}, "simulator": {"max_tokens": 64},
              "judge": {"enabled": False}}


def update(user_id: str, reward: float, items, probabilities, chosen, request_id: str):
    request = update_request(user_id, reward, items, probabilities, chosen)
    request.request_id = request_id
    return request


def records(run: Path) -> dict[int, dict]:
    return {key[2]: r.model_dump(mode="json") for key, r in SessionLog(run / "sessions.jsonl").load().items()}


def z_long(record: dict) -> np.ndarray:
    return np.array(record["memory"]["user_vector_state"]["z_long"]["values"], dtype=np.float32)


async def cut_off_session_two(run: Path, user_id: str) -> None:
    """What a kill in session 2 leaves: no record of it, but updates of it in the store (here: random ones)."""
    log = run / "sessions.jsonl"
    log.write_text("".join(line for line in log.read_text().splitlines(keepends=True) if '"session":2' not in line))
    (db,) = run.rglob("uservec.sqlite3")
    core = UserVectorService(UserVecSettings(db_path=db), run)
    await core.start()
    try:
        dim = core.config.dim
        items = np.random.default_rng(0).normal(size=(3, dim)).astype(np.float32)
        for i in range(3):
            await core.update_from_reward(update(user_id, 1.0, items, [0.2, 0.3, 0.5], [i], f"cut-{i}"))
    finally:
        await core.close()


async def test_a_cut_off_session_is_undone_on_resume(model_core, data_dir, tmp_path):
    exp = parse_experiment(EXPERIMENT, "test")
    common = CommonSettings(data_dir=data_dir)
    run = tmp_path / "exact"  # the folder's name is the run's id, and the users' ids carry it: resume in place
    result = await run_experiment(exp, run, common, json_logs=True, model=model_core)
    assert result.failures == [] and result.finished == 2
    first, second = records(run)[1], records(run)[2]
    updates = [int(r["memory"]["user_vector_state"].get("updates", 0)) for r in (first, second)]
    assert updates[1] > updates[0], "session 2 made REINFORCE updates, which a cut-off would leave behind"

    await cut_off_session_two(run, first["user_id"])
    resumed = await run_experiment(exp, run, common, json_logs=True, model=model_core)
    assert resumed.failures == [] and (resumed.finished, resumed.resumed) == (1, 1)
    rerun = records(run)[2]
    assert rerun["turns"] == second["turns"], "the session reran from the same state"
    assert z_long(rerun).tobytes() == z_long(second).tobytes()
    assert rerun["memory"]["user_vector_state"] == second["memory"]["user_vector_state"]


async def test_restore_user_writes_the_state_back_and_forgets_applied_ids(tmp_path):
    core = UserVectorService(UserVecSettings(), tmp_path)
    await core.start()
    try:
        dim = core.config.dim
        items = np.random.default_rng(1).normal(size=(2, dim)).astype(np.float32)
        first = update("u", 0.5, items, [0.4, 0.6], [1], "r1")
        saved = await core.get_vectors(uservec_pb2.GetVectorsRequest(user_id="u"))
        after_first = await core.update_from_reward(first)
        await core.update_from_reward(update("u", -1.0, items, [0.5, 0.5], [0], "r2"))
        await core.restore_user(uservec_pb2.RestoreUserRequest(state=saved))
        assert (await core.get_vectors(uservec_pb2.GetVectorsRequest(user_id="u"))).known is False
        again = await core.update_from_reward(first)
        assert again.z_long.values == after_first.z_long.values, "r1 applies again, from the same state"
        await core.restore_user(uservec_pb2.RestoreUserRequest(state=after_first))
        now = await core.get_vectors(uservec_pb2.GetVectorsRequest(user_id="u"))
        assert (now.z_long.values, now.z_short.values, now.baseline, now.updates) == (
            after_first.z_long.values, after_first.z_short.values, after_first.baseline, after_first.updates)
    finally:
        await core.close()
