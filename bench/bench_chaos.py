"""Chaos runs: a benchmark run survives its services being killed and restarted, and its own process being
killed with SIGKILL at random points, losing and repeating nothing, its learned memory exact.

``restarts``: every service of ``attune up`` as its own process over fresh stores; one judged experiment runs
over gRPC undisturbed, then again over new stores while each service it uses is killed (SIGKILL) in turn and
started again: uservec, retrieval, the extractor and the model while its sessions run, the judge while it
judges them. Figures: sessions lost or duplicated, sessions not judged or judged twice (bar 0 each), the
added wall time.

``kills``: `attune run` (in process, one chain at a time, so its batches and outputs are the same each
time) is killed with SIGKILL at random points ``--kills`` times and started again until it finishes; its
log is compared with an uninterrupted run of the same experiment. Figures: sessions lost or duplicated,
sessions whose replies differ, chains whose learned memory differs (bar 0 each: rag_vector's cards and
user-vector state bit for bit, rag's cards).

Prints a table per part and writes it into docs/reliability.md, between the ``chaos-restarts`` and
``chaos-kills`` markers, as soon as that part is done.

    .venv/bin/python bench/bench_chaos.py [--kills 10] [--skip restarts|kills] [--docs docs/reliability.md]
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import datetime
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import yaml
from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from attune.orchestrator.benchmark.judging import JUDGMENTS_FILE  # noqa: E402
from attune.orchestrator.stack import LocalStack  # noqa: E402
from attune.services.common import registry  # noqa: E402
from attune.services.common.net import free_port  # noqa: E402
from attune.services.common.settings import CommonSettings, load  # noqa: E402
from bench.report import machine, markdown_table, replace_block  # noqa: E402

console = Console(stderr=True)
DOCS = ROOT / "docs" / "reliability.md"
# The services a run of these methods calls while its sessions run, killed in this order; then the judge's.
KILLED = ["uservec", "retrieval", "extractor", "model"]
JUDGE = "judge"


def experiment(name: str, transport: str, profiles: int, sessions: int, concurrency: int, judged: bool) -> dict:
    return {"name": name, "methods": ["rag", "rag_vector"], "datasets": ["math-500"], "n_profiles": profiles,
            "n_sessions": sessions, "max_turns": 2, "conflict_share": 1.0, "seed": 9, "concurrency": concurrency,
            "transport": transport, "method_settings": {"max_reply_tokens": 24}, "simulator": {"max_tokens": 64},
            "judge": {"enabled": judged, "over_llm_max": 1}}


def run_command(experiment_file: Path, out: Path) -> list[str]:
    return [sys.executable, "-m", "attune.orchestrator.cli", "run", str(experiment_file), "--output-dir", str(out),
            "--json-logs"]


def records(out: Path, name: str = "sessions.jsonl") -> list[dict]:
    """The log's whole lines (a line still being written, or torn by a kill, has no newline yet)."""
    log = out / name
    lines = log.read_text().split("\n")[:-1] if log.exists() else []
    return [json.loads(line) for line in lines if line.strip()]


def keys(rows: list[dict]) -> Counter:
    return Counter((r["method"], r["profile_id"], r["session"]) for r in rows)


def lost_and_repeated(rows: list[dict], planned: int) -> tuple[int, int]:
    counted = keys(rows)
    return planned - len(counted), sum(n - 1 for n in counted.values())


def last_memory(rows: list[dict]) -> dict:
    """Each chain's memory after its last session: the state a resumed run must reach exactly (the cards'
    creation times are the wall clock's, so they are left out)."""
    last: dict = {}
    for r in sorted(rows, key=lambda r: r["session"]):
        memory = dict(r["memory"])
        memory["cards"] = [{k: v for k, v in c.items() if k != "created_at_ms"} for c in memory.get("cards", [])]
        last[(r["method"], r["profile_id"])] = memory
    return last


def differing_replies(calm: list[dict], killed: list[dict]) -> list[tuple]:
    """Sessions whose assistant replies are not the uninterrupted run's, in order."""
    def replies(rows):
        return {(r["method"], r["profile_id"], r["session"]): [t["assistant"] for t in r["turns"]] for r in rows}

    calm_replies, killed_replies = replies(calm), replies(killed)
    return sorted(k for k in calm_replies if calm_replies[k] != killed_replies.get(k))


def describe(calm: dict, killed: dict) -> str:
    """Which parts of a chain's memory differ: the cards (by text) and each user-vector field."""
    parts = []
    if calm.get("cards") != killed.get("cards"):
        texts = [{(c["condition"], c["preference"]) for c in m.get("cards", [])} for m in (calm, killed)]
        parts.append(f"cards (only uninterrupted: {sorted(texts[0] - texts[1])}, only killed: "
                     f"{sorted(texts[1] - texts[0])}, same texts in another order or field: {texts[0] == texts[1]})")
    calm_vec, killed_vec = calm.get("user_vector", {}), killed.get("user_vector", {})
    parts += [f"user_vector.{k}" for k in sorted(set(calm_vec) | set(killed_vec))
              if calm_vec.get(k) != killed_vec.get(k)]
    return ", ".join(parts) or "nothing named"


def run_folder(parent: Path) -> Path:
    """Both runs in a folder named alike: the folder's name is the run's id, which the users' ids carry."""
    return parent / "run"


# ---- restarts ---------------------------------------------------------------------------------------------


def fresh_stack(folder: Path, data_dir: Path) -> tuple[LocalStack, list]:
    """Every service on free ports over fresh stores, the converted model reused; targets in os.environ."""
    (folder / "models").mkdir(parents=True)
    for model in (data_dir / "models").iterdir():
        (folder / "models" / model.name).symlink_to(model)
    specs = [dataclasses.replace(s, port=free_port(), metrics_port=free_port()) for s in registry.services()]
    for spec in specs:
        os.environ[spec.target_env] = spec.default_target
    os.environ["ATTUNE_DATA_DIR"] = str(folder)
    return LocalStack(folder, specs), specs


def kill_and_restart(stack: LocalStack, spec) -> float:
    """SIGKILL one service, start it again, wait until it serves; returns the seconds it was away."""
    pid = stack._pid(spec)
    began = time.monotonic()
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)  # our child: reap it, or it would look alive
    stack.start(spec)
    asyncio.run(stack._wait_serving(spec, 900))
    return time.monotonic() - began


def restart(stack: LocalStack, specs: list, name: str) -> float:
    seconds = kill_and_restart(stack, next(s for s in specs if s.name == name))
    console.print(f"  killed and restarted {name} ({seconds:.1f} s away)")
    return seconds


def wait_for_judging(run: subprocess.Popen, out: Path, planned: int) -> bool:
    """Wait until every session is logged (the judge step follows); False if the run ended first."""
    while len(records(out)) < planned:
        if run.poll() is not None:
            return False
        time.sleep(0.5)
    return True


def one_stack_run(folder: Path, data_dir: Path, exp: dict, planned: int, chaos: bool, gap_s: float) -> dict:
    stack, specs = fresh_stack(folder, data_dir)
    try:
        try:
            asyncio.run(stack.up(timeout_s=900))
        except RuntimeError:
            for log in sorted(stack.log_dir.glob("*.log")):  # the folder goes with the run: show why here
                console.print(f"--- {log.name}\n{log.read_text()[-3000:]}", markup=False, highlight=False)
            raise
        experiment_file = folder / "experiment.yaml"
        experiment_file.write_text(yaml.safe_dump(exp))
        out = folder / "run"
        began = time.monotonic()
        run = subprocess.Popen(run_command(experiment_file, out), cwd=ROOT, stdout=subprocess.DEVNULL,
                               stderr=open(folder / "run.log", "w"))
        away = []
        if chaos:
            for name in KILLED:
                time.sleep(gap_s)
                if run.poll() is not None:
                    break
                away.append(restart(stack, specs, name))
            if wait_for_judging(run, out, planned):
                time.sleep(gap_s / 2)
                if run.poll() is None:
                    away.append(restart(stack, specs, JUDGE))
        code = run.wait()
        return {"code": code, "wall_s": time.monotonic() - began, "rows": records(out),
                "judged": records(out, JUDGMENTS_FILE), "restarts": len(away), "away_s": sum(away)}
    finally:
        stack.down(timeout_s=30)


def restarts(args, data_dir: Path) -> dict:
    exp = experiment("chaos-restarts", "grpc", args.profiles, args.sessions, 2, judged=True)
    planned = len(exp["methods"]) * args.profiles * args.sessions
    with tempfile.TemporaryDirectory() as calm_dir, tempfile.TemporaryDirectory() as chaos_dir:
        calm = one_stack_run(Path(calm_dir), data_dir, exp, planned, False, 0)
        console.print(f"undisturbed: {calm['wall_s']:.0f} s")
        chaos = one_stack_run(Path(chaos_dir), data_dir, exp, planned, True, calm["wall_s"] / (len(KILLED) + 3))
    lost, repeated = lost_and_repeated(chaos["rows"], planned)
    unjudged, judged_twice = lost_and_repeated(chaos["judged"], planned)
    return {"planned sessions": planned, "services killed and restarted": chaos["restarts"],
            "run exit code": chaos["code"], "sessions lost": lost, "sessions duplicated": repeated,
            "sessions not judged": unjudged, "sessions judged twice": judged_twice,
            "undisturbed wall time (s)": round(calm["wall_s"]), "wall time with restarts (s)": round(chaos["wall_s"]),
            "added wall time (s)": round(chaos["wall_s"] - calm["wall_s"]),
            "time the services were away (s)": round(chaos["away_s"])}


# ---- kills ------------------------------------------------------------------------------------------------


def kills(args, data_dir: Path) -> dict:
    exp = experiment("chaos-kills", "in_process", args.profiles, args.sessions, 1, judged=False)
    planned = len(exp["methods"]) * args.profiles * args.sessions
    env = dict(os.environ, ATTUNE_DATA_DIR=str(data_dir))
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        experiment_file = folder / "experiment.yaml"
        experiment_file.write_text(yaml.safe_dump(exp))
        began = time.monotonic()
        subprocess.run(run_command(experiment_file, run_folder(folder / "calm")), cwd=ROOT, env=env, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        calm_s = time.monotonic() - began
        console.print(f"uninterrupted: {calm_s:.0f} s")
        # A kill comes at most 2 x (uninterrupted time / kills) after a start, so that all of them come before
        # the run can finish (each start loads the model again before it goes on).
        latest = max(args.min_s + 1, 2 * calm_s / max(args.kills, 1))
        killed, began = 0, time.monotonic()
        while True:
            proc = subprocess.Popen(run_command(experiment_file, run_folder(folder / "killed")), cwd=ROOT, env=env,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
            if killed < args.kills:
                try:
                    proc.wait(timeout=rng.uniform(args.min_s, latest))
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()
                    killed += 1
                    console.print(f"  kill {killed}: {len(records(run_folder(folder / 'killed')))} sessions logged")
                    continue
            if proc.wait() == 0:
                break
        killed_s = time.monotonic() - began
        calm_rows, killed_rows = records(run_folder(folder / "calm")), records(run_folder(folder / "killed"))
    lost, repeated = lost_and_repeated(killed_rows, planned)
    calm_memory, killed_memory = last_memory(calm_rows), last_memory(killed_rows)
    differing = sorted(k for k in calm_memory if calm_memory[k] != killed_memory.get(k))
    replies = differing_replies(calm_rows, killed_rows)
    for chain in differing:
        console.print(f"  {chain}: memory differs in {describe(calm_memory[chain], killed_memory.get(chain, {}))}")
    return {"planned sessions": planned, "SIGKILLs of the run": killed, "sessions lost": lost,
            "sessions duplicated": repeated, "sessions whose replies differ": len(replies),
            "chains compared": len(calm_memory), "chains whose memory differs": len(differing),
            "uninterrupted wall time (s)": round(calm_s), "wall time with kills (s)": round(killed_s)}


def show(title: str, figures: dict, args, docs: str) -> None:
    """Print one part's figures and, unless ``docs`` is '', write them into its block there."""
    rows = [[name, f"{value:,}" if isinstance(value, int) else str(value)] for name, value in figures.items()]
    table = Table("figure", "value", title=title)
    for cells in rows:
        table.add_row(*cells)
    Console().print(table)
    if docs:
        setup = f"{args.profiles} profiles x {args.sessions} sessions of rag and rag_vector"
        if title == "kills":
            setup += f", kill times from seed {args.seed}"
        lines = [f"Measured {datetime.date.today().isoformat()} by `bench/bench_chaos.py` ({setup}) on {machine()}.",
                 "", *markdown_table(["figure", "value"], rows)]
        replace_block(Path(docs), f"chaos-{title}", "\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=10)
    parser.add_argument("--profiles", type=int, default=2)
    parser.add_argument("--sessions", type=int, default=3)
    parser.add_argument("--min-s", type=float, default=8.0, help="the earliest a kill comes after a start")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip", choices=["restarts", "kills"])
    parser.add_argument("--docs", default=str(DOCS), help="the file whose figure blocks are updated; '' for none")
    args = parser.parse_args()
    data_dir = load(CommonSettings).data_dir.resolve()
    parts = {"restarts": restarts, "kills": kills}
    results = {}
    for name, part in parts.items():
        if args.skip != name:
            results[name] = part(args, data_dir)
            show(name, results[name], args, args.docs)
    bars = ("run exit code", "sessions lost", "sessions duplicated", "sessions not judged", "sessions judged twice",
            "chains whose memory differs")
    bad = [f"{t}: {k}" for t, f in results.items() for k in bars if f.get(k)]
    if bad:
        raise SystemExit("chaos bar missed: " + "; ".join(bad))


if __name__ == "__main__":
    main()
