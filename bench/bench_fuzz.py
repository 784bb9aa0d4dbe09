"""Fuzzing every RPC, the long run: 10,000 hypothesis-built requests per service to the real servers.

The requests are tests/fixtures/fuzz_requests.py's and the servers tests/fixtures/fuzz.py's, as in
tests/integration/test_fuzz.py (the short run in ``make test``): every RPC's request message built field
by field from its descriptor or mutated from a valid request, some with unknown fields, a wrong token or
none; the real cores with small limits (16-token completions) on 127.0.0.1 over fresh stores, the loaded
SmolLM2 shared by every service that calls the model; accepted SubmitJob and StartRun requests cancelled
at once. Then ``--malformed`` requests per service whose bytes are no valid message (invalid UTF-8,
garbage). The bar: no INTERNAL, no UNKNOWN, and every server SERVING and answering a valid request
afterwards.

Prints a table per kind and writes each service's rows into docs/reliability.md as soon as it is done,
between the ``fuzz:start`` and ``fuzz:end`` markers (the other services' rows stay). Requests are generated in
batches of ``--batch`` per service, each batch from its own seed, so memory stays small and a run is
reproducible.

    .venv/bin/python bench/bench_fuzz.py [--requests 10000] [--malformed 1000] [--services model,judge]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import os
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.progress import Progress
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from attune.services.common.embeddings import Embedder  # noqa: E402
from attune.services.common.logging import setup_logging  # noqa: E402
from attune.services.model.core import ModelService  # noqa: E402
from attune.services.model.settings import ModelSettings  # noqa: E402
from attune.services.model.weights import ensure_converted  # noqa: E402
from bench.report import block, machine, markdown_table, replace_block, sections  # noqa: E402
from tests.fixtures import fuzz  # noqa: E402

DOCS = ROOT / "docs" / "reliability.md"
CODES = ["OK", "INVALID_ARGUMENT", "NOT_FOUND", "FAILED_PRECONDITION", "RESOURCE_EXHAUSTED", "UNAUTHENTICATED",
         "DEADLINE_EXCEEDED", "INTERNAL", "UNKNOWN"]
COLUMNS = ["service", "requests", *CODES, "other", "lost status¹", "afterwards", "seconds", "date"]
KINDS = {"well-formed": False, "malformed": True}


def row(outcome: fuzz.Outcome, afterwards: tuple[str, str], seconds: float) -> list[str]:
    other = outcome.sent - sum(outcome.codes[c] for c in CODES)
    return [outcome.service, f"{outcome.sent:,}", *(f"{outcome.codes[c]:,}" for c in CODES), f"{other:,}",
            f"{outcome.lost_status:,}", "SERVING, OK" if afterwards == ("SERVING", "OK") else ", ".join(afterwards),
            f"{seconds:.0f}", datetime.date.today().isoformat()]


async def fuzz_service(target: fuzz.Target, total: int, bad: bool, batch: int,
                       progress: Progress) -> tuple[fuzz.Outcome, float]:
    """``total`` requests in batches of ``batch`` (each from its own seed); the outcomes of all of them."""
    task = progress.add_task(f"{target.name} ({'malformed' if bad else 'well-formed'})", total=total)
    outcome = fuzz.Outcome(target.name)
    start = time.perf_counter()
    for number in range((total + batch - 1) // batch):
        count = min(batch, total - number * batch)
        requests = target.requests(count, bad=bad, number=1000 * bad + number)
        part = await fuzz.run(target, requests, progress=lambda n: progress.advance(task, n))
        outcome.codes.update(part.codes)
        outcome.failures += part.failures
        outcome.lost_status += part.lost_status
        for name, codes in part.by_rpc.items():
            outcome.by_rpc.setdefault(name, type(codes)()).update(codes)
    return outcome, time.perf_counter() - start


def update_docs(path: Path, results: dict[str, dict[str, list[str]]], order: list[str]) -> None:
    """Replace the rows of the services run now in the figures block; keep the others'."""
    kept: dict[str, dict[str, list[str]]] = {kind: {} for kind in KINDS}
    for kind, lines in sections(block(path, "fuzz"), KINDS).items():
        for line in lines:
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if line.startswith("| ") and cells[0] in order:
                kept[kind][cells[0]] = cells
    lines = ["", f"Machine of the latest run: {machine()}.", ""]
    for kind in KINDS:
        kept[kind].update(results.get(kind, {}))
        lines += [f"**{kind}**", "", *markdown_table(COLUMNS, [kept[kind][s] for s in order if s in kept[kind]]), ""]
    lines.append("¹ RESOURCE_EXHAUSTED only because the error's message, once encoded, was longer than gRPC's "
                 "16 KiB metadata limit, so the caller lost the real status (see the server bootstrap fixes "
                 "below).")
    replace_block(path, "fuzz", "\n".join(lines))


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=10_000, help="well-formed requests per service")
    parser.add_argument("--malformed", type=int, default=1_000, help="malformed requests per service")
    parser.add_argument("--services", default="", help="comma-separated; default: every registered service")
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--docs", default=str(DOCS), help="the file whose figures block is updated; '' for none")
    args = parser.parse_args()
    setup_logging("bench", "error", json=True)
    console = Console()
    data_dir = Path(os.environ.get("ATTUNE_DATA_DIR", ROOT / ".attune"))
    model = ModelService(ModelSettings(), data_dir)
    await model.start()
    embedder = Embedder()
    with tempfile.TemporaryDirectory(prefix="attune-fuzz-") as folder:
        fleet = await fuzz.serve_all(model, embedder, data_dir, ensure_converted(data_dir), Path(folder))
        order = list(fleet.targets)
        names = [s for s in args.services.split(",") if s] or order
        results: dict[str, dict[str, list[str]]] = {kind: {} for kind in KINDS}
        failures = []
        try:
            with Progress(console=console, transient=True) as progress:
                for name in names:
                    target = fleet.targets[name]
                    for kind, bad in KINDS.items():
                        total = args.malformed if bad else args.requests
                        if not total:
                            continue
                        outcome, seconds = await fuzz_service(target, total, bad, args.batch, progress)
                        afterwards = await fuzz.still_serving(target)
                        results[kind][name] = row(outcome, afterwards, seconds)
                        # A few of each service's failures: the malformed ones are all alike.
                        failures += [f"{kind}: {f}" for f in outcome.failures[:1 if bad else 5]]
                        if args.docs:  # after each service: a long run stopped half-way keeps what it measured
                            update_docs(Path(args.docs), {kind: {name: results[kind][name]}}, order)
        finally:
            await fleet.close()
            await model.close()
            embedder.close()
    for kind in KINDS:
        if results[kind]:
            table = Table(*COLUMNS[:-1], title=f"fuzzing every RPC: {kind} requests")
            for cells in results[kind].values():
                table.add_row(*cells[:-1])
            console.print(table)
    for line in failures:
        console.print(line, markup=False, highlight=False)
    if args.docs:
        console.print(f"figures written to {args.docs}")


if __name__ == "__main__":
    asyncio.run(main())
