"""The CLI's side of the orchestrator service: submit, watch, cancel and list runs; fetch a report.

``attune submit x.yaml --to HOST:PORT`` (or a shipped experiment's name) sends the experiment file to
a remote orchestrator (orchestrator/service) and follows the run with the same
progress bar as ``attune run``; ``attune watch RUN`` picks a run up again.
"""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.table import Table

from attune.orchestrator.benchmark.run import progress_display
from attune.services.common.launch import open_client
from attune.services.common.settings import CommonSettings
from attune.v1 import orchestrator_pb2


def _client(common: CommonSettings, target: str):
    return open_client("orchestrator", common, target or None)


async def submit(common: CommonSettings, target: str, experiment: Path, run_id: str, detach: bool,
                 console: Console, shards: int = 0) -> int:
    async with _client(common, target) as client:
        run = await client.start_run(orchestrator_pb2.StartRunRequest(experiment_yaml=experiment.read_text(),
                                                                      run_id=run_id, shards=shards))
        split = f", {run.shards} shards ({run.launcher})" if run.shards else ""
        console.print(f"run [bold]{run.run_id}[/] {run.state} on {client.target}{split} (folder there: "
                      f"{run.output_dir})")
        return 0 if detach else await follow(client, run.run_id, console)


async def watch(common: CommonSettings, target: str, run_id: str, console: Console) -> int:
    async with _client(common, target) as client:
        return await follow(client, run_id, console)


async def follow(client, run_id: str, console: Console) -> int:
    """The run's progress bar until it ends; 0 when it succeeded."""
    with progress_display(console) as progress:
        task = progress.add_task(run_id, total=None, tokens=0, errors=0)
        async for event in client.watch_run(orchestrator_pb2.GetRunRequest(run_id=run_id)):
            eta = f", ETA {event.eta_s / 60:.0f} min" if event.eta_s else ""
            progress.update(task, total=event.sessions_total or None, completed=event.sessions_done,
                            tokens=event.prompt_tokens + event.completion_tokens, errors=event.errors,
                            description=f"{run_id}: {event.phase or event.state}{eta}")
    run = await client.get_run(orchestrator_pb2.GetRunRequest(run_id=run_id))
    console.print(f"run [bold]{run_id}[/]: {run.state}" + (f" ({run.error})" if run.error else ""))
    return 0 if run.state == "succeeded" else 1


async def cancel(common: CommonSettings, target: str, run_id: str, console: Console) -> int:
    async with _client(common, target) as client:
        run = await client.cancel_run(orchestrator_pb2.GetRunRequest(run_id=run_id))
    console.print(f"run [bold]{run_id}[/]: {run.state}; {run.progress.sessions_done} of "
                  f"{run.progress.sessions_total} sessions done (submit it again to resume)")
    return 0


async def list_runs(common: CommonSettings, target: str, console: Console) -> int:
    async with _client(common, target) as client:
        runs = (await client.list_runs()).runs
    table = Table("run", "state", "experiment", "methods", "sessions", "tokens", "error", title=client.target)
    for run in runs:
        p = run.progress
        table.add_row(run.run_id, run.state, run.experiment_name, ", ".join(run.methods),
                      f"{p.sessions_done}/{p.sessions_total}", f"{p.prompt_tokens + p.completion_tokens:,}",
                      run.error)
    console.print(table)
    return 0


async def fetch_report(common: CommonSettings, target: str, run_id: str, fmt: str, out: Path | None,
                       console: Console) -> int:
    async with _client(common, target) as client:
        report = await client.get_report(orchestrator_pb2.GetReportRequest(run_id=run_id, format=fmt))
    out = out or Path(f"{run_id}-report.{'html' if report.format == 'html' else 'md'}")
    out.write_bytes(report.content)
    console.print(f"report: [bold]{out}[/]")
    return 0
