"""User-vector update rate: in process vs. through gRPC, 1 and 8 concurrent clients, one user vs. many.

Every update is a full UpdateFromReward (8 candidate item vectors of the
configured dimension, their probabilities, one chosen card, a reward) that is
validated, applied with the REINFORCE step and committed to SQLite (WAL,
synchronous=FULL: one fsync per commit) before it is answered. Concurrent
updates share commits, so concurrency raises the rate; "store c1" is the
store alone, one transaction per update, for reference.

The service runs as its own process (``python -m attune.services.uservec``) on
127.0.0.1, as `make up` runs it; "grpc c8" is 8 clients, each with its own
channel. Rounds alternate the modes so drift on a shared machine hits all of
them alike. The SQLite files go to a temporary folder under ATTUNE_DATA_DIR
(a real disk: a tmpfs would hide the fsync).

    .venv/bin/python bench/bench_uservec.py [--seconds 3] [--rounds 2] [--users 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from attune.services.common.logging import setup_logging  # noqa: E402
from attune.services.common.net import free_port  # noqa: E402
from attune.services.common.policy import PolicyConfig, policy  # noqa: E402
from attune.services.uservec.client import UserVectorClient, update_request  # noqa: E402
from attune.services.uservec.core import UserVectorService  # noqa: E402
from attune.services.uservec.settings import UserVecSettings  # noqa: E402
from attune.services.uservec.store import UserVecStore  # noqa: E402
from attune.v1.uservec_pb2 import UpdateFromRewardRequest  # noqa: E402
from bench.report import print_ratios  # noqa: E402

CANDIDATES = 8


def requests(config, count: int = 64, seed: int = 0) -> list[UpdateFromRewardRequest]:
    """Realistic update requests: item vectors, the policy's probabilities, a chosen card, a reward."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(count):
        items = rng.standard_normal((CANDIDATES, config.dim)).astype(np.float32) / np.sqrt(config.dim)
        _, probs = policy(rng.standard_normal(CANDIDATES), items, np.zeros(config.dim), np.zeros(config.dim), config)
        out.append(update_request("", float(rng.uniform(-1, 1)), items, probs, [int(rng.integers(CANDIDATES))]))
    return out


async def rate(services: list, concurrency: int, users: int, seconds: float, reqs: list) -> float:
    """Updates per second of ``concurrency`` callers (caller i uses ``services[i % len]``) for ``seconds``."""
    done = 0
    stop = time.perf_counter() + seconds

    async def caller(i: int):
        nonlocal done
        service, n = services[i % len(services)], i
        while time.perf_counter() < stop:
            request = UpdateFromRewardRequest()
            request.CopyFrom(reqs[n % len(reqs)])
            request.user_id = f"user-{n % users}" if users > 1 else "one-user"
            await service.update_from_reward(request)
            done += 1
            n += concurrency

    start = time.perf_counter()
    await asyncio.gather(*[caller(i) for i in range(concurrency)])
    return done / (time.perf_counter() - start)


def store_rate(store: UserVecStore, seconds: float) -> float:
    """The store alone: one read-modify-write transaction per update, no grouping."""
    done, stop = 0, time.perf_counter() + seconds
    start = time.perf_counter()
    while time.perf_counter() < stop:
        store.update("store-user", lambda s: s.evolve(z_long=s.z_long + 1e-3, updates=s.updates + 1))
        done += 1
    return done / (time.perf_counter() - start)


async def start_service(db_path: Path) -> tuple[subprocess.Popen, int]:
    port = free_port()
    env = dict(os.environ, ATTUNE_USERVEC_DB_PATH=str(db_path), ATTUNE_USERVEC_PORT=str(port),
               ATTUNE_LOG_LEVEL="warning", ATTUNE_AUTH_TOKEN="")
    proc = subprocess.Popen([sys.executable, "-m", "attune.services.uservec"], cwd=ROOT, env=env)
    async with UserVectorClient(f"127.0.0.1:{port}") as client:
        await client.wait_ready(timeout_s=60)
    return proc, port


async def bench(args) -> dict[str, float]:
    work = Path(tempfile.mkdtemp(prefix="bench-uservec-", dir=args.data_dir))
    settings = UserVecSettings()
    reqs = requests(PolicyConfig())
    core = UserVectorService(settings.model_copy(update={"db_path": work / "inprocess.sqlite3"}), work)
    await core.start()
    store = UserVecStore(work / "store.sqlite3", PolicyConfig().dim)
    proc, port = await start_service(work / "service.sqlite3")
    clients = [UserVectorClient(f"127.0.0.1:{port}", timeout_s=30) for _ in range(8)]
    results: dict[str, list[float]] = {}
    try:
        await rate([core], 8, 8, 0.5, reqs)  # warm-up
        await rate(clients, 8, 8, 0.5, reqs)
        modes = {}
        for users, label in ((1, "one user"), (args.users, f"{args.users} users")):
            for concurrency in (1, 8):
                modes[f"in-process c{concurrency}, {label}"] = ([core], concurrency, users)
                modes[f"grpc c{concurrency}, {label}"] = (clients, concurrency, users)
        for _ in range(args.rounds):
            results.setdefault("store c1, one user (no grouping)", []).append(store_rate(store, args.seconds))
            for name, (services, concurrency, users) in modes.items():
                results.setdefault(name, []).append(await rate(services, concurrency, users, args.seconds, reqs))
                Console(stderr=True).print(f"{name}: {results[name][-1]:.0f} updates/s")
    finally:
        for client in clients:
            await client.close()
        proc.terminate()
        proc.wait(30)
        await core.close()
        store.close()
        shutil.rmtree(work, ignore_errors=True)
    return {name: statistics.median(values) for name, values in results.items()}


def report(medians: dict[str, float], users: int) -> dict[str, float]:
    table = Table("mode", "updates/s (median)", "ms per update per caller", title="user-vector update rate")
    for name, value in medians.items():
        concurrency = 8 if " c8" in name else 1
        table.add_row(name, f"{value:.0f}", f"{1000 * concurrency / value:.2f}")
    Console().print(table)
    many = f"{users} users"
    ratios = {
        "grpc c8 / in-process c8 (one user)": medians["grpc c8, one user"] / medians["in-process c8, one user"],
        "grpc c1 / in-process c1 (one user)": medians["grpc c1, one user"] / medians["in-process c1, one user"],
        "in-process c8 / c1 (one user)": medians["in-process c8, one user"] / medians["in-process c1, one user"],
        "grpc c8 / c1 (one user)": medians["grpc c8, one user"] / medians["grpc c1, one user"],
        f"grpc c8: {many} / one user": medians[f"grpc c8, {many}"] / medians["grpc c8, one user"],
        f"in-process c8: {many} / one user": medians[f"in-process c8, {many}"] / medians["in-process c8, one user"],
    }
    print_ratios(ratios)
    return ratios


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=3.0, help="per mode and round")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--users", type=int, default=1000, help="distinct users of the many-users modes")
    parser.add_argument("--data-dir", default=os.environ.get("ATTUNE_DATA_DIR", str(ROOT / ".attune")))
    parser.add_argument("--json-out", help="write medians and ratios here")
    args = parser.parse_args()
    Path(args.data_dir).mkdir(parents=True, exist_ok=True)
    setup_logging("bench", "warning")
    medians = asyncio.run(bench(args))
    ratios = report(medians, args.users)
    if args.json_out:
        Path(args.json_out).write_text(json.dumps({"medians": medians, "ratios": ratios}, indent=2))


if __name__ == "__main__":
    main()
