"""The judge's contrast-pair audit on its own: every shipped pair's two replies put to the judge.

The judge is the registry's judge core in this process over the default model (or the model service
at ATTUNE_MODEL_TARGET when set), asked by the same JudgeCompliance call as a run's replies
(orchestrator/benchmark/contrast.py). Prints false accepts and false rejects per decider with Wilson
intervals and whether each decider tells followed from broken replies; writes the cases and the rates.

    .venv/bin/python bench/bench_judge_audit.py [--pairs N] [--out runs/bench/judge_audit.json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.progress import track
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from attune.orchestrator.benchmark import contrast  # noqa: E402
from attune.orchestrator.benchmark.audit import CONTRAST_HEADER, contrast_rates, contrast_rows  # noqa: E402
from attune.orchestrator.benchmark.judging import contrast_verdict  # noqa: E402
from attune.orchestrator.memory import open_in_process  # noqa: E402
from attune.services.common.logging import setup_logging  # noqa: E402
from attune.services.common.settings import CommonSettings, load  # noqa: E402
from attune.v1 import common_pb2  # noqa: E402


async def audit(pairs: int | None, concurrency: int) -> tuple[list, dict, float]:
    services = await open_in_process(load(CommonSettings), needs=("judge",))
    try:
        info = await services.judge.get_info()
        limit = asyncio.Semaphore(concurrency)
        context = common_pb2.RequestContext(run_id="judge-audit", method="audit")

        async def one(pair, kind):
            async with limit:
                return contrast_verdict(pair.preference_id, kind,
                                        await contrast.judge_pair(services.judge, pair, kind, context))

        jobs = [one(p, k) for p in contrast.chosen_pairs(pairs, seed=0) for k in contrast.CONTRAST_KINDS]
        started = time.perf_counter()
        cases = [await job for job in track(asyncio.as_completed(jobs), total=len(jobs), description="judging")]
        return cases, {"model": info.model, "backend": info.backend, "prompt_hash": info.prompt_hash}, \
            time.perf_counter() - started
    finally:
        await services.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=None, help="a seeded sample of this many pairs (default: all)")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "bench" / "judge_audit.json")
    args = parser.parse_args()
    setup_logging("bench", "warning")
    cases, judge, seconds = asyncio.run(audit(args.pairs, args.concurrency))
    rates = contrast_rates(cases)
    table = Table(*CONTRAST_HEADER, title=f"contrast pairs: judge {judge['model']} ({judge['backend']}), "
                                          f"{len(cases)} replies in {seconds:.0f} s")
    for decider, row in contrast_rows(rates):
        table.add_row(decider, *row)
    Console(width=160).print(table)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"judge": judge, "seconds": seconds, "rates": rates,
                                    "cases": [c.model_dump(mode="json") for c in cases]}, indent=1))
    print(f"written: {args.out}")


if __name__ == "__main__":
    main()
