"""Benchmark sessions per hour: one fixed small experiment at concurrency 1 and 8, same model.

The model service runs as its own process (``python -m attune.services.model``, as
`make up` runs it) and both runs talk to it over gRPC, so concurrency 8 gains
only by sharing the service's batches. Each run gets a fresh output folder;
rounds alternate the two concurrencies so drift on a shared machine hits both.
Target: concurrency 8 >= 3x the sessions per hour of concurrency 1.

    .venv/bin/python bench/bench_sessions.py [--rounds 1] [--profiles 8] [--max-turns 2]
    .venv/bin/python bench/bench_sessions.py --backend vllm --model-python .venv-vllm/bin/python
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from attune.orchestrator.benchmark.experiment import parse_experiment  # noqa: E402
from attune.orchestrator.benchmark.run import run_experiment  # noqa: E402
from attune.services.common.net import free_port  # noqa: E402
from attune.services.common.settings import CommonSettings, load  # noqa: E402
from attune.services.model.client import ModelClient  # noqa: E402
from bench.report import print_ratios  # noqa: E402


def experiment(args, concurrency: int):
    return parse_experiment({
        "name": f"bench-c{concurrency}", "methods": ["vanilla"], "datasets": ["math-500"],
        "n_profiles": args.profiles, "n_sessions": 1, "max_turns": args.max_turns, "conflict_share": 0.3,
        "seed": 0, "concurrency": concurrency, "transport": "grpc",
        "method_settings": {"max_reply_tokens": args.reply_tokens}, "simulator": {"max_tokens": 128},
    }, "bench")


async def sessions_per_hour(args, concurrency: int, common: CommonSettings) -> float:
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        result = await run_experiment(experiment(args, concurrency), Path(out), common, json_logs=True)
        seconds = time.perf_counter() - start
    if result.failures:
        raise RuntimeError(f"bench run failed: {result.failures}")
    return result.finished / seconds * 3600


async def bench(args) -> dict[str, float]:
    port = free_port()
    env = dict(os.environ, ATTUNE_MODEL_PORT=str(port), ATTUNE_MODEL_MAX_BATCH="8", ATTUNE_LOG_LEVEL="warning",
               ATTUNE_MODEL_BACKEND=args.backend)
    os.environ["ATTUNE_MODEL_TARGET"] = f"127.0.0.1:{port}"
    proc = subprocess.Popen([args.model_python, "-m", "attune.services.model"], cwd=ROOT, env=env)
    results: dict[str, list[float]] = {}
    try:
        async with ModelClient(os.environ["ATTUNE_MODEL_TARGET"]) as client:
            await client.wait_ready(timeout_s=900)  # vllm compiles for a minute or more
        common = load(CommonSettings)
        for _ in range(args.rounds):
            for concurrency in (1, 8):
                name = f"concurrency {concurrency}"
                results.setdefault(name, []).append(await sessions_per_hour(args, concurrency, common))
                Console(stderr=True).print(f"{name}: {results[name][-1]:.0f} sessions/hour")
    finally:
        proc.terminate()
        proc.wait(30)
    return {name: statistics.median(values) for name, values in results.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--profiles", type=int, default=8, help="users (one session each) per run")
    parser.add_argument("--max-turns", type=int, default=2)
    parser.add_argument("--reply-tokens", type=int, default=64)
    parser.add_argument("--backend", default="transformers", help="the model service's backend")
    parser.add_argument("--model-python", default=sys.executable,
                        help="the Python that runs the model service (the vllm backend has its own venv)")
    args = parser.parse_args()
    medians = asyncio.run(bench(args))
    table = Table("run", "sessions/hour (median)", title=f"{args.profiles} sessions of <= {args.max_turns} turns, "
                  f"vanilla, SmolLM2-135M via gRPC, {args.backend} backend")
    for name, value in medians.items():
        table.add_row(name, f"{value:.0f}")
    Console().print(table)
    print_ratios({"concurrency 8 / concurrency 1 (target >= 3)":
                  medians["concurrency 8"] / medians["concurrency 1"]})


if __name__ == "__main__":
    main()
