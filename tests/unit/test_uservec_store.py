"""The SQLite user-vector store on a real file: round trip, dimension check, atomic updates."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from attune.services.common.policy import PolicyConfig, policy_from_env
from attune.services.common.settings import SettingsError, load
from attune.services.uservec.settings import UserVecSettings
from attune.services.uservec.store import DimensionMismatch, UserState, UserVecStore

ROOT = Path(__file__).resolve().parents[2]
DIM = 8


@pytest.fixture()
def store(tmp_path):
    s = UserVecStore(tmp_path / "uv.sqlite3", DIM)
    yield s
    s.close()


def state(user_id: str, fill: float, **fields) -> UserState:
    return UserState(user_id, np.full(DIM, fill, np.float32), np.arange(DIM, dtype=np.float32) * fill, **fields)


def increment(current: UserState) -> UserState:
    """A step whose result depends on what it read: a lost update would show in the count and in z_long."""
    z_long = current.z_long.copy()
    z_long[0] += 1
    return current.evolve(z_long=z_long, updates=current.updates + 1)


def test_round_trip_survives_reopening(tmp_path):
    path = tmp_path / "uv.sqlite3"
    first = UserVecStore(path, DIM)
    with first.transaction() as txn:
        txn.put(state("ada", 0.5, baseline=0.25, updates=3))
    first.close()

    again = UserVecStore(path, DIM)
    try:
        got = again.get("ada")
        assert got.known and got.updates == 3 and got.baseline == pytest.approx(0.25)
        assert np.array_equal(got.z_long, np.full(DIM, 0.5, np.float32))
        assert np.array_equal(got.z_short, np.arange(DIM, dtype=np.float32) * 0.5)
        assert got.z_long.dtype == np.float32 and got.updated_at > 0
        assert again.get("bob") is None
    finally:
        again.close()


def test_the_database_is_wal_with_full_sync(store):
    conn = store._conn()
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL


def test_new_users_start_from_the_mean_z_long(store):
    empty = store.get_or_default("new")
    assert not empty.known and not empty.z_long.any() and not empty.z_short.any() and empty.updates == 0
    with store.transaction() as txn:
        txn.put(state("a", 1.0))
        txn.put(state("b", 3.0))
        txn.put(state("a", 2.0))  # replaces a: the mean follows
    new = store.get_or_default("new")
    assert not new.known
    assert new.z_long == pytest.approx(np.full(DIM, 2.5))
    assert not new.z_short.any()
    assert store.count() == 2

    assert store.delete("b") and not store.delete("b")
    assert store.get_or_default("new").z_long == pytest.approx(np.full(DIM, 2.0))
    assert store.delete("a")
    assert not store.get_or_default("new").z_long.any()


def test_the_kept_sum_matches_a_full_scan(store):
    rng = np.random.default_rng(1)
    for _ in range(200):
        user = f"u{rng.integers(20)}"
        if rng.random() < 0.2:
            store.delete(user)
        else:
            store.update(user, lambda s: s.evolve(z_long=rng.standard_normal(DIM).astype(np.float32)))
    scanned = store.all_z_long()
    assert store.count() == len(scanned)
    assert store.defaults().z_long == pytest.approx(np.mean(list(scanned.values()), axis=0), abs=1e-6)


def test_a_different_dimension_fails_at_open_naming_the_setting(tmp_path):
    path = tmp_path / "uv.sqlite3"
    UserVecStore(path, 256).close()
    with pytest.raises(DimensionMismatch, match="dimension 256.*configured dimension is 128.*ATTUNE_POLICY_DIM=256"):
        UserVecStore(path, 128)


def test_a_failing_step_changes_nothing(store):
    store.update("ada", increment)

    def explode(current):
        increment(current)
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        store.update("ada", explode)
    with pytest.raises(ValueError, match="finite"):
        store.update("ada", lambda s: s.evolve(z_long=np.full(DIM, np.nan, np.float32)))
    got = store.get("ada")
    assert got.updates == 1 and got.z_long[0] == 1


def test_apply_undoes_only_the_operation_that_failed(store):
    def fail(txn):
        txn.put(state("ghost", 9.0))
        raise KeyError("ghost")

    results = store.apply([lambda txn: txn.put(state("a", 1.0)), fail, lambda txn: txn.put(state("b", 3.0))])
    assert isinstance(results[1], KeyError)
    assert results[0].user_id == "a" and results[2].user_id == "b"
    assert store.get("ghost") is None and store.count() == 2
    assert store.defaults().z_long == pytest.approx(np.full(DIM, 2.0))


def test_parallel_updates_from_threads_lose_none(store):
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda _: store.update("shared", increment), range(200)))
    got = store.get("shared")
    assert got.updates == 200 and got.z_long[0] == 200


WORKER = textwrap.dedent("""
    import sys
    from attune.services.uservec.store import UserVecStore
    from tests.unit.test_uservec_store import DIM, increment
    store = UserVecStore(sys.argv[1], DIM, busy_timeout_s=60)
    for _ in range(int(sys.argv[2])):
        store.update("shared", increment)
    store.close()
""")


def test_parallel_updates_from_processes_lose_none(processes, tmp_path):
    path = tmp_path / "uv.sqlite3"
    UserVecStore(path, DIM).close()
    procs = [subprocess.Popen([sys.executable, "-c", WORKER, str(path), "30"], cwd=ROOT) for _ in range(4)]
    assert [p.wait(120) for p in procs] == [0] * 4
    store = UserVecStore(path, DIM)
    try:
        got = store.get("shared")
        assert got.updates == 120 and got.z_long[0] == 120
    finally:
        store.close()


CRASHER = textwrap.dedent("""
    import os, sys
    import numpy as np
    from attune.services.uservec.store import UserVecStore
    from tests.unit.test_uservec_store import DIM, state
    store = UserVecStore(sys.argv[1], DIM)
    with store.transaction() as txn:
        txn.put(state("half", 7.0))
        txn.delete("ada")
        os._exit(3)  # killed inside the transaction: no COMMIT
""")


def test_a_process_dying_inside_a_transaction_leaves_the_last_commit(processes, tmp_path):
    path = tmp_path / "uv.sqlite3"
    store = UserVecStore(path, DIM)
    store.update("ada", increment)
    assert subprocess.run([sys.executable, "-c", CRASHER, str(path)], cwd=ROOT, timeout=60).returncode == 3
    try:
        assert store.get("half") is None
        assert store.get("ada").updates == 1
        assert store.count() == 1
    finally:
        store.close()


def test_settings_map_to_the_policy_and_name_bad_variables(monkeypatch, tmp_path):
    assert policy_from_env() == PolicyConfig()
    assert UserVecSettings().port == 50054
    assert UserVecSettings().resolved_db_path(tmp_path) == tmp_path / "uservec.sqlite3"
    monkeypatch.setenv("ATTUNE_POLICY_DIM", "64")
    monkeypatch.setenv("ATTUNE_POLICY_ETA_LONG", "0.01")
    monkeypatch.setenv("ATTUNE_USERVEC_DB_PATH", str(tmp_path / "x.db"))
    assert policy_from_env() == PolicyConfig(dim=64, eta_long=0.01)
    assert load(UserVecSettings).resolved_db_path(Path("elsewhere")) == tmp_path / "x.db"
    monkeypatch.setenv("ATTUNE_POLICY_TAU", "0")
    with pytest.raises(SettingsError, match="ATTUNE_POLICY_TAU='0'"):
        policy_from_env()


async def test_both_services_read_the_one_policy_configuration(monkeypatch, tmp_path):
    from attune.services.common.launch import BuildContext
    from attune.services.common.settings import CommonSettings
    from attune.services.uservec.core import build

    monkeypatch.setenv("ATTUNE_POLICY_DIM", "32")
    core = await build(BuildContext(UserVecSettings(), CommonSettings(data_dir=tmp_path), tmp_path))
    assert core.config.dim == 32
