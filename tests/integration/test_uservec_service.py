"""The real user-vector service: SQLite on disk, gRPC on 127.0.0.1, and in process."""

from __future__ import annotations

import asyncio
import math
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from attune.services.common.errors import InvalidArgument, NotFound, Unauthenticated
from attune.services.common.net import free_port
from attune.services.common.policy import PolicyConfig, policy, reinforce
from attune.services.uservec.client import UserVectorClient, update_request, vectors
from attune.v1 import uservec_pb2
from tests.fixtures.uservec import start_uservec_core, start_uservec_server

ROOT = Path(__file__).resolve().parents[2]
CONFIG = PolicyConfig()
DIM = CONFIG.dim


def items(n: int = 4, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, DIM)).astype(np.float32)


def get(user_id: str) -> uservec_pb2.GetVectorsRequest:
    return uservec_pb2.GetVectorsRequest(user_id=user_id)


def reset(user_id: str) -> uservec_pb2.ResetRequest:
    return uservec_pb2.ResetRequest(user_id=user_id)


def expected_step(before: uservec_pb2.UserVectors, request: uservec_pb2.UpdateFromRewardRequest):
    """What services.common.policy.reinforce makes of ``before`` (float32 in, float32 out, as stored)."""
    z_long, z_short = vectors(before)
    cands = np.array([v.values for v in request.candidate_vectors], dtype=np.float32).reshape(-1, DIM)
    new_long, new_short, baseline = reinforce(
        z_long.astype(np.float64), z_short.astype(np.float64), before.baseline, request.reward,
        cands.astype(np.float64), np.array(request.probabilities, dtype=np.float64), list(request.chosen), CONFIG)
    return new_long.astype(np.float32), new_short.astype(np.float32), baseline


@pytest.fixture()
async def fresh(tmp_path):
    """A service on an empty store of its own, served on 127.0.0.1, and a client of it."""
    core = await start_uservec_core(tmp_path)
    server = await start_uservec_server(core)
    client = UserVectorClient(server.address)
    yield core, client
    await client.close()
    await server.stop()
    await core.close()


async def test_update_moves_the_vectors_as_the_policy_says(uservec_client):
    cands = items()
    _, probs = policy(np.zeros(4), cands, np.zeros(DIM), np.zeros(DIM), CONFIG)
    before = await uservec_client.get_vectors(get("policy-user"))
    request = update_request("policy-user", 0.75, cands, probs, [2], run_id="r1", session_id="s1",
                             caller_role="reward", method="rag_vector")
    after = await uservec_client.update_from_reward(request)
    z_long, z_short, baseline = expected_step(before, request)
    assert after.known and after.updates == 1 and after.user_id == "policy-user"
    np.testing.assert_allclose(vectors(after)[0], z_long, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(vectors(after)[1], z_short, rtol=1e-6, atol=1e-9)
    assert after.baseline == pytest.approx(baseline)
    assert not np.allclose(vectors(after)[0], vectors(before)[0]), "a rewarded choice moves z_long"

    # The step is relative to the stored state: a second update starts where the first ended.
    second = update_request("policy-user", -0.5, cands, probs, [0, 3])
    after2 = await uservec_client.update_from_reward(second)
    z_long2, z_short2, baseline2 = expected_step(after, second)
    assert after2.updates == 2
    np.testing.assert_allclose(vectors(after2)[0], z_long2, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(vectors(after2)[1], z_short2, rtol=1e-6, atol=1e-9)
    assert after2.baseline == pytest.approx(baseline2)
    assert await uservec_client.get_vectors(get("policy-user")) == after2


async def test_in_process_and_grpc_give_the_same_answer(uservec_core, uservec_client):
    await uservec_core.update_from_reward(update_request("same-user", 1.0, items(), [0.25] * 4, [1]))
    assert await uservec_core.get_vectors(get("same-user")) == await uservec_client.get_vectors(get("same-user"))


async def test_no_chosen_card_moves_only_the_baseline(uservec_client):
    first = await uservec_client.update_from_reward(update_request("no-choice", 1.0, items(), [0.25] * 4, [1]))
    after = await uservec_client.update_from_reward(update_request("no-choice", 1.0, items(), [0.25] * 4, []))
    assert after.updates == 2 and after.baseline > first.baseline
    assert vectors(after)[0] == pytest.approx(vectors(first)[0])


async def test_new_users_start_from_the_mean_of_known_users(fresh):
    _core, client = fresh
    unknown = await client.get_vectors(get("nobody"))
    assert not unknown.known and unknown.updates == 0 and unknown.baseline == 0
    assert vectors(unknown)[0].shape == (DIM,) and not vectors(unknown)[0].any()

    known = []
    for i, user in enumerate(["a", "b", "c"]):
        for step in range(i + 1):
            reply = await client.update_from_reward(update_request(user, 1.0 - step / 2, items(seed=i),
                                                                   [0.25] * 4, [i]))
        known.append(vectors(reply)[0])
    mean = np.mean(known, axis=0)
    assert np.abs(mean).max() > 0

    newcomer = await client.get_vectors(get("newcomer"))
    assert not newcomer.known and newcomer.updates == 0
    np.testing.assert_allclose(vectors(newcomer)[0], mean, rtol=1e-5, atol=1e-9)
    assert not vectors(newcomer)[1].any()
    # Reading an unknown user writes nothing.
    assert not (await client.get_vectors(get("newcomer"))).known

    # An update creates the user from those defaults, then applies the step.
    request = update_request("newcomer", 0.5, items(seed=9), [0.25] * 4, [0])
    created = await client.update_from_reward(request)
    z_long, z_short, _ = expected_step(newcomer, request)
    assert created.known and created.updates == 1
    np.testing.assert_allclose(vectors(created)[0], z_long, rtol=1e-5, atol=1e-9)
    np.testing.assert_allclose(vectors(created)[1], z_short, rtol=1e-5, atol=1e-9)


async def test_reset_session_zeroes_z_short_only(uservec_client):
    for _ in range(3):
        before = await uservec_client.update_from_reward(update_request("session-user", 1.0, items(), [0.25] * 4,
                                                                        [1]))
    assert vectors(before)[1].any()
    after = await uservec_client.reset_session(reset("session-user"))
    assert after.known and after.updates == before.updates and after.baseline == before.baseline
    assert not vectors(after)[1].any()
    assert vectors(after)[0] == pytest.approx(vectors(before)[0])
    assert await uservec_client.get_vectors(get("session-user")) == after
    with pytest.raises(NotFound, match="no-such-user"):
        await uservec_client.reset_session(reset("no-such-user"))


async def test_reset_user_forgets_the_user(fresh):
    _core, client = fresh
    other = await client.update_from_reward(update_request("stays", 1.0, items(seed=1), [0.25] * 4, [0]))
    await client.update_from_reward(update_request("goes", -1.0, items(seed=2), [0.25] * 4, [3]))
    defaults = await client.reset_user(reset("goes"))
    assert not defaults.known and defaults.updates == 0 and defaults.baseline == 0
    # The defaults are now the mean of the users left: just "stays".
    assert vectors(defaults)[0] == pytest.approx(vectors(other)[0])
    assert await client.get_vectors(get("goes")) == defaults
    with pytest.raises(NotFound):
        await client.reset_user(reset("goes"))
    assert (await client.get_vectors(get("stays"))).updates == 1


def bad_requests():
    good = dict(user_id="victim", reward=0.5, candidate_vectors=items(), probabilities=[0.25] * 4, chosen=[1])

    def with_(**changes):
        fields = good | changes
        return update_request(fields.pop("user_id"), fields.pop("reward"), **fields)

    wrong_dim = items()
    return [
        (with_(user_id=""), "user_id"),
        (with_(user_id="   "), "user_id"),
        (with_(user_id="x" * 257), "user_id"),
        (with_(user_id="bad\nid"), "user_id"),
        (with_(reward=float("nan")), "reward"),
        (with_(reward=float("inf")), "reward"),
        (with_(reward=1.5), "reward"),
        (with_(reward=-1.01), "reward"),
        (with_(candidate_vectors=[wrong_dim[0], wrong_dim[1][:100], wrong_dim[2], wrong_dim[3]]),
         "candidate_vectors[1]"),
        (with_(candidate_vectors=np.vstack([wrong_dim, wrong_dim]).reshape(4, 2 * DIM)), "candidate_vectors[0]"),
        (with_(candidate_vectors=np.where(np.arange(DIM) == 5, np.nan, wrong_dim)), "candidate_vectors[0]"),
        (with_(probabilities=[0.5, 0.5]), "probabilities"),
        (with_(probabilities=[0.25, 0.25, 0.25, 0.2]), "probabilities"),
        (with_(probabilities=[0.5, 0.75, -0.25, 0.0]), "probabilities[2]"),
        (with_(probabilities=[0.25, 0.25, float("nan"), 0.25]), "probabilities[2]"),
        (with_(chosen=[4]), "chosen[0]"),
        (with_(chosen=[0, -1]), "chosen[1]"),
        (with_(chosen=[2, 2]), "chosen[1]"),
        (with_(candidate_vectors=np.zeros((0, DIM)), probabilities=[], chosen=[0]), "chosen[0]"),
    ]


@pytest.mark.parametrize(("request_", "field"), bad_requests())
async def test_bad_input_is_invalid_argument_and_changes_nothing(uservec_client, uservec_core, request_, field):
    await uservec_client.update_from_reward(update_request("victim", 1.0, items(), [0.25] * 4, [0]))
    before = await uservec_client.get_vectors(get("victim"))
    users_before = uservec_core.store.count()
    with pytest.raises(InvalidArgument) as err:
        await uservec_client.update_from_reward(request_)
    assert err.value.field == field
    assert await uservec_client.get_vectors(get("victim")) == before
    assert uservec_core.store.count() == users_before, "a refused update must not create a user"
    # In process: the same error.
    with pytest.raises(InvalidArgument) as err:
        await uservec_core.update_from_reward(request_)
    assert err.value.field == field


async def test_a_refused_update_does_not_create_the_user(uservec_client):
    with pytest.raises(InvalidArgument, match="reward"):
        await uservec_client.update_from_reward(update_request("never-made", math.nan, items(), [0.25] * 4, [0]))
    assert not (await uservec_client.get_vectors(get("never-made"))).known


@pytest.mark.parametrize("user_id", ["", "y" * 300, "tab\there"])
async def test_bad_user_ids_are_refused_everywhere(uservec_client, user_id):
    for call, request in [(uservec_client.get_vectors, get(user_id)),
                          (uservec_client.reset_session, reset(user_id)),
                          (uservec_client.reset_user, reset(user_id))]:
        with pytest.raises(InvalidArgument) as err:
            await call(request)
        assert err.value.field == "user_id"


async def test_the_token_is_required(uservec_server):
    async with UserVectorClient(uservec_server.address) as anonymous:
        with pytest.raises(Unauthenticated):
            await anonymous.get_vectors(get("anyone"))
        assert await anonymous.health() == "SERVING"


async def test_parallel_clients_lose_no_update(fresh):
    _core, client = fresh
    target = client.target
    cands = items(6, seed=4)
    _, probs = policy(np.zeros(6), cands, np.zeros(DIM), np.zeros(DIM), CONFIG)
    request = update_request("crowd", 0.8, cands, probs, [1, 4])
    clients = [UserVectorClient(target) for _ in range(8)]
    try:
        async def worker(c):
            return [(await c.update_from_reward(request)).updates for _ in range(25)]

        counts = await asyncio.gather(*[worker(c) for c in clients])
    finally:
        for c in clients:
            await c.close()
    acknowledged = sorted(n for per_client in counts for n in per_client)
    assert acknowledged == list(range(1, 201)), "each update saw a distinct predecessor"

    final = await client.get_vectors(get("crowd"))
    assert final.updates == 200
    # Identical requests: every order gives the same result, so replay them one by one
    # from the defaults "crowd" started from (zeros: no other users).
    z_long, z_short, baseline = np.zeros(DIM, np.float32), np.zeros(DIM, np.float32), 0.0
    for _ in range(200):
        z_long, z_short, baseline = reinforce(z_long.astype(np.float64), z_short.astype(np.float64), baseline,
                                              float(np.float32(0.8)), cands.astype(np.float64),
                                              np.array(request.probabilities, np.float64), [1, 4], CONFIG)
        z_long, z_short = z_long.astype(np.float32), z_short.astype(np.float32)
    assert final.baseline == pytest.approx(0.8 * (1 - (1 - CONFIG.baseline_ema) ** 200))
    assert final.baseline == pytest.approx(baseline)
    np.testing.assert_allclose(vectors(final)[0], z_long, rtol=1e-5, atol=1e-8)
    np.testing.assert_allclose(vectors(final)[1], z_short, rtol=1e-5, atol=1e-8)


async def test_concurrent_updates_on_many_users_in_process(fresh):
    core, _client = fresh
    replies = await asyncio.gather(*[core.update_from_reward(update_request(f"user-{i % 10}", 0.5, items(),
                                                                            [0.25] * 4, [i % 4]))
                                     for i in range(100)])
    assert sorted(r.updates for r in replies) == sorted(list(range(1, 11)) * 10)
    assert core.store.count() == 10
    for i in range(10):
        assert (await core.get_vectors(get(f"user-{i}"))).updates == 10


# ---- the service as its own process --------------------------------------

def start_process(db_path: Path, port: int, **env) -> subprocess.Popen:
    environ = dict(os.environ, ATTUNE_DATA_DIR=str(db_path.parent), ATTUNE_USERVEC_DB_PATH=str(db_path),
                   ATTUNE_USERVEC_PORT=str(port), ATTUNE_LOG_LEVEL="warning", ATTUNE_AUTH_TOKEN="", **env)
    return subprocess.Popen([sys.executable, "-m", "attune.services.uservec"], cwd=ROOT, env=environ,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


async def test_sigkill_mid_session_loses_no_acknowledged_update(processes, tmp_path):
    db = tmp_path / "uservec.sqlite3"
    cands = items(5, seed=7)
    request = update_request("survivor", 0.6, cands, [0.2] * 5, [3], session_id="s-1")
    port = free_port()
    proc = start_process(db, port)
    acked: list[int] = []
    try:
        # No retries: a call that did not come back is not acknowledged and is not sent again.
        clients = [UserVectorClient(f"127.0.0.1:{port}", max_attempts=1, timeout_s=10) for _ in range(4)]
        await clients[0].wait_ready(timeout_s=60)

        async def keep_updating(c):
            while True:
                acked.append((await c.update_from_reward(request)).updates)

        workers = [asyncio.create_task(keep_updating(c)) for c in clients]
        while len(acked) < 60:
            await asyncio.sleep(0.005)
            if any(w.done() for w in workers):
                break
        proc.send_signal(signal.SIGKILL)  # no graceful stop, writes in flight
        proc.wait(10)
        results = await asyncio.gather(*workers, return_exceptions=True)
        assert all(isinstance(r, Exception) for r in results)
        for c in clients:
            await c.close()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    # Each acknowledged reply carries the count its commit reached: all distinct.
    assert len(acked) >= 60 and len(set(acked)) == len(acked)
    in_flight = len(workers)

    port = free_port()
    again = start_process(db, port)
    try:
        async with UserVectorClient(f"127.0.0.1:{port}") as client:
            await client.wait_ready(timeout_s=60)
            after = await client.get_vectors(get("survivor"))
    finally:
        again.terminate()
        assert again.wait(30) == 0, again.stderr.read()
    # Every acknowledged update is there; at most the calls in flight at the kill were applied unanswered.
    assert after.known and max(acked) <= after.updates <= len(acked) + in_flight
    # And the stored state is exactly that many steps, none torn: replay them.
    z_long, z_short, baseline = np.zeros(DIM, np.float32), np.zeros(DIM, np.float32), 0.0
    for _ in range(after.updates):
        z_long, z_short, baseline = reinforce(z_long.astype(np.float64), z_short.astype(np.float64), baseline,
                                              float(np.float32(0.6)), cands.astype(np.float64),
                                              np.full(5, np.float32(0.2), np.float64), [3], CONFIG)
        z_long, z_short = z_long.astype(np.float32), z_short.astype(np.float32)
    np.testing.assert_allclose(vectors(after)[0], z_long, rtol=1e-5, atol=1e-8)
    np.testing.assert_allclose(vectors(after)[1], z_short, rtol=1e-5, atol=1e-8)
    assert vectors(after)[1].any(), "the session vector survives the restart too"
    assert after.baseline == pytest.approx(baseline)


async def test_a_store_of_another_dimension_stops_the_service_at_start(processes, tmp_path):
    db = tmp_path / "uservec.sqlite3"
    core = await start_uservec_core(tmp_path, db_path=db)
    await core.close()
    proc = start_process(db, free_port(), ATTUNE_POLICY_DIM="64")
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 2
    assert "ATTUNE_POLICY_DIM=256" in stderr and "Traceback" not in stderr


async def test_a_retried_update_is_applied_once(uservec_client):
    request = update_request("retry-user", 0.5, np.eye(4, 256, dtype=np.float32), np.full(4, 0.25), [1])
    request.request_id = "req-1"
    first = await uservec_client.update_from_reward(request)
    again = await uservec_client.update_from_reward(request)
    assert first.updates == again.updates == 1
    assert again.z_long == first.z_long
    request.request_id = "req-2"
    assert (await uservec_client.update_from_reward(request)).updates == 2
