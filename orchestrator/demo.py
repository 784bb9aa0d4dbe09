"""The demo's main job: a small multi-session benchmark against the running services.

Every method plays the same two simulated users for two short sessions (the shipped
experiment ``demo``, orchestrator/experiments/demo.yaml); the sessions go to
``<output_dir>/sessions.jsonl``, the judge service judges them (``judgments.jsonl``), a per-method table and the
judge's audit are printed, and the report is written (``report.html``). Running
it again resumes (finished sessions and verdicts are kept).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from rich.console import Console

from attune.orchestrator.benchmark.experiment import load_experiment
from attune.orchestrator.benchmark.run import run_experiment
from attune.services.common.settings import CommonSettings


async def run_demo(output_dir: Path, common: CommonSettings, console: Console,
                   experiment: str | Path = "demo") -> int:
    exp = load_experiment(experiment)
    console.print(f"demo: {', '.join(exp.methods)} on {exp.n_profiles} users x {exp.n_sessions} sessions "
                  f"({', '.join(exp.datasets)}), over gRPC")
    result = await run_experiment(exp, output_dir, common, console=console)
    console.print(f"sessions: [bold]{output_dir / 'sessions.jsonl'}[/]")
    if result.failures or result.judge is None:
        return 1
    from attune.orchestrator.report import write_report

    written = await asyncio.to_thread(write_report, [output_dir])
    console.print(f"judgments: [bold]{output_dir / 'judgments.jsonl'}[/]")
    console.print(written.headline)
    console.print(f"report: [bold]{written.html}[/]")
    return 1 if result.judge.failures else 0
