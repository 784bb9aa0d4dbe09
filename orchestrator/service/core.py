"""The orchestrator service's core: benchmark runs started, watched, cancelled and reported over gRPC.

Each run is ``attune run`` in this process (``run_experiment``) writing into
``<runs_dir>/<run_id>``: the same session log, resume, judging and report as on
the command line. The run id is the folder, so a second StartRun of an id that
exists resumes that run (finished sessions are kept) rather than starting a
duplicate, and one that is running is returned as it is. A cancelled run stops
at once; the sessions it had finished stay, and StartRun resumes it later.

Each run's state is also written to ``run.json`` in its folder (atomically), so
a restarted service lists its earlier runs; one that was running when the
service stopped reads ``interrupted``.

With a launcher (``ATTUNE_ORCHESTRATOR_LAUNCHER``: ``processes`` or
``kubernetes``, launchers.py) a run is split into shards that run elsewhere: the
service starts them, reads their progress from the shared run folder
(progress.py) into the same WatchRun events, and writes the report when the last
shard has merged and judged the run. A Kubernetes Job goes on while the service
restarts; the restarted service follows it again.
"""

from __future__ import annotations

import asyncio
import io
import time
from collections.abc import AsyncIterator
from pathlib import Path

import yaml
from google.protobuf import json_format
from rich.console import Console

from attune.orchestrator.benchmark.experiment import (
    Experiment,
    ExperimentError,
    load_problems_for,
    load_profiles_for,
    parse_experiment,
)
from attune.orchestrator.benchmark.records import SessionRecord
from attune.orchestrator.benchmark.runner import Reporter, check_output_dir
from attune.orchestrator.benchmark.session import SessionPlan, plan_sessions
from attune.orchestrator.benchmark.shards import record_plan
from attune.orchestrator.service.launchers import Launcher, ShardRun, Status, make_launcher
from attune.orchestrator.service.progress import ShardProgress
from attune.orchestrator.service.settings import OrchestratorSettings
from attune.services.common import metrics
from attune.services.common.errors import FailedPrecondition, InvalidArgument, NotFound, ResourceExhausted
from attune.services.common.files import atomic_write_text
from attune.services.common.logging import get_logger
from attune.services.common.protos import copy_message
from attune.services.common.settings import CommonSettings
from attune.services.common.validation import check_id
from attune.v1 import orchestrator_pb2

log = get_logger(__name__)

RUN_FILE = "run.json"
CANCELLED, INTERRUPTED = "cancelled", "interrupted"
TERMINAL = frozenset({"succeeded", "failed", CANCELLED, INTERRUPTED})
REPORTS = {"markdown": "report.md", "html": "report.html"}


class RunState:
    """One run: its proto, its task, and an event that wakes watchers at each change."""

    def __init__(self, run: orchestrator_pb2.Run):
        self.run = run
        self.task: asyncio.Task | None = None
        self.began = time.monotonic()
        self.finished_here = 0
        # How a stop from outside ends the run: cancelled by a client, or interrupted by a shutdown.
        self.stop_as = (INTERRUPTED, "the orchestrator stopped while the run was going on")
        self.next_change = asyncio.Event()

    @property
    def folder(self) -> Path:
        return Path(self.run.output_dir)

    @property
    def running(self) -> bool:
        return self.run.state not in TERMINAL

    def changed(self) -> None:
        """Stamp elapsed time and ETA, save run.json, wake the watchers."""
        progress = self.run.progress
        progress.state = self.run.state
        progress.elapsed_s = time.monotonic() - self.began
        left = progress.sessions_total - progress.sessions_done
        progress.eta_s = progress.elapsed_s / self.finished_here * left if self.finished_here >= 2 else 0.0
        metrics.RUN_SESSIONS.labels(self.run.run_id, "done").set(progress.sessions_done)
        metrics.RUN_SESSIONS.labels(self.run.run_id, "total").set(progress.sessions_total)
        metrics.RUN_ETA.labels(self.run.run_id).set(progress.eta_s)
        atomic_write_text(self.folder / RUN_FILE, json_format.MessageToJson(self.run))
        self.next_change.set()
        self.next_change = asyncio.Event()


class ServiceReporter(Reporter):
    """The runner's progress into the run's state and the orchestrator's metrics."""

    def __init__(self, state: RunState, methods: list[str]):
        self.state, self.methods = state, methods

    def start(self, total: int, done: int) -> None:
        progress = self.state.run.progress
        progress.sessions_total, progress.sessions_done, progress.sessions_resumed = total, done, done
        self.state.changed()

    def phase(self, text: str) -> None:
        self.state.run.progress.phase = text
        self.state.changed()

    def session_started(self, method: str, plan: SessionPlan) -> None:
        metrics.SESSIONS_STARTED.labels(method, plan.problem.dataset).inc()

    def session_done(self, record: SessionRecord) -> None:
        metrics.count_session(record)
        progress = self.state.run.progress
        progress.sessions_done += 1
        progress.prompt_tokens += sum(c.prompt for c in record.tokens.values())
        progress.completion_tokens += sum(c.completion for c in record.tokens.values())
        self.state.finished_here += 1
        self.state.changed()

    def session_failed(self, method: str, plan: SessionPlan, error: BaseException) -> None:
        metrics.SESSIONS_FAILED.labels(method, plan.problem.dataset).inc()
        self.state.run.progress.errors += 1
        self.state.changed()


class OrchestratorService:
    """Runs experiments in this process, one folder per run id under ``runs_dir``."""

    def __init__(self, settings: OrchestratorSettings, common: CommonSettings, model=None,
                 launcher: Launcher | None = None):
        self.settings, self.common = settings, common
        self.runs_dir = settings.resolved_runs_dir(common.data_dir)
        # A model core shared with the caller (tests) for in-process runs; None: each run loads its own.
        self.model = model
        # Where sharded runs' shards run; None: every run in this process.
        self.launcher = launcher
        self.runs: dict[str, RunState] = {}

    async def start(self) -> None:
        self.runs_dir.mkdir(parents=True, exist_ok=True)
        for path in sorted(self.runs_dir.glob(f"*/{RUN_FILE}")):
            run = json_format.Parse(path.read_text(), orchestrator_pb2.Run())
            state = self.runs[run.run_id] = RunState(run)
            if run.state in TERMINAL:
                continue
            if self._outlived(run):
                state.task = asyncio.create_task(self._run_sharded(state, handle=run.job))
                log.info("run_followed_again", run_id=run.run_id, job=run.job)
                continue
            run.state, run.error = INTERRUPTED, "the orchestrator stopped while the run was going on"
            run.progress.state = run.state
        log.info("orchestrator_started", runs_dir=str(self.runs_dir), runs=len(self.runs),
                 launcher=self.settings.launcher)

    def _outlived(self, run: orchestrator_pb2.Run) -> bool:
        """Whether the run's shards went on without this service (a Kubernetes Job) and can be followed again."""
        launcher = self.launcher
        return bool(run.job) and launcher is not None and launcher.outlives_service and run.launcher == launcher.name

    async def close(self) -> None:
        """Stop the runs going on; each is left ``interrupted`` and resumes with StartRun."""
        for state in self.runs.values():
            if state.task is not None and not state.task.done():
                state.task.cancel()
                await asyncio.gather(state.task, return_exceptions=True)

    # ---- RPCs -----------------------------------------------------------------------------------------

    async def start_run(self, request: orchestrator_pb2.StartRunRequest) -> orchestrator_pb2.Run:
        exp = self._experiment(request.experiment_yaml)
        run_id = check_id("run_id", request.run_id or exp.name, 128)
        if "/" in run_id or run_id.startswith("."):
            raise InvalidArgument("run_id", "must be a folder name (no '/', not starting with '.')")
        known = self.runs.get(run_id)
        if known is not None and known.running:
            return copy_message(known.run)
        if sum(s.running for s in self.runs.values()) >= self.settings.max_concurrent_runs:
            raise ResourceExhausted(f"{self.settings.max_concurrent_runs} run(s) are going on already; "
                                    f"wait for one to end or cancel it")
        shards = self._shards(request.shards)
        folder = self.runs_dir / run_id
        total = await asyncio.to_thread(_check_inputs, exp, folder, shards)
        state = RunState(orchestrator_pb2.Run(run_id=run_id, state="running", output_dir=str(folder),
                                              experiment_name=exp.name, methods=exp.methods,
                                              launcher=self.settings.launcher, shards=shards,
                                              progress=orchestrator_pb2.RunProgress(run_id=run_id,
                                                                                    phase="starting",
                                                                                    sessions_total=total)))
        self.runs[run_id] = state
        state.changed()
        state.task = asyncio.create_task(self._run_sharded(state) if shards else self._run(state, exp))
        log.info("run_started", run_id=run_id, experiment=exp.name, resumed=known is not None, shards=shards)
        return copy_message(state.run)

    def _shards(self, asked: int) -> int:
        """The run's shard count: 0 for a run in this process."""
        if asked < 0:
            raise InvalidArgument("shards", f"is {asked}; give 0 (the service's default) or more")
        if self.launcher is None:
            if asked > 1:
                raise InvalidArgument("shards", f"is {asked}, but this orchestrator runs every run in its own "
                                      "process (ATTUNE_ORCHESTRATOR_LAUNCHER=in_process); give 0 or 1")
            return 0
        return asked or self.settings.shards

    async def get_run(self, request: orchestrator_pb2.GetRunRequest) -> orchestrator_pb2.Run:
        return copy_message(self._state(request.run_id).run)

    async def list_runs(self, request: orchestrator_pb2.ListRunsRequest) -> orchestrator_pb2.ListRunsResponse:
        return orchestrator_pb2.ListRunsResponse(runs=[copy_message(self.runs[k].run) for k in sorted(self.runs)])

    async def watch_run(self, request: orchestrator_pb2.GetRunRequest) -> AsyncIterator[orchestrator_pb2.RunProgress]:
        state = self._state(request.run_id)
        while True:
            changed = state.next_change  # taken before the snapshot: no change after it goes unseen
            yield copy_message(state.run.progress)
            if not state.running:
                return
            await changed.wait()

    async def cancel_run(self, request: orchestrator_pb2.GetRunRequest) -> orchestrator_pb2.Run:
        state = self._state(request.run_id)
        if state.task is not None and not state.task.done():
            state.stop_as = (CANCELLED, "cancelled by a client; StartRun with the same run id resumes it")
            state.task.cancel()
            await asyncio.gather(state.task, return_exceptions=True)
            # A task cancelled before its first step never ran its own handler: end the run here.
            self._end(state, *state.stop_as)
        return copy_message(state.run)

    async def get_report(self, request: orchestrator_pb2.GetReportRequest) -> orchestrator_pb2.Report:
        state = self._state(request.run_id)
        fmt = request.format or "markdown"
        if fmt not in REPORTS:
            raise InvalidArgument("format", f"is {fmt!r}; one of {', '.join(REPORTS)}")
        path = state.folder / REPORTS[fmt]
        if state.running or not path.is_file():
            raise FailedPrecondition(f"run {state.run.run_id} has no report yet (state {state.run.state}): it is "
                                     f"written when the run and its judging have succeeded")
        return orchestrator_pb2.Report(run_id=state.run.run_id, format=fmt, content=path.read_bytes())

    # ---- internals ------------------------------------------------------------------------------------

    def _experiment(self, text: str) -> Experiment:
        if not text.strip():
            raise InvalidArgument("experiment_yaml", "must not be empty")
        if len(text.encode()) > self.settings.max_experiment_bytes:
            raise InvalidArgument("experiment_yaml", f"is larger than {self.settings.max_experiment_bytes} bytes")
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as err:
            raise InvalidArgument("experiment_yaml", f"is not valid YAML: {err}") from None
        if not isinstance(data, dict):
            raise InvalidArgument("experiment_yaml", f"must be a mapping of keys, not {type(data).__name__}")
        try:
            return parse_experiment(data)
        except ExperimentError as err:
            raise InvalidArgument("experiment_yaml", str(err)) from None

    def _state(self, run_id: str) -> RunState:
        check_id("run_id", run_id, 128)
        try:
            return self.runs[run_id]
        except KeyError:
            raise NotFound(f"no run {run_id!r}; ListRuns lists them") from None

    async def _run(self, state: RunState, exp: Experiment) -> None:
        from attune.orchestrator.benchmark.run import run_experiment
        from attune.orchestrator.report import write_report

        try:
            result = await run_experiment(exp, state.folder, self.common, console=Console(file=io.StringIO()),
                                          model=self.model, reporter=ServiceReporter(state, exp.methods))
            failures = result.failures or (result.judge.failures if result.judge is not None else [])
            if failures:
                self._end(state, "failed", f"{len(failures)} failure(s), the first: {failures[0]}")
                return
            state.run.progress.phase = "report"
            state.changed()
            await asyncio.to_thread(write_report, [state.folder])
            self._end(state, "succeeded", "")
        except asyncio.CancelledError:
            self._end(state, *state.stop_as)
            raise
        except Exception as err:  # noqa: BLE001 - a run's failure is its state, not the service's
            log.exception("run_failed", run_id=state.run.run_id)
            self._end(state, "failed", f"{type(err).__name__}: {err}")

    async def _run_sharded(self, state: RunState, handle: str = "") -> None:
        """Start the run's shards (or follow those started before a restart) until they end, then report."""
        from attune.orchestrator.report import write_report

        run = ShardRun(state.run.run_id, state.folder, state.run.shards)
        progress = ShardProgress(state.folder, run.shards)
        await asyncio.to_thread(progress.read)
        state.run.progress.sessions_resumed = progress.sessions
        try:
            if not handle:
                handle = state.run.job = await self.launcher.launch(run)
                log.info("shards_launched", run_id=run.run_id, shards=run.shards, job=handle)
            status = await self._follow_shards(state, progress, handle)
            if status.state == "failed":
                if not self.launcher.outlives_service:
                    await self.launcher.stop(handle)
                self._end(state, "failed", status.message)
                return
            state.run.progress.phase = "report"
            state.changed()
            await asyncio.to_thread(write_report, [state.folder])
            self._end(state, "succeeded", "")
        except asyncio.CancelledError:
            if handle and (state.stop_as[0] == CANCELLED or not self.launcher.outlives_service):
                await self.launcher.stop(handle)
                self._end(state, *state.stop_as)
            raise
        except Exception as err:  # noqa: BLE001 - a run's failure is its state, not the service's
            log.exception("run_failed", run_id=run.run_id)
            self._end(state, "failed", f"{type(err).__name__}: {err}")

    async def _follow_shards(self, state: RunState, progress: ShardProgress, handle: str) -> Status:
        """Poll the launcher and the shard logs into the run's progress until the shards end."""
        seen = None
        while True:
            status = await self.launcher.status(handle)
            await asyncio.to_thread(progress.read)
            p = state.run.progress
            p.sessions_done, p.prompt_tokens, p.completion_tokens = (progress.sessions, progress.prompt_tokens,
                                                                     progress.completion_tokens)
            p.errors = status.failed_shards
            p.phase = f"shards {progress.shards_done}/{progress.count} done"
            state.finished_here = p.sessions_done - p.sessions_resumed
            now = (p.sessions_done, p.prompt_tokens, p.completion_tokens, p.errors, p.phase)
            if now != seen:
                seen = now
                state.changed()
            if status.state != "running":
                return status
            await asyncio.sleep(self.settings.poll_interval_s)

    def _end(self, state: RunState, outcome: str, error: str) -> None:
        if not state.running:
            return
        state.run.state, state.run.error = outcome, error
        state.changed()
        log.info("run_ended", run_id=state.run.run_id, state=outcome, error=error)


def _check_inputs(exp: Experiment, folder: Path, shards: int) -> int:
    """What ``run_experiment`` would refuse, refused at StartRun: missing profiles or tasks, a folder that holds
    another experiment or was split into other shards, more shards than profiles. Returns the sessions planned."""
    try:
        profiles = load_profiles_for(exp)
        plans = plan_sessions(exp, profiles, load_problems_for(exp))
    except ExperimentError as err:
        raise InvalidArgument("experiment_yaml", str(err)) from None
    if shards > len(profiles):
        raise InvalidArgument("shards", f"is {shards}, more than the experiment's {len(profiles)} profiles")
    try:
        check_output_dir(exp, folder)
        if shards:
            record_plan(folder, len(profiles), shards)
    except ExperimentError as err:
        raise FailedPrecondition(str(err)) from None
    return len(exp.methods) * sum(len(chain) for chain in plans)


async def build(context) -> OrchestratorService:
    """The registry's factory: runs reach the other services at their targets (or load them in process), or run
    as shards where the settings' launcher puts them."""
    return OrchestratorService(context.settings, context.common,
                               launcher=make_launcher(context.settings, context.common))
