"""Sessions per hour and the token ceiling, for each batching mode of the model service, in one run.

For each mode (``--modes``, default static and continuous) a model service runs as its own
process (``python -m attune.services.model``, as `make up` runs it), all started at once
and idle while another is measured. Per mode:

* the ceiling: the service's best batched completion tokens per second on this machine
  (``max_batch`` requests sent together, each running to ``--ceiling-tokens``);
* for each concurrency (``--concurrency``, default 1, 4, 8, 16): one fixed small
  experiment (vanilla, ``--profiles`` users, one session each, judge off) over gRPC,
  giving its sessions per hour, the completion tokens per second it drove through the
  model service (from the service's /metrics), that figure over the ceiling, the prompt
  tokens per second, the model's busy share of the wall time (attune_model_busy_seconds)
  and, under continuous batching, the share of that spent on prompts (prefill).

Concurrencies alternate the modes, so drift on a shared machine hits both alike. Targets
(issue 16): sessions per hour at concurrency 8 >= 3.5x concurrency 1; tokens per second
driven at concurrency 8 >= 80% of the ceiling. ``--docs`` rewrites the figure block of
docs/performance.md.

    .venv/bin/python bench/bench_sessions.py [--profiles 16] [--concurrency 1,4,8,16] [--modes static,continuous]
    .venv/bin/python bench/bench_sessions.py --backend vllm --modes static --model-python .venv-vllm/bin/python
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families
from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from attune.orchestrator.benchmark.experiment import parse_experiment  # noqa: E402
from attune.orchestrator.benchmark.run import run_experiment  # noqa: E402
from attune.services.common.net import free_port  # noqa: E402
from attune.services.common.settings import CommonSettings, load  # noqa: E402
from attune.services.model.client import ModelClient, chat_request  # noqa: E402
from bench.report import machine, markdown_table, print_ratios, replace_block  # noqa: E402

DOC = ROOT / "docs" / "performance.md"
MAX_BATCH = 8
CEILING_PROMPT = "Write a long story about a dragon who learns to cook."


@dataclass
class Service:
    mode: str
    process: subprocess.Popen
    target: str
    metrics_url: str

    def counters(self) -> Counter:
        """The model's tokens by kind and busy seconds by phase so far, from its /metrics."""
        with urllib.request.urlopen(self.metrics_url, timeout=10) as reply:
            text = reply.read().decode()
        found = Counter()
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name == "attune_model_tokens_total":
                    found[sample.labels["kind"]] += sample.value
                elif sample.name == "attune_model_busy_seconds_total":
                    found["busy"] += sample.value
                    found[sample.labels["phase"]] += sample.value
        return found


@dataclass
class Measure:
    sessions_per_hour: float
    tokens_per_s: float
    prompt_tokens_per_s: float
    busy: float
    # Of the busy time, the share spent on prompts (continuous batching times it apart; static cannot: None).
    prefill: float | None


def start_service(args, mode: str) -> Service:
    port, metrics_port = free_port(), free_port()
    env = dict(os.environ, ATTUNE_MODEL_PORT=str(port), ATTUNE_MODEL_METRICS_PORT=str(metrics_port),
               ATTUNE_MODEL_MAX_BATCH=str(MAX_BATCH), ATTUNE_MODEL_BATCHING=mode, ATTUNE_LOG_LEVEL="warning",
               ATTUNE_MODEL_BACKEND=args.backend)
    process = subprocess.Popen([args.model_python, "-m", "attune.services.model"], cwd=ROOT, env=env)
    return Service(mode, process, f"127.0.0.1:{port}", f"http://127.0.0.1:{metrics_port}/metrics")


def experiment(args, concurrency: int):
    return parse_experiment({
        "name": f"bench-c{concurrency}", "methods": ["vanilla"], "datasets": ["math-500"],
        "n_profiles": args.profiles, "n_sessions": 1, "max_turns": args.max_turns, "conflict_share": 0.3,
        "seed": 0, "concurrency": concurrency, "transport": "grpc",
        "method_settings": {"max_reply_tokens": args.reply_tokens}, "simulator": {"max_tokens": 128},
        "judge": {"enabled": False},
    }, "bench")


async def ceiling(service: Service, max_tokens: int) -> float:
    """Completion tokens per second of MAX_BATCH long requests sent together (best of two)."""
    best = 0.0
    # A generous deadline: on a busy machine 8 long requests can take minutes.
    async with ModelClient(service.target, timeout_s=900) as client:
        for _ in range(2):
            start = time.perf_counter()
            replies = await asyncio.gather(*[client.chat(chat_request(f"{CEILING_PROMPT} ({i})", max_tokens=max_tokens))
                                             for i in range(MAX_BATCH)])
            best = max(best, sum(r.usage.completion_tokens for r in replies) / (time.perf_counter() - start))
    return best


async def driven(args, service: Service, concurrency: int, common: CommonSettings) -> Measure:
    os.environ["ATTUNE_MODEL_TARGET"] = service.target
    before = service.counters()
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        result = await run_experiment(experiment(args, concurrency), Path(out), common, json_logs=True, judge=False)
        seconds = time.perf_counter() - start
    if result.failures:
        raise RuntimeError(f"bench run failed: {result.failures}")
    spent = service.counters()
    spent.subtract(before)
    prefill = spent["prefill"] / spent["busy"] if spent["prefill"] and spent["busy"] else None
    return Measure(result.finished / seconds * 3600, spent["completion"] / seconds, spent["prompt"] / seconds,
                   spent["busy"] / seconds, prefill)


async def bench(args) -> tuple[dict[str, float], dict[tuple[str, int], Measure]]:
    services = [start_service(args, mode) for mode in args.modes]
    ceilings, measures = {}, {}
    console = Console(stderr=True)
    try:
        for service in services:
            async with ModelClient(service.target) as client:
                await client.wait_ready(timeout_s=900)  # vllm compiles for a minute or more
            ceilings[service.mode] = await ceiling(service, args.ceiling_tokens)
            console.print(f"{service.mode}: ceiling {ceilings[service.mode]:.1f} tokens/s")
        common = load(CommonSettings)
        for concurrency in args.concurrency:
            for service in services:
                measure = await driven(args, service, concurrency, common)
                measures[service.mode, concurrency] = measure
                console.print(f"{service.mode} c{concurrency}: {measure.sessions_per_hour:.0f} sessions/hour, "
                              f"{measure.tokens_per_s:.1f} tokens/s, busy {measure.busy:.0%}")
    finally:
        for service in services:
            service.process.terminate()
            service.process.wait(30)
    return ceilings, measures


def rows(ceilings: dict[str, float], measures: dict[tuple[str, int], Measure]) -> list[list[str]]:
    best = max(ceilings.values())
    return [[mode, str(c), f"{m.sessions_per_hour:.0f}", f"{m.tokens_per_s:.1f}", f"{m.tokens_per_s / best:.0%}",
             f"{m.prompt_tokens_per_s:.0f}", f"{m.busy:.0%}", "-" if m.prefill is None else f"{m.prefill:.0%}"]
            for (mode, c), m in measures.items()]


def ratios(ceilings: dict[str, float], measures: dict[tuple[str, int], Measure], concurrency: list[int]) -> dict:
    best, low, high = max(ceilings.values()), min(concurrency), max(c for c in concurrency if c <= MAX_BATCH)
    out = {}
    for mode in ceilings:
        out[f"{mode}: sessions/hour c{high} / c{low} (target >= 3.5)"] = (
            measures[mode, high].sessions_per_hour / measures[mode, low].sessions_per_hour)
        out[f"{mode}: driven tokens/s c{high} / ceiling (target >= 0.80)"] = measures[mode, high].tokens_per_s / best
    if {"static", "continuous"} <= set(ceilings):
        for c in concurrency:
            out[f"continuous / static sessions/hour at c{c}"] = (
                measures["continuous", c].sessions_per_hour / measures["static", c].sessions_per_hour)
    return out


def report(args, ceilings, measures) -> None:
    columns = ["batching", "concurrency", "sessions/hour", "tokens/s driven", "of the ceiling", "prompt tokens/s",
               "model busy", "of it prefill"]
    title = (f"{args.profiles} sessions of <= {args.max_turns} turns, vanilla, SmolLM2-135M via gRPC, "
             f"{args.backend} backend")
    table = Table(*columns, title=title)
    for row in rows(ceilings, measures):
        table.add_row(*row)
    Console().print(table)
    Console().print("ceilings (completion tokens/s, batch of 8): "
                    + ", ".join(f"{mode} {value:.1f}" for mode, value in ceilings.items()))
    found = ratios(ceilings, measures, args.concurrency)
    print_ratios(found)
    if args.docs:
        lines = [f"Measured {time.strftime('%Y-%m-%d')} on {machine()}: {title}; "
                 f"`bench/bench_sessions.py --profiles {args.profiles}`.", "",
                 "Ceiling (completion tokens/s, 8 requests of "
                 f"{args.ceiling_tokens} tokens sent together): "
                 + ", ".join(f"{mode} {value:.1f}" for mode, value in ceilings.items()) + ".", "",
                 *markdown_table(columns, rows(ceilings, measures)), "",
                 *markdown_table(["ratio (same run)", "value"], [[k, f"{v:.2f}"] for k, v in found.items()])]
        replace_block(DOC, args.docs, "\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profiles", type=int, default=16, help="users (one session each) per run")
    parser.add_argument("--max-turns", type=int, default=2)
    parser.add_argument("--reply-tokens", type=int, default=64)
    parser.add_argument("--ceiling-tokens", type=int, default=64)
    parser.add_argument("--concurrency", type=lambda s: [int(c) for c in s.split(",")], default=[1, 4, 8, 16])
    parser.add_argument("--modes", type=lambda s: s.split(","), default=["static", "continuous"],
                        help="batching modes of the transformers backend (other backends: one)")
    parser.add_argument("--backend", default="transformers", help="the model service's backend")
    parser.add_argument("--model-python", default=sys.executable,
                        help="the Python that runs the model service (the vllm backend has its own venv)")
    parser.add_argument("--docs", default="", help="the docs/performance.md block to rewrite (sessions)")
    args = parser.parse_args()
    if 1 not in args.concurrency or not any(1 < c <= MAX_BATCH for c in args.concurrency):
        parser.error(f"--concurrency needs 1 and one value in 2..{MAX_BATCH} (the ratios compare them)")
    ceilings, measures = asyncio.run(bench(args))
    report(args, ceilings, measures)


if __name__ == "__main__":
    main()
