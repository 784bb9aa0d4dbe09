"""A sharded run as an Indexed Job runs it: two `attune run --shards 2` processes at once (real SmolLM2 in each)
writing to one run folder; the last one merges, judges and reports the whole run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from attune.orchestrator.benchmark.experiment import load_problems_for, load_profiles_for, parse_experiment
from attune.orchestrator.benchmark.session import plan_sessions

ROOT = Path(__file__).resolve().parents[2]
FLAGS = {"methods": "vanilla", "datasets": "math-500", "n-profiles": "2", "n-sessions": "1", "max-turns": "1",
         "max-reply-tokens": "24", "seed": "7", "transport": "in_process"}


def test_two_shards_at_once_make_one_run_judged_once(data_dir, tmp_path):
    out = tmp_path / "sharded"
    command = [sys.executable, "-m", "attune.orchestrator.cli", "run", "--output-dir", str(out), "--json-logs",
               "--shards", "2", *[x for k, v in FLAGS.items() for x in (f"--{k}", v)]]
    env = dict(os.environ, ATTUNE_DATA_DIR=str(data_dir), ATTUNE_JUDGE_MAX_TOKENS="40")
    shards = [subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env=dict(env, JOB_COMPLETION_INDEX=str(i))) for i in range(2)]
    outputs = [proc.communicate(timeout=1800) for proc in shards]
    for proc, (_, err) in zip(shards, outputs, strict=True):
        assert proc.returncode == 0, err[-3000:]

    assert json.loads((out / "shards.json").read_text())["ranges"] == [[0, 1], [1, 2]]
    per_shard = [[json.loads(line) for line in (out / "shards" / f"{i}-of-2" / "sessions.jsonl").open()]
                 for i in range(2)]
    assert [len(s) for s in per_shard] == [1, 1]
    merged = [json.loads(line) for line in (out / "sessions.jsonl").open()]
    assert sorted(r["profile_id"] for r in merged) == sorted(r["profile_id"] for s in per_shard for r in s)
    exp = parse_experiment({"name": "sharded", "methods": ["vanilla"], "datasets": ["math-500"], "n_profiles": 2,
                            "n_sessions": 1, "max_turns": 1, "seed": 7})
    plans = plan_sessions(exp, load_profiles_for(exp), load_problems_for(exp))
    planned = {(chain[0].profile.user_id, chain[0].problem.id) for chain in plans}
    assert {(r["profile_id"], r["problem_id"]) for r in merged} == planned, "each profile met what it would unsharded"
    assert {r["user_id"] for r in merged} == {f"sharded.vanilla.{r['profile_id']}" for r in merged}, "the run's ids"
    judged = [json.loads(line) for line in (out / "judgments.jsonl").open()]
    assert len(judged) == 2, "the whole run is judged once, by the shard that merged it"
    assert (out / "merge.lock").exists()
    assert sum("merged 2 sessions" in err for _, err in outputs) == 1
