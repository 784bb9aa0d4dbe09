"""A sharded run through the orchestrator service: two shard processes at once (real SmolLM2 in each, the
command an Indexed Job's pods run) write to one run folder; WatchRun follows their logs; the last shard merges
and judges the run, the service reports it. A cancelled sharded run stops its shards and resumes."""

from __future__ import annotations

import asyncio
import json

import pytest
import yaml

from attune.orchestrator.benchmark.experiment import load_problems_for, load_profiles_for, parse_experiment
from attune.orchestrator.benchmark.session import plan_sessions
from attune.orchestrator.service.client import OrchestratorClient
from attune.orchestrator.service.core import OrchestratorService
from attune.orchestrator.service.launchers import ProcessLauncher
from attune.orchestrator.service.settings import OrchestratorSettings
from attune.services.common.errors import FailedPrecondition
from attune.services.common.launch import serve_core
from attune.services.common.settings import CommonSettings
from attune.v1 import orchestrator_pb2

TOKEN = "shards-token"
EXPERIMENT = {"name": "sharded", "methods": ["vanilla"], "datasets": ["math-500"], "n_profiles": 2,
              "n_sessions": 1, "max_turns": 1, "seed": 7, "transport": "in_process",
              "method_settings": {"max_reply_tokens": 24}, "simulator": {"max_tokens": 64},
              "judge": {"contrast_pairs": 2}}


@pytest.fixture()
async def orchestrator(data_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("ATTUNE_JUDGE_MAX_TOKENS", "40")  # the shard processes inherit it
    common = CommonSettings(data_dir=data_dir)
    settings = OrchestratorSettings(runs_dir=tmp_path / "runs", launcher="processes", shards=2, poll_interval_s=0.5)
    launcher = ProcessLauncher(common)
    core = OrchestratorService(settings, common, launcher=launcher)
    await core.start()
    server = await serve_core("orchestrator", core, token=TOKEN)
    client = OrchestratorClient(server.address, token=TOKEN)
    yield core, client, launcher
    await client.close()
    await server.stop()
    await core.close()


async def watch_to_end(client, run_id: str) -> list[orchestrator_pb2.RunProgress]:
    return [e async for e in client.watch_run(orchestrator_pb2.GetRunRequest(run_id=run_id), timeout_s=1800)]


async def test_a_sharded_run_is_cancelled_resumed_merged_judged_once_and_reported(processes, orchestrator):
    core, client, launcher = orchestrator
    start = orchestrator_pb2.StartRunRequest(experiment_yaml=yaml.safe_dump(EXPERIMENT))
    run = await client.start_run(start)
    assert (run.launcher, run.shards, run.progress.sessions_total) == ("processes", 2, 2)
    await asyncio.sleep(1.0)
    first = await client.get_run(orchestrator_pb2.GetRunRequest(run_id="sharded"))
    procs = launcher.running[first.job]
    assert len(procs) == 2
    cancelled = await client.cancel_run(orchestrator_pb2.GetRunRequest(run_id="sharded"))
    assert cancelled.state == "cancelled"
    assert all(p.returncode is not None for p in procs), "cancelling stops every shard process"

    with pytest.raises(FailedPrecondition, match="other shards"):
        await client.start_run(orchestrator_pb2.StartRunRequest(experiment_yaml=start.experiment_yaml, shards=1))
    resumed = await client.start_run(start)
    assert resumed.state == "running"
    events = await watch_to_end(client, "sharded")
    last = events[-1]
    assert last.state == "succeeded", (await client.get_run(orchestrator_pb2.GetRunRequest(run_id="sharded"))).error
    assert last.sessions_done == last.sessions_total == 2 and last.errors == 0
    assert last.prompt_tokens > 0 and last.completion_tokens > 0, "tokens summed from the shards' logs"
    assert [e.sessions_done for e in events] == sorted(e.sessions_done for e in events), "progress only grows"
    phases = [e.phase for e in events]
    assert "shards 2/2 done" in phases and phases[-1] == "report"

    out = core.runs_dir / "sharded"
    assert json.loads((out / "shards.json").read_text())["ranges"] == [[0, 1], [1, 2]]
    per_shard = [[json.loads(line) for line in (out / "shards" / f"{i}-of-2" / "sessions.jsonl").open()]
                 for i in range(2)]
    assert [len(s) for s in per_shard] == [1, 1]
    merged = [json.loads(line) for line in (out / "sessions.jsonl").open()]
    assert sorted(r["profile_id"] for r in merged) == sorted(r["profile_id"] for s in per_shard for r in s)
    assert last.prompt_tokens == sum(c["prompt"] for r in merged for c in r["tokens"].values())
    exp = parse_experiment({k: v for k, v in EXPERIMENT.items() if k not in ("method_settings", "simulator")})
    plans = plan_sessions(exp, load_profiles_for(exp), load_problems_for(exp))
    planned = {(chain[0].profile.user_id, chain[0].problem.id) for chain in plans}
    assert {(r["profile_id"], r["problem_id"]) for r in merged} == planned, "each profile met what it would unsharded"
    assert {r["user_id"] for r in merged} == {f"sharded.vanilla.{r['profile_id']}" for r in merged}, "the run's ids"
    judged = [json.loads(line) for line in (out / "judgments.jsonl").open()]
    assert len(judged) == 2, "the whole run is judged once, by the shard that merged it"
    assert (out / "merge.lock").exists()
    logs = [(out / "logs" / f"shard-{i}.log").read_text() for i in range(2)]
    assert sum("merged 2 sessions" in text for text in logs) == 1
    assert (await client.get_run(orchestrator_pb2.GetRunRequest(run_id="sharded"))).job != first.job
    report = await client.get_report(orchestrator_pb2.GetReportRequest(run_id="sharded"))
    assert b"vanilla" in report.content
