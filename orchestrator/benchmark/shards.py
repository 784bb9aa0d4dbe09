"""Sharded runs: one experiment split by profile ranges over processes (a Kubernetes Indexed Job).

The plan (``shard_ranges``) gives shard ``i`` of ``n`` a contiguous range of the
experiment's profiles, balanced to within one profile, and every shard writes
only its own folder, ``<run>/shards/<i>-of-<n>/`` (its session log, its memory
snapshots), so shards on one shared volume never write the same file. Every
shard plans the whole experiment and keeps its range, so a profile meets the
same problems and conflict queries whichever shard runs it, and the user ids
carry the run's id (not the shard's). A shard that finishes with no failure
writes ``done.json``; the one that finds every shard done takes the merge lock
(created exclusively) and merges the shard logs into ``<run>/sessions.jsonl``,
which ``attune judge`` and ``attune report`` then read like any run's. A shard
that is rerun resumes its own log, as any run does.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from attune.orchestrator.benchmark.experiment import ExperimentError
from attune.orchestrator.benchmark.records import SessionLog
from attune.orchestrator.benchmark.runner import SESSIONS_FILE
from attune.services.common.files import atomic_write_json
from attune.services.common.jsonl import write_jsonl

SHARDS_DIR = "shards"
DONE = "done.json"
PLAN = "shards.json"
LOCK = "merge.lock"


@dataclass(frozen=True)
class Shard:
    index: int
    count: int

    def __post_init__(self):
        if self.count < 1 or not 0 <= self.index < self.count:
            raise ExperimentError(f"shard {self.index} of {self.count}: the index must be in 0..{self.count - 1}")

    @property
    def name(self) -> str:
        return f"{self.index}-of-{self.count}"

    def folder(self, run_dir: Path) -> Path:
        return run_dir / SHARDS_DIR / self.name


def shard_ranges(n_profiles: int, count: int) -> list[tuple[int, int]]:
    """[start, stop) of each shard's profiles: contiguous, in order, sizes differing by one at most."""
    if count < 1 or count > n_profiles:
        raise ExperimentError(f"{count} shards for {n_profiles} profiles: give each shard one profile at least")
    size, extra = divmod(n_profiles, count)
    bounds, start = [], 0
    for i in range(count):
        stop = start + size + (i < extra)
        bounds.append((start, stop))
        start = stop
    return bounds


def record_plan(run_dir: Path, n_profiles: int, count: int) -> list[tuple[int, int]]:
    """The ranges, written to ``<run>/shards.json`` (the same plan whichever shard writes it first)."""
    ranges = shard_ranges(n_profiles, count)
    path = run_dir / PLAN
    plan = {"shards": count, "profiles": n_profiles, "ranges": [list(r) for r in ranges]}
    if path.exists() and json.loads(path.read_text()) != plan:
        raise ExperimentError(f"{run_dir} was planned with other shards ({path}); use another output folder")
    if not path.exists():
        run_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_json(path, plan)
    return ranges


def mark_done(run_dir: Path, shard: Shard, sessions: int) -> None:
    atomic_write_json(shard.folder(run_dir) / DONE, {"shard": shard.index, "sessions": sessions})


def all_done(run_dir: Path, count: int) -> bool:
    return all((Shard(i, count).folder(run_dir) / DONE).exists() for i in range(count))


def take_merge_lock(run_dir: Path) -> bool:
    """True for exactly one caller: the lock file is created exclusively."""
    try:
        fd = os.open(run_dir / LOCK, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        return False
    os.close(fd)
    return True


def merge(run_dir: Path, count: int) -> int:
    """Every shard's sessions into ``<run>/sessions.jsonl`` (written whole, atomically); returns how many. A
    session found in two shards is an error: the plan gives each profile to one shard."""
    merged: dict = {}
    for i in range(count):
        for key, record in SessionLog(Shard(i, count).folder(run_dir) / SESSIONS_FILE).load(repair=False).items():
            if key in merged:
                raise ExperimentError(f"session {key} is in two shards of {run_dir}")
            merged[key] = record
    write_jsonl(run_dir / SESSIONS_FILE, (record for _, record in sorted(merged.items())))
    return len(merged)
