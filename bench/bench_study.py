"""The adapter study's costs on this machine: a per-user micro-update, an adapter switch, the whole study.

1. Micro-update: one user of the synthetic corpus, 12 reply examples, a LoRA job
   of 2 epochs at batch 4 (6 steps) run as the trainer runs it (its own process);
   the job's own wall time and peak RSS from its training.json. Target: < 60 s.
2. Adapter switch: the model service in process with two LoRA adapters; 1-token
   requests one at a time, always the same adapter against alternating adapters;
   the difference per request is the switch cost.
3. With ``--whole``: ``attune study edgewise --config study`` (the shipped config) from
   scratch in a temporary folder, its wall time.

    .venv/bin/python bench/bench_study.py [--whole]
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
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from attune.orchestrator.study.examples import examples_for, load_baseline, write_rows  # noqa: E402
from attune.orchestrator.study.generate import generate_corpus  # noqa: E402
from attune.services.trainer.core import job_env  # noqa: E402

DATA_DIR = ROOT / ".attune"


def train(rows: Path, out: Path, steps: int) -> dict:
    """One LoRA job process, as the trainer service starts it; its training.json."""
    spec = out.with_suffix(".json")
    spec.parent.mkdir(parents=True, exist_ok=True)
    spec.write_text(json.dumps({"kind": "lora", "scope": "user", "scopeId": "persona_000", "dataPath": str(rows),
                                "adapterName": out.name, "maxSteps": steps, "seed": 0,
                                "paramsJson": json.dumps({"batch_size": 4})}))
    subprocess.run([sys.executable, "-m", "attune.services.trainer.jobs.run", "--spec", str(spec), "--out", str(out),
                    "--data-dir", str(DATA_DIR)], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   env=job_env())
    return json.loads((out / "training.json").read_text())


async def switch_cost(adapter_dir: Path, names: list[str], requests: int = 20) -> tuple[float, float]:
    """Mean seconds per 1-token request: the same adapter every time, then alternating between two."""
    from attune.services.model.client import chat_request
    from attune.services.model.core import ModelService
    from attune.services.model.settings import ModelSettings

    core = ModelService(ModelSettings(adapter_dir=adapter_dir, batch_window_ms=0), DATA_DIR)
    await core.start()
    try:
        async def timed(pick) -> float:
            start = time.perf_counter()
            for i in range(requests):
                await core.chat(chat_request("Lights on, please.", max_tokens=1, adapter=pick(i)))
            return (time.perf_counter() - start) / requests

        for name in names:  # load each once: the first use reads the files, which is not the switch
            await core.chat(chat_request("warm up", max_tokens=1, adapter=name))
        same = await timed(lambda i: names[0])
        alternating = await timed(lambda i: names[i % 2])
        return same, alternating
    finally:
        await core.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--whole", action="store_true", help="also run the whole study (tens of minutes)")
    args = parser.parse_args()
    user = generate_corpus(1, 20, seed=0)[0]
    baseline = load_baseline("baseline_v1.0")
    examples = examples_for([user], {user.user_id: [s.session_id for s in user.sessions]}, baseline)[:12]
    with tempfile.TemporaryDirectory(prefix="bench-study-") as tmp:
        folder = Path(tmp)
        rows = write_rows(examples, folder / "rows.jsonl")
        update = train(rows, folder / "adapters" / "user-a", steps=6)
        print(f"micro-update: 12 examples, {update['steps']} steps, {update['tokens']} tokens: "
              f"{update['seconds']:.1f} s, peak RSS {update['peak_rss_mib']:.0f} MiB (target < 60 s)")
        train(rows, folder / "adapters" / "user-b", steps=1)
        same, alternating = asyncio.run(switch_cost(folder / "adapters", ["user-a", "user-b"]))
        print(f"adapter switch: {same * 1000:.1f} ms per 1-token request on one adapter, {alternating * 1000:.1f} ms "
              f"alternating two: {(alternating - same) * 1000:.1f} ms per switch")
        if args.whole:  # its adapters in the temporary folder, so none is found trained already
            adapters = str(folder / "study-adapters")
            env = {**os.environ, "ATTUNE_MODEL_ADAPTER_DIR": adapters, "ATTUNE_TRAINER_ADAPTER_DIR": adapters}
            start = time.perf_counter()
            subprocess.run([str(Path(sys.executable).parent / "attune"), "study", "edgewise", "--config",
                            "study", "--out", str(folder / "study")], check=True,
                           cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            print(f"whole study (the shipped config 'study'): {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
