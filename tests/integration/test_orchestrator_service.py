"""The orchestrator service over real gRPC on 127.0.0.1: runs of the real SmolLM2 (in process), started,
watched, cancelled, resumed and reported; bad input refused with the status it deserves; the CLI against it."""

from __future__ import annotations

import asyncio
import json

import pytest
import yaml
from prometheus_client import REGISTRY

from attune.orchestrator.benchmark.records import SessionLog
from attune.orchestrator.cli import main
from attune.orchestrator.service.client import OrchestratorClient
from attune.orchestrator.service.core import OrchestratorService
from attune.orchestrator.service.settings import OrchestratorSettings
from attune.services.common.errors import FailedPrecondition, InvalidArgument, NotFound, ResourceExhausted
from attune.services.common.launch import serve_core
from attune.services.common.settings import CommonSettings
from attune.v1 import orchestrator_pb2

TOKEN = "orchestrator-token"


def experiment(name: str, sessions: int = 2, judge: bool = True) -> str:
    return yaml.safe_dump({
        "name": name, "methods": ["vanilla"], "datasets": ["math-500"], "n_profiles": 1, "n_sessions": sessions,
        "max_turns": 1, "conflict_share": 0.0, "seed": 5, "concurrency": 1, "transport": "in_process",
        "method_settings": {"max_reply_tokens": 24}, "simulator": {"max_tokens": 64},
        "judge": {"enabled": judge, "contrast_pairs": 2}})


@pytest.fixture()
async def orchestrator(model_core, data_dir, tmp_path):
    core = OrchestratorService(OrchestratorSettings(runs_dir=tmp_path / "runs"), CommonSettings(data_dir=data_dir),
                               model=model_core)
    await core.start()
    server = await serve_core("orchestrator", core, token=TOKEN)
    client = OrchestratorClient(server.address, token=TOKEN)
    yield core, client, server.address
    await client.close()
    await server.stop()
    await core.close()


def sample(name: str, **labels) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def watch_to_end(client: OrchestratorClient, run_id: str) -> list[orchestrator_pb2.RunProgress]:
    return [event async for event in client.watch_run(orchestrator_pb2.GetRunRequest(run_id=run_id), timeout_s=900)]


async def test_a_run_is_started_watched_reported_and_resumed_not_repeated(orchestrator):
    core, client, _ = orchestrator
    finished = sample("attune_sessions_finished_total", method="vanilla", dataset="math-500")
    run = await client.start_run(orchestrator_pb2.StartRunRequest(experiment_yaml=experiment("svc")))
    assert run.run_id == "svc" and run.state == "running" and run.methods == ["vanilla"]
    events = await watch_to_end(client, "svc")
    last = events[-1]
    assert last.state == "succeeded" and last.sessions_done == last.sessions_total == 2
    assert last.prompt_tokens > 0 and last.completion_tokens > 0 and last.errors == 0
    assert [e.sessions_done for e in events] == sorted(e.sessions_done for e in events), "progress only grows"
    assert {"sessions", "judging", "report"} <= {e.phase for e in events}
    assert sample("attune_sessions_finished_total", method="vanilla", dataset="math-500") == finished + 2
    assert sample("attune_session_tokens_total", method="vanilla", role="agent", kind="completion") > 0
    assert sample("attune_run_sessions", run_id="svc", kind="done") == 2
    assert sum(sample("attune_judge_verdicts_total", check="task", method="vanilla", outcome=o)
               for o in ("passed", "failed", "unjudged")) >= 2
    markdown = await client.get_report(orchestrator_pb2.GetReportRequest(run_id="svc"))
    assert markdown.format == "markdown" and b"vanilla" in markdown.content
    html = await client.get_report(orchestrator_pb2.GetReportRequest(run_id="svc", format="html"))
    assert html.content.lstrip().lower().startswith(b"<!doctype html")

    again = await client.start_run(orchestrator_pb2.StartRunRequest(experiment_yaml=experiment("svc")))
    assert again.state == "running", "a run id that exists is resumed"
    events = await watch_to_end(client, "svc")
    assert events[-1].state == "succeeded" and events[-1].sessions_resumed == 2
    log = SessionLog(core.runs_dir / "svc" / "sessions.jsonl").load()
    assert len(log) == 2, "resuming repeats no session"

    restarted = OrchestratorService(core.settings, core.common)
    await restarted.start()
    listed = await restarted.list_runs(orchestrator_pb2.ListRunsRequest())
    assert [(r.run_id, r.state) for r in listed.runs] == [("svc", "succeeded")], "runs outlive the service"


async def test_a_cancelled_run_stops_and_resumes_later(orchestrator):
    core, client, _ = orchestrator
    await client.start_run(orchestrator_pb2.StartRunRequest(experiment_yaml=experiment("long", 2, judge=False)))
    with pytest.raises(ResourceExhausted, match="1 run"):
        await client.start_run(orchestrator_pb2.StartRunRequest(experiment_yaml=experiment("other")))
    async for event in client.watch_run(orchestrator_pb2.GetRunRequest(run_id="long"), timeout_s=900):
        if event.sessions_done >= 1:
            break
    cancelled = await client.cancel_run(orchestrator_pb2.GetRunRequest(run_id="long"))
    assert cancelled.state == "cancelled" and "resumes" in cancelled.error
    done = len(SessionLog(core.runs_dir / "long" / "sessions.jsonl").load())
    assert done == 1 and cancelled.progress.sessions_done == done
    with pytest.raises(FailedPrecondition, match="no report yet"):
        await client.get_report(orchestrator_pb2.GetReportRequest(run_id="long"))

    await client.start_run(orchestrator_pb2.StartRunRequest(experiment_yaml=experiment("long", 2, judge=False)))
    events = await watch_to_end(client, "long")
    assert events[-1].state == "succeeded" and events[-1].sessions_resumed == done
    log = SessionLog(core.runs_dir / "long" / "sessions.jsonl").load()
    assert sorted(key[2] for key in log) == [1, 2], "every session once"


async def test_bad_input_gets_the_status_it_deserves(orchestrator):
    _, client, _ = orchestrator
    with pytest.raises(InvalidArgument, match="methods.*unknown method\\(s\\) telepathy"):
        await client.start_run(orchestrator_pb2.StartRunRequest(
            experiment_yaml=experiment("x").replace("vanilla", "telepathy")))
    with pytest.raises(InvalidArgument, match="experiment_yaml.*must not be empty"):
        await client.start_run(orchestrator_pb2.StartRunRequest())
    with pytest.raises(InvalidArgument, match="not valid YAML"):
        await client.start_run(orchestrator_pb2.StartRunRequest(experiment_yaml="name: [unclosed"))
    with pytest.raises(InvalidArgument, match="run_id"):
        await client.start_run(orchestrator_pb2.StartRunRequest(experiment_yaml=experiment("x"), run_id="../up"))
    with pytest.raises(NotFound, match="no run 'ghost'"):
        await client.get_run(orchestrator_pb2.GetRunRequest(run_id="ghost"))
    for call in (client.cancel_run, client.get_run):
        with pytest.raises(NotFound):
            await call(orchestrator_pb2.GetRunRequest(run_id="ghost"))
    with pytest.raises(NotFound):
        await client.get_report(orchestrator_pb2.GetReportRequest(run_id="ghost"))
    with pytest.raises(InvalidArgument, match="run_id"):
        await client.get_run(orchestrator_pb2.GetRunRequest(run_id=""))
    unauthenticated = OrchestratorClient(client.target)
    with pytest.raises(Exception, match="UNAUTHENTICATED|token"):
        await unauthenticated.list_runs()
    await unauthenticated.close()


async def test_the_cli_submits_watches_and_lists(orchestrator, tmp_path, monkeypatch, capsys):
    _, _, address = orchestrator
    monkeypatch.setenv("ATTUNE_AUTH_TOKEN", TOKEN)
    path = tmp_path / "cli.yaml"
    path.write_text(experiment("cli", 1, judge=False))
    assert await asyncio.to_thread(main, ["submit", str(path), "--to", address]) == 0
    assert await asyncio.to_thread(main, ["runs", "--to", address]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "succeeded" in out and "1/1" in out
    assert await asyncio.to_thread(main, ["watch", "cli", "--to", address]) == 0
    path.write_text(experiment("cli", 1, judge=False).replace("vanilla", "telepathy"))
    assert await asyncio.to_thread(main, ["submit", str(path), "--to", address]) == 2
    assert "unknown method(s) telepathy" in " ".join(capsys.readouterr().err.split())
    assert json.loads((tmp_path / "runs" / "cli" / "run.json").read_text())["state"] == "succeeded"
