"""Model service throughput: the backend in process vs. the same backend through gRPC.

Measures completion tokens per second at concurrency 1 and 8, in one run, and
prints the ratios the foundation issue sets as targets:

* through the service at concurrency 8 >= 90% of the backend in process at batch 8
* through the service at concurrency 8 >= 3.5x through the service at concurrency 1

The service runs as its own process (``python -m attune.services.model``) on
127.0.0.1, as `make up` runs it; the in-process backend is loaded in this
process. Only one of the two generates at any time. Rounds alternate the modes
so drift on a shared machine hits all of them alike.

    .venv/bin/python bench/bench_model.py [--rounds 2] [--max-tokens 64] [--dtypes float32,bfloat16]
    .venv/bin/python bench/bench_model.py --step-costs
    .venv/bin/python bench/bench_model.py --staggered

``--staggered`` sends 16 requests of different lengths, one every 0.3 s (as concurrent sessions
do), to each batching mode in process: attune's static and continuous batchers, and transformers'
own continuous-batching manager (``init_continuous_batching``, greedy, the same prompts), and
prints the completion tokens per second of each over the makespan, and the mean latency.

``--step-costs`` times the model's own steps instead, in process without the service: a prompt
(prefill) of 250 and 500 tokens at batch 1 and 4, and one decoding step at batch 1, 4 and 8 over a
300-token cache; what batching can gain on this machine follows from them (docs/performance.md).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from attune.services.common.net import free_port  # noqa: E402
from attune.services.model.client import ModelClient, chat_request  # noqa: E402
from attune.services.model.core import ModelService  # noqa: E402
from attune.services.model.settings import ModelSettings  # noqa: E402
from bench.report import print_ratios  # noqa: E402

PROMPTS = [
    "Write a long story about a dragon who learns to cook.",
    "Explain in detail how a bicycle works.",
    "Describe your ideal city in many sentences.",
    "Write a detailed travel guide to the mountains.",
    "Tell me everything you know about the ocean.",
    "Write a long letter to a friend about your week.",
    "Explain step by step how to bake bread.",
    "Describe the history of computers at length.",
]


async def throughput(model, concurrency: int, requests: int, max_tokens: int) -> float:
    """Completion tokens per second with ``concurrency`` callers sharing ``requests`` requests."""
    queue = list(range(requests))
    tokens = 0

    async def caller():
        nonlocal tokens
        while queue:
            i = queue.pop()
            reply = await model.chat(chat_request(PROMPTS[i % len(PROMPTS)], max_tokens=max_tokens,
                                                  caller_role="agent", method="bench"))
            tokens += reply.usage.completion_tokens

    start = time.perf_counter()
    await asyncio.gather(*[caller() for _ in range(concurrency)])
    return tokens / (time.perf_counter() - start)


async def start_service(data_dir: Path, dtype: str) -> tuple[subprocess.Popen, ModelClient]:
    port = free_port()
    env = dict(os.environ, ATTUNE_DATA_DIR=str(data_dir), ATTUNE_MODEL_PORT=str(port), ATTUNE_MODEL_DTYPE=dtype,
               ATTUNE_LOG_LEVEL="warning")
    proc = subprocess.Popen([sys.executable, "-m", "attune.services.model"], cwd=ROOT, env=env)
    client = ModelClient(f"127.0.0.1:{port}")
    await client.wait_ready(timeout_s=300)
    return proc, client


async def bench(args) -> dict:
    data_dir = Path(args.data_dir)
    results: dict[str, list[float]] = {}
    for dtype in args.dtypes.split(","):
        core = ModelService(ModelSettings(dtype=dtype, max_batch=8), data_dir)
        await core.start()
        proc, client = (await start_service(data_dir, dtype)) if dtype == "float32" else (None, None)
        await throughput(core, 1, 1, 8)  # warm-up
        modes = {f"{dtype} in-process c1": (core, 1, args.c1_requests),
                 f"{dtype} in-process c8": (core, 8, args.c8_requests)}
        if client is not None:
            await throughput(client, 1, 1, 8)
            modes |= {"float32 grpc c1": (client, 1, args.c1_requests),
                      "float32 grpc c8": (client, 8, args.c8_requests)}
        for _ in range(args.rounds):
            for name, (model, concurrency, requests) in modes.items():
                results.setdefault(name, []).append(await throughput(model, concurrency, requests, args.max_tokens))
                Console(stderr=True).print(f"{name}: {results[name][-1]:.1f} tok/s")
        await core.close()
        if proc is not None:
            await client.close()
            proc.terminate()
            proc.wait(30)
    return {name: statistics.median(values) for name, values in results.items()}


STAGGER_S = 0.3


def staggered_jobs(count: int = 16):
    from attune.services.model.backends.base import Job

    return [Job(messages=(("user", PROMPTS[i % len(PROMPTS)]),), max_tokens=24 + 24 * (i % 4)) for i in range(count)]


async def staggered_attune(backend, jobs) -> tuple[float, float, int]:
    """(makespan, mean latency, completion tokens) of ``jobs`` sent one every STAGGER_S to an attune batcher."""
    async def one(i, job):
        await asyncio.sleep(i * STAGGER_S)
        start = time.perf_counter()
        done = await backend.complete(job)
        return time.perf_counter() - start, done.completion_tokens

    start = time.perf_counter()
    results = await asyncio.gather(*[one(i, j) for i, j in enumerate(jobs)])
    return time.perf_counter() - start, statistics.mean(r[0] for r in results), sum(r[1] for r in results)


def staggered_transformers(backend, jobs) -> tuple[float, float, int]:
    """The same with transformers' continuous-batching manager over the same weights."""
    from transformers import GenerationConfig

    from attune.services.model.backends.tokens import prompt_text

    tokenizer, model = backend.tokenizer, backend.model
    config = GenerationConfig(do_sample=False, max_new_tokens=96, eos_token_id=tokenizer.eos_token_id,
                              pad_token_id=tokenizer.pad_token_id)
    manager = model.init_continuous_batching(generation_config=config)
    manager.start()
    sent: dict[str, float] = {}
    latencies, tokens = [], 0

    def collect(timeout: float) -> None:
        nonlocal tokens
        while (result := manager.get_result(timeout=timeout)) is not None:
            latencies.append(time.perf_counter() - sent[result.request_id])
            tokens += len(result.generated_tokens)

    try:
        start = time.perf_counter()
        for i, job in enumerate(jobs):
            time.sleep(max(0.0, start + i * STAGGER_S - time.perf_counter()))
            ids = tokenizer(prompt_text(tokenizer, job), add_special_tokens=False)["input_ids"]
            sent[manager.add_request(ids, request_id=f"r{i}", max_new_tokens=job.max_tokens)] = time.perf_counter()
            collect(0)
        while len(latencies) < len(jobs):
            collect(1)
        return time.perf_counter() - start, statistics.mean(latencies), tokens
    finally:
        manager.stop(block=True)


async def staggered(data_dir: Path) -> None:
    core = ModelService(ModelSettings(max_batch=8, batching="static"), data_dir)
    await core.start()
    static = core.backend
    modes = {"attune static": static, "attune continuous": static.with_batching("continuous")}
    jobs = staggered_jobs()
    await static.complete(jobs[0])  # warm-up
    table = Table("mode", "completion tokens/s", "mean latency (s)", "tokens",
                  title=f"{len(jobs)} requests, one every {STAGGER_S} s, in process")
    found = {}
    for name, backend in modes.items():
        found[name] = await staggered_attune(backend, jobs)
    found["transformers manager"] = await asyncio.get_running_loop().run_in_executor(
        static.executor, staggered_transformers, static, jobs)
    for name, (makespan, latency, tokens) in found.items():
        table.add_row(name, f"{tokens / makespan:.1f}", f"{latency:.2f}", str(tokens))
    Console().print(table)
    rate = {name: tokens / makespan for name, (makespan, _, tokens) in found.items()}
    print_ratios({"attune continuous / attune static": rate["attune continuous"] / rate["attune static"],
                  "transformers manager / attune static": rate["transformers manager"] / rate["attune static"]})
    await core.close()


def step_costs(data_dir: Path) -> None:
    """Best of a few timings of the model's forward pass: prompts (prefill) and decoding steps, by batch size."""
    import torch
    from transformers import AutoModelForCausalLM, DynamicCache

    from attune.services.model.weights import resolve_model_dir

    folder, name = resolve_model_dir("", data_dir, "float32")
    model = AutoModelForCausalLM.from_pretrained(folder).eval()

    def best(step, repeats: int = 3) -> float:
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            step()
            times.append(time.perf_counter() - start)
        return min(times)

    table = Table("pass", "batch", "tokens per row", "seconds", "ms per row-token", title=f"{name}: forward passes")
    with torch.inference_mode():
        for length in (250, 500):
            for batch in (1, 4):
                ids = torch.randint(100, 40000, (batch, length))
                seconds = best(lambda ids=ids: model(input_ids=ids, logits_to_keep=1))
                per_token = seconds / batch / length * 1000
                table.add_row("prefill", str(batch), str(length), f"{seconds:.3f}", f"{per_token:.2f}")
        single = None
        for batch in (1, 4, 8):
            cache = DynamicCache()
            model(input_ids=torch.randint(100, 40000, (batch, 300)), past_key_values=cache, logits_to_keep=1)
            token = torch.randint(100, 40000, (batch, 1))
            seconds = best(lambda token=token, cache=cache: model(input_ids=token, past_key_values=cache,
                                                                  logits_to_keep=1), 5)
            single = single or seconds
            table.add_row("decode", str(batch), "1", f"{seconds:.3f}", f"{seconds / batch * 1000:.1f}")
        Console().print(table)
    print_ratios({"decode step batch 8 / batch 1 (time)": seconds / single,
                  "tokens/s batch 8 / batch 1 (the most batching can give)": 8 * single / seconds})


def report(medians: dict[str, float]) -> dict[str, float]:
    table = Table("mode", "completion tokens/s (median)", title="model service throughput")
    for name, value in medians.items():
        table.add_row(name, f"{value:.1f}")
    Console().print(table)
    ratios = {
        "grpc c8 / in-process c8 (target >= 0.90)": medians["float32 grpc c8"] / medians["float32 in-process c8"],
        "grpc c8 / grpc c1 (target >= 3.5)": medians["float32 grpc c8"] / medians["float32 grpc c1"],
        "in-process c8 / in-process c1": medians["float32 in-process c8"] / medians["float32 in-process c1"],
    }
    if "bfloat16 in-process c1" in medians:
        ratios["bfloat16 / float32 in-process c1"] = medians["bfloat16 in-process c1"] / medians[
            "float32 in-process c1"]
        ratios["bfloat16 / float32 in-process c8"] = medians["bfloat16 in-process c8"] / medians[
            "float32 in-process c8"]
    print_ratios(ratios)
    return ratios


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--c1-requests", type=int, default=4)
    parser.add_argument("--c8-requests", type=int, default=16)
    parser.add_argument("--dtypes", default="float32", help="comma list; the service runs float32")
    parser.add_argument("--data-dir", default=os.environ.get("ATTUNE_DATA_DIR", str(ROOT / ".attune")))
    parser.add_argument("--json-out", help="write medians and ratios here")
    parser.add_argument("--step-costs", action="store_true", help="time prefill and decoding steps by batch size")
    parser.add_argument("--staggered", action="store_true", help="staggered arrivals: every batching mode")
    args = parser.parse_args()
    if args.step_costs:
        step_costs(Path(args.data_dir))
        return
    if args.staggered:
        asyncio.run(staggered(Path(args.data_dir)))
        return
    medians = asyncio.run(bench(args))
    ratios = report(medians)
    if args.json_out:
        Path(args.json_out).write_text(json.dumps({"medians": medians, "ratios": ratios}, indent=2))


if __name__ == "__main__":
    main()
