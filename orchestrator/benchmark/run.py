"""``attune run``: open the services an experiment needs, run it with a progress display, summarize.

In process (``transport: in_process``) every core is loaded here, with the
run's stores under ``<output_dir>/state`` so a resumed run finds them; over gRPC
(``transport: grpc``) it uses the services ``attune up`` (or a cluster) runs.
Each start appends what actually served the run to ``provenance.json``.
"""

from __future__ import annotations

import re
from contextlib import AsyncExitStack
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from attune.orchestrator.benchmark import shards
from attune.orchestrator.benchmark.experiment import Experiment, load_problems_for, load_profiles_for, seeds_used
from attune.orchestrator.benchmark.judge_run import judge_run, open_judge
from attune.orchestrator.benchmark.provenance import record_start
from attune.orchestrator.benchmark.records import SessionRecord
from attune.orchestrator.benchmark.runner import Reporter, Runner, RunResult, check_output_dir
from attune.orchestrator.benchmark.session import plan_sessions
from attune.orchestrator.benchmark.shards import Shard, record_plan
from attune.orchestrator.benchmark.simulator import UserSimulator
from attune.orchestrator.benchmark.summary import summary_table
from attune.orchestrator.memory import Services, open_clients, open_in_process
from attune.orchestrator.methods import method_class
from attune.services.common.launch import open_client
from attune.services.common.logging import get_logger
from attune.services.common.settings import CommonSettings, load
from attune.services.judge.settings import JudgeSettings

log = get_logger(__name__)


def run_id_for(output_dir: Path) -> str:
    """Stable across restarts of the same run: the output folder's name."""
    return re.sub(r"[^A-Za-z0-9_-]+", "-", output_dir.resolve().name).strip("-") or "run"


def services_needed(exp: Experiment) -> tuple[str, ...]:
    return tuple(sorted({need for name in exp.methods for need in method_class(name).needs}))


async def open_services(exp: Experiment, common: CommonSettings, output_dir: Path, model=None) -> Services:
    if exp.transport == "grpc":
        return await open_clients(common, needs=services_needed(exp))
    return await open_in_process(common, model=model, needs=services_needed(exp), state_dir=output_dir / "state")


async def role_models(exp: Experiment, services: Services, common: CommonSettings, stack: AsyncExitStack):
    """The agent's and the simulator's model: the run's own, or the service a role names."""

    async def pick(target: str):
        if not target:
            return services.model
        client = open_client("model", common, target)
        stack.push_async_callback(client.close)
        await client.wait_ready(timeout_s=60)
        return client

    return await pick(exp.models.agent), await pick(exp.models.user_simulator)


class RichReporter(Reporter):
    def __init__(self, progress: Progress):
        self.progress = progress
        self.task = progress.add_task("sessions", total=0, tokens=0, errors=0)
        self.tokens = 0
        self.errors = 0

    def start(self, total: int, done: int) -> None:
        self.progress.update(self.task, total=total, completed=done)

    def phase(self, text: str) -> None:
        self.progress.update(self.task, description=text)

    def session_done(self, record: SessionRecord) -> None:
        self.tokens += record.total_tokens
        self.progress.update(self.task, advance=1, tokens=self.tokens, description="sessions")

    def session_failed(self, method, plan, error) -> None:
        self.errors += 1
        self.progress.update(self.task, errors=self.errors)


class LogReporter(Reporter):
    def start(self, total: int, done: int) -> None:
        log.info("run_started", sessions=total, already_done=done)

    def phase(self, text: str) -> None:
        log.info("run_phase", phase=text)

    def session_done(self, record: SessionRecord) -> None:
        log.info("session_done", method=record.method, profile_id=record.profile_id, session=record.session,
                 turns=len(record.turns), tokens=record.total_tokens, task_success=record.task_success)

    def session_failed(self, method, plan, error) -> None:
        log.error("session_failed", method=method, profile_id=plan.profile.user_id, session=plan.session,
                  error=repr(error))


def progress_display(console: Console) -> Progress:
    return Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TextColumn("tokens {task.fields[tokens]:,}"), TextColumn("errors {task.fields[errors]}"),
                    TimeElapsedColumn(), console=console)


async def run_experiment(exp: Experiment, output_dir: Path, common: CommonSettings, *, json_logs: bool = False,
                         console: Console | None = None, model=None, judge: bool = True,
                         reporter: Reporter | None = None, shard: Shard | None = None) -> RunResult:
    """Validate the inputs, open the services, run every session not yet done, judge them (unless
    ``judge`` or the experiment's ``judge.enabled`` says not to), print the summary. ``reporter`` (the
    orchestrator service's) replaces the progress display or the log lines. With ``shard``, only that shard's
    profiles run, into its own folder under ``output_dir`` (shards.py); the shard that completes the set merges
    the logs and judges the whole run."""
    console = console or Console(stderr=True)
    everyone = profiles = load_profiles_for(exp)
    plans = plan_sessions(exp, profiles, load_problems_for(exp))
    run_dir = output_dir
    check_output_dir(exp, run_dir)
    if shard is not None:
        start, stop = record_plan(run_dir, len(profiles), shard.count)[shard.index]
        profiles, plans, output_dir = profiles[start:stop], plans[start:stop], shard.folder(run_dir)
        check_output_dir(exp, output_dir)  # before provenance is written there
    services = await open_services(exp, common, output_dir, model)
    async with AsyncExitStack() as stack:
        stack.push_async_callback(services.close)
        agent_model, simulator_model = await role_models(exp, services, common, stack)
        await record_start(output_dir, exp.transport, {"agent": agent_model, "user_simulator": simulator_model},
                           common.data_dir, seeds_used(exp, load(JudgeSettings).seed))
        services.model = agent_model
        simulator = UserSimulator(simulator_model, exp.simulator, seed=exp.seed)
        runner_args = (exp, output_dir, services, simulator, run_id_for(run_dir))
        if reporter is not None or json_logs:
            reporter = reporter or LogReporter()
            result = await Runner(*runner_args, reporter).run(profiles, plans, everyone)
        else:
            with progress_display(console) as progress:
                result = await Runner(*runner_args, RichReporter(progress)).run(profiles, plans, everyone)
        if shard is not None and (result.failures or not merged(run_dir, shard, result, console)):
            return result
        if judge and exp.judge.enabled and not result.failures:
            if reporter is not None:
                reporter.phase("judging")
            judge_core = await open_judge(exp, common, stack, model=simulator_model, state_dir=run_dir / "state")
            result.judge = await judge_run(run_dir, exp, judge_core, console)
            return result
    if not json_logs:
        # Wide enough for every column even when the output is not a terminal.
        Console(file=console.file, width=max(console.width, 130)).print(summary_table(run_dir))
    return result


def merged(run_dir: Path, shard: Shard, result: RunResult, console: Console) -> bool:
    """Mark the shard done; True when this shard found every shard done and merged their logs."""
    shards.mark_done(run_dir, shard, result.finished + result.resumed)
    if not (shards.all_done(run_dir, shard.count) and shards.take_merge_lock(run_dir)):
        console.print(f"shard {shard.name} done; the last shard to finish merges the run")
        return False
    count = shards.merge(run_dir, shard.count)
    console.print(f"shard {shard.name} merged {count} sessions of {shard.count} shards into {run_dir}")
    return True
