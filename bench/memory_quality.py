"""Memory quality: does the extractor turn what users say into the right cards, and does retrieval bring the
card whose condition holds, and not its rival?

The cases are ``bench/memory_data/cases.yaml`` (hand-written, see its README) over the preference options of
``attune/preferences/data/schema.yaml``. Everything written from templates is split by template family:
``train`` families may be used for tuning, ``heldout`` families only to measure. Figures, per configuration:

* extraction (the real extractor over the real SmolLM2): precision and recall. A statement of one option is
  recalled when a card it gave is nearest (MiniLM, condition and preference together) to that option among
  all the schema's options; every other card, and every card from a turn that states no preference, is a
  false positive;
* retrieval (the real retrieval service over an embedded Qdrant shard): recall@1/3/5 of the option's card
  among all of a 40-card user's cards, for requests whose condition holds;
* conflicts: requests that switch on two options of one group, the user holding both: correct when the
  expected card ranks above its rival and the rival is not selected;
* supersession: after a revision ("actually, from now on ...") or a retraction ("forget that I asked ..."),
  the share of requests that still select the stale card (stale-card rate), and for revisions the share that
  select the new one;
* the gate: the share of statements, other turns, requests and task problems that the extractor's gate
  sends to the model (no model call);
* latency: each Retrieve (p50, p99), each gate decision and each extraction.

Prints a table per part and writes them into docs/memory.md between the ``memory-quality`` markers. This
script runs the parts and reports them; the cases and users are ``bench/memory_cases.py``, the figures of each
part ``bench/memory_figures.py``, the fine-tuned MiniLM and the gate's training ``bench/memory_training.py``.

    .venv/bin/python bench/memory_quality.py [--split heldout] [--parts retrieval,gate] [--limit N] [--docs '']
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import random
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from attune.services.common.logging import setup_logging  # noqa: E402
from attune.services.retrieval.core import RetrievalService  # noqa: E402
from attune.services.retrieval.settings import RetrievalSettings  # noqa: E402
from attune.services.retrieval.store import EdgeCardStore  # noqa: E402
from bench.memory_cases import conflicts, load_cases, negatives, options, requests, statements  # noqa: E402
from bench.memory_figures import (  # noqa: E402
    Figures,
    OptionMatcher,
    extraction_figures,
    gate_figures,
    retrieval_figures,
    supersession_figures,
)
from bench.memory_training import finetune, train_gate  # noqa: E402
from bench.report import block, machine, markdown_table, replace_block, sections  # noqa: E402

DOCS = ROOT / "docs" / "memory.md"
PARTS = ["retrieval", "gate", "extraction", "supersession"]
GATE = ROOT / "services" / "extractor" / "data" / "gate.json"
# The extractor's gate: the cue list it had, and the classifier over MiniLM (services/extractor/gate.py).
EXTRACTION_CONFIGS = {"cue list": "cues", "classifier gate": "classifier"}
# Retrieval configurations compared: today's ranking by the whole card, and the condition-aware ones.
RETRIEVAL_CONFIGS = {
    "card": {"scoring": "card", "conflict_choice": "none"},
    "card + conflict choice": {"scoring": "card", "conflict_choice": "condition"},
    "hybrid": {"scoring": "hybrid", "conflict_choice": "none"},
    "hybrid + conflict choice": {"scoring": "hybrid", "conflict_choice": "condition"},
}


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


# ---- the run -----------------------------------------------------------------------------------------------


@dataclass
class Services:
    model: object
    embedder: object
    extractor: object
    folder: Path

    def extractor_with(self, **settings):
        """An extractor over the same model and embedder, with other settings."""
        from attune.services.extractor.core import ExtractorService
        from attune.services.extractor.gate import PreferenceGate
        from attune.services.extractor.settings import ExtractorSettings

        core = ExtractorService(ExtractorSettings(**settings), self.model, PreferenceGate(self.embedder))
        core.ready = True
        return core

    def retrieval(self, name: str, embedder=None, **settings) -> RetrievalService:
        embedder = embedder or self.embedder
        store = EdgeCardStore(self.folder / name.replace(" ", "_").replace("+", "and").replace(",", ""), embedder.id,
                              embedder.dim)
        return RetrievalService(RetrievalSettings(**settings), embedder, store, model=self.model)


async def measure(services: Services, cases: dict, split: str, limit: int, seed: int, parts: set[str],
                  progress: Progress, tuned=None, updates: int = 40) -> dict[str, dict[str, Figures]]:
    """The figures of each part asked for; ``tuned``: a fine-tuned embedder, measured beside the packaged one."""
    opts = options()
    rng = random.Random(seed)
    matcher = OptionMatcher(services.embedder, opts)
    results: dict[str, dict[str, Figures]] = {}
    if "retrieval" in parts:
        asked, rivals = requests(cases, opts, split), conflicts(cases, split)
        configs = [(name, None, settings) for name, settings in RETRIEVAL_CONFIGS.items()]
        if tuned is not None:
            configs += [(f"{name}, MiniLM fine-tuned", tuned, RETRIEVAL_CONFIGS[name])
                        for name in ("card", "hybrid + conflict choice")]
        results["retrieval"] = {}
        for name, embedder, settings in configs:
            core = services.retrieval(name, embedder, **settings)
            try:
                results["retrieval"][name] = await retrieval_figures(core, asked, rivals, opts, seed, progress)
            finally:
                await core.close()
    if "gate" in parts:
        results["gate"] = {name: await gate_figures(services.extractor_with(gate=gate), cases, opts, split,
                                                    random.Random(seed), progress)
                           for name, gate in EXTRACTION_CONFIGS.items()}
    if "extraction" in parts:
        stated = statements(cases, opts, split, 2, rng)
        unstated = negatives(cases, split)
        stated, unstated = rng.sample(stated, min(limit, len(stated))), unstated[:limit]
        results["extraction"] = {}
        for name, gate in EXTRACTION_CONFIGS.items():
            extractor = services.extractor_with(gate=gate)
            results["extraction"][name] = await extraction_figures(extractor, matcher, stated, unstated, progress)
    if "supersession" in parts:
        core = services.retrieval("supersession")
        try:
            results["supersession"] = {"extractor + hybrid": await supersession_figures(
                services.extractor, core, matcher, cases, opts, split, updates, seed, progress)}
        finally:
            await core.close()
    return results


def tables(results: dict[str, dict[str, Figures]]) -> dict[str, tuple[list[str], list[list[str]]]]:
    """Per part: the columns and one row per configuration, latency last."""
    out = {}
    for part, configs in results.items():
        names = list(next(iter(configs.values())).values)
        columns = ["configuration", *names, "p50 ms", "p99 ms"]
        rows = [[config, *(_cell(f.values[n]) for n in names), *_latency(f.latencies)] for config, f in configs.items()]
        out[part] = (columns, rows)
    return out


def _latency(seconds: list[float]) -> list[str]:
    """p50 and p99 in ms; "–" where the part times nothing of its own."""
    return [f"{1000 * percentile(seconds, q):.0f}" if seconds else "–" for q in (50, 99)]


def _cell(value: float) -> str:
    return f"{value:,}" if isinstance(value, int) else f"{value:.2f}"


def write_docs(path: Path, split: str, results: dict[str, dict[str, Figures]], seconds: float) -> None:
    """Replace the split's tables of the parts measured now; the other parts' tables stay, with their dates."""
    today = datetime.date.today().isoformat()
    found = sections(block(path, f"memory-quality-{split}"), PARTS)
    for part, (columns, rows) in tables(results).items():
        found[part] = [f"**{part}** ({today})", "", *markdown_table(columns, rows), ""]
    lines = [f"Figures of `bench/memory_quality.py` on the {split} cases, each part with the date it was measured; "
             f"the latest run took {seconds / 60:.0f} min on {machine()}.", ""]
    for part in PARTS:
        lines += found.get(part, [])
    replace_block(path, f"memory-quality-{split}", "\n".join(lines))


async def open_services(folder: Path) -> Services:
    from attune.services.common.embeddings import Embedder
    from attune.services.common.settings import CommonSettings, load
    from attune.services.model.core import ModelService
    from attune.services.model.settings import ModelSettings

    model = ModelService(ModelSettings(), load(CommonSettings).data_dir)
    await model.start()
    services = Services(model, Embedder(threads=1), None, folder)
    services.extractor = services.extractor_with()
    return services


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", choices=["heldout", "train"], default="heldout")
    parser.add_argument("--limit", type=int, default=10_000, help="at most this many statements and as many other "
                        "turns for extraction (each may call the model); retrieval always runs every case")
    parser.add_argument("--updates", type=int, default=40, help="revisions and retractions, each (every one "
                        "embeds a 40-card user and calls the model)")
    parser.add_argument("--parts", default=",".join(PARTS))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--finetune", action="store_true", help="also fine-tune MiniLM on the train families "
                        "(minutes) and measure retrieval with it")
    parser.add_argument("--train-gate", action="store_true", help="fit the extractor's preference gate on the "
                        "train split, write services/extractor/data/gate.json, and stop")
    parser.add_argument("--docs", default=str(DOCS), help="the file whose figures block is updated; '' for none")
    args = parser.parse_args()
    unknown = set(args.parts.split(",")) - set(PARTS)
    if unknown:
        parser.error(f"--parts: unknown {', '.join(sorted(unknown))}; the parts are {', '.join(PARTS)}")
    setup_logging("bench", "error", json=True)
    console = Console()
    if args.train_gate:
        from attune.services.common.embeddings import Embedder

        embedder = Embedder(threads=1)
        console.print(train_gate(load_cases(), embedder, GATE, args.seed))
        embedder.close()
        return
    began = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="attune-memory-") as folder:
        tuned = None
        if args.finetune:
            from attune.services.common.embeddings import Embedder

            with console.status("fine-tuning MiniLM on the train families"):
                tuned = Embedder(finetune(load_cases(), Path(folder) / "minilm-tuned", seed=args.seed), threads=1)
        services = await open_services(Path(folder))
        try:
            with Progress(console=console, transient=True) as progress:
                results = await measure(services, load_cases(), args.split, args.limit, args.seed,
                                        set(args.parts.split(",")), progress, tuned, args.updates)
        finally:
            await services.extractor.close()
            await services.model.close()
            services.embedder.close()
            if tuned is not None:
                tuned.close()
    for part, (columns, rows) in tables(results).items():
        table = Table(*columns, title=f"{part} ({args.split})")
        for row in rows:
            table.add_row(*row)
        console.print(table)
    if args.docs:
        write_docs(Path(args.docs), args.split, results, time.perf_counter() - began)


if __name__ == "__main__":
    asyncio.run(main())
