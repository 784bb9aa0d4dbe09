"""TrainerService: training jobs run as local subprocesses, one per job.

A submitted spec is validated in full (kind, scope, data, adapter name,
hyper-parameters; spec.py) before a job exists. Jobs beyond ``max_concurrent_jobs``
wait in a queue. Each job runs ``python -m attune.services.trainer.jobs.run`` in its
own process group, which reports progress as JSON lines on stdout; its stderr
is the job's log. The adapter is trained into ``<adapter_dir>/.staging/<job_id>``
and renamed to ``<adapter_dir>/<adapter_name>`` only when complete, so the model
service never sees half an adapter.

Every change of a job is written to ``<data_dir>/trainer/jobs/<job_id>.json``
atomically. Jobs that a previous trainer process left queued or running (it
died, or the machine did) are marked failed with "trainer restarted" at start:
a job is never silently run twice; resubmit it.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import shutil
import signal
import sys
import time
import uuid
from collections import deque
from collections.abc import AsyncIterator, Callable
from pathlib import Path

from google.protobuf import json_format

from attune.services.common.errors import FailedPrecondition, NotFound, Unavailable
from attune.services.common.logging import get_logger
from attune.services.common.protos import copy_message
from attune.services.common.validation import check_id
from attune.services.trainer.settings import TrainerSettings
from attune.services.trainer.spec import validated_spec
from attune.services.trainer.store import JobStore, Record
from attune.v1 import trainer_pb2

log = get_logger(__name__)

TERMINAL = frozenset({"succeeded", "failed", "cancelled"})
STAGING = ".staging"
# After SIGTERM, a job process gets this long before SIGKILL.
KILL_GRACE_S = 5.0
# (spec file, output folder) -> the job process's command line.
JobCommand = Callable[[Path, Path], list[str]]


class TrainerService:
    """Runs training jobs; ``data_dir`` holds the job records, logs and (by default) the adapters."""

    def __init__(self, settings: TrainerSettings, data_dir: Path | str, command: JobCommand | None = None):
        self.settings = settings
        self.data_dir = Path(data_dir)
        self.adapter_dir = settings.resolved_adapter_dir(self.data_dir)
        self.runs_dir = self.data_dir / "trainer" / "runs"
        self.store: JobStore | None = None
        self.command = command or self.job_command
        self.ready = False
        self.jobs: dict[str, Record] = {}
        self._queue: deque[str] = deque()
        self._tasks: dict[str, asyncio.Task] = {}
        self._procs: dict[str, asyncio.subprocess.Process] = {}
        # Why a running job was stopped from outside: (state, error) it ends in.
        self._ended: dict[str, tuple[str, str]] = {}
        self._changed = asyncio.Event()

    def job_command(self, spec_file: Path, out: Path) -> list[str]:
        return [sys.executable, "-m", "attune.services.trainer.jobs.run", "--spec", str(spec_file), "--out", str(out),
                "--data-dir", str(self.data_dir), "--threads", str(self.settings.job_threads)]

    async def start(self) -> None:
        """Load the job records; jobs a dead trainer left queued or running become failed."""
        self.store = JobStore(self.data_dir / "trainer" / "jobs")
        self.adapter_dir.mkdir(parents=True, exist_ok=True)
        for record in await asyncio.to_thread(self.store.load_all):
            self.jobs[record.job.job_id] = record
            if record.job.state not in TERMINAL:
                shutil.rmtree(self._staging(record.job.job_id), ignore_errors=True)
                self._update(record.job.job_id, state="failed", error="trainer restarted")
        self.ready = True
        log.info("trainer_started", jobs=len(self.jobs), adapter_dir=str(self.adapter_dir))

    async def close(self) -> None:
        """Fail queued jobs and stop running ones ("trainer stopped")."""
        self.ready = False
        while self._queue:
            self._update(self._queue.popleft(), state="failed", error="trainer stopped")
        tasks = list(self._tasks.values())
        for job_id in list(self._tasks):
            await self._stop(job_id, "failed", "trainer stopped")
        await asyncio.gather(*tasks, return_exceptions=True)

    # ---- the interface ----------------------------------------------------

    async def submit_job(self, spec: trainer_pb2.TrainJobSpec) -> trainer_pb2.TrainJob:
        """Validate ``spec`` and queue a job for it; returns the queued job."""
        self._check_ready()
        spec = await validated_spec(spec, self.settings.base_model)
        self._check_ready()  # still: the service may have closed while the data was checked
        self._check_adapter_free(spec.adapter_name)
        job = trainer_pb2.TrainJob(job_id=f"job-{uuid.uuid4().hex[:16]}", spec=spec, state="queued")
        self.jobs[job.job_id] = Record(job, time.time())
        self._update(job.job_id)
        self._queue.append(job.job_id)
        log.info("job_queued", job_id=job.job_id, kind=spec.kind, adapter_name=spec.adapter_name,
                 max_steps=spec.max_steps)
        self._schedule()
        return copy_message(job)

    async def get_job(self, request: trainer_pb2.GetJobRequest) -> trainer_pb2.TrainJob:
        return copy_message(self._record(request.job_id).job)

    async def list_jobs(self, request: trainer_pb2.ListJobsRequest) -> trainer_pb2.ListJobsResponse:
        """Every job, oldest first."""
        records = sorted(self.jobs.values(), key=lambda r: r.created_at)
        return trainer_pb2.ListJobsResponse(jobs=[r.job for r in records])

    async def cancel_job(self, request: trainer_pb2.GetJobRequest) -> trainer_pb2.TrainJob:
        """Cancel a queued or running job (its process group is killed); a finished job is returned as it is."""
        record = self._record(request.job_id)
        job_id = record.job.job_id
        if record.job.state == "queued":
            self._queue.remove(job_id)
            self._update(job_id, state="cancelled")
        elif record.job.state == "running":
            await self._stop(job_id, "cancelled", "")
            task = self._tasks.get(job_id)
            if task is not None:
                await asyncio.shield(task)
        return copy_message(record.job)

    async def watch_job(self, request: trainer_pb2.GetJobRequest) -> AsyncIterator[trainer_pb2.TrainJob]:
        """The job now, then after each change, until it is finished (a slow reader skips to the latest)."""
        record = self._record(request.job_id)
        sent = -1
        while True:
            changed = self._changed
            if record.version != sent:
                sent = record.version
                yield copy_message(record.job)
            if record.job.state in TERMINAL:
                return
            await changed.wait()

    # ---- validation -------------------------------------------------------

    def _check_ready(self) -> None:
        if not self.ready:
            raise Unavailable("trainer is not running")

    def _record(self, job_id: str) -> Record:
        check_id("job_id", job_id)
        record = self.jobs.get(job_id)
        if record is None:
            raise NotFound(f"unknown job {job_id!r}")
        return record

    def _check_adapter_free(self, name: str) -> None:
        if (self.adapter_dir / name).exists():
            raise FailedPrecondition(f"adapter {name!r} already exists in {self.adapter_dir}; choose another "
                                     "adapter_name or delete that folder")
        for record in self.jobs.values():
            if record.job.spec.adapter_name == name and record.job.state not in TERMINAL:
                raise FailedPrecondition(f"job {record.job.job_id} is already training adapter {name!r}")

    # ---- running jobs -----------------------------------------------------

    def _schedule(self) -> None:
        """Start queued jobs while fewer than max_concurrent_jobs run."""
        while self.ready and self._queue and len(self._tasks) < self.settings.max_concurrent_jobs:
            job_id = self._queue.popleft()
            self._update(job_id, state="running")
            self._tasks[job_id] = asyncio.create_task(self._run(job_id), name=f"trainer-{job_id}")

    async def _run(self, job_id: str) -> None:
        started = time.monotonic()
        try:
            state, error, adapter = await self._execute(self.jobs[job_id].job)
        except Exception as err:  # noqa: BLE001 - one job's failure must not stop the service
            log.exception("job_crashed", job_id=job_id)
            state, error, adapter = "failed", f"trainer error: {err}", ""
        finally:
            shutil.rmtree(self._staging(job_id), ignore_errors=True)
            self._procs.pop(job_id, None)
            self._tasks.pop(job_id, None)
        self._update(job_id, state=state, error=error, adapter_path=adapter)
        log.info("job_finished", job_id=job_id, state=state, error=error, seconds=round(time.monotonic() - started, 1))
        self._schedule()

    async def _execute(self, job: trainer_pb2.TrainJob) -> tuple[str, str, str]:
        """Run the job's process to its end: (state, error, adapter path)."""
        proc = await self._spawn(job)
        self._procs[job.job_id] = proc
        if job.job_id in self._ended:  # cancelled while the process was starting
            await _kill(proc)
        try:
            async with asyncio.timeout(self.settings.job_timeout_s):
                error = await self._follow(job.job_id, proc)
        except TimeoutError:
            self._ended.setdefault(job.job_id, ("failed", f"timed out after {self.settings.job_timeout_s:g}s"))
            await _kill(proc)
        if job.job_id in self._ended:
            state, reason = self._ended.pop(job.job_id)
            return state, reason, ""
        if error:
            return "failed", error, ""
        return "succeeded", "", str(self._publish(job))

    async def _spawn(self, job: trainer_pb2.TrainJob) -> asyncio.subprocess.Process:
        run_dir = self.runs_dir / job.job_id
        run_dir.mkdir(parents=True, exist_ok=True)
        spec_file = run_dir / "spec.json"
        spec_file.write_text(json_format.MessageToJson(job.spec))
        staging = self._staging(job.job_id)
        shutil.rmtree(staging, ignore_errors=True)
        with open(run_dir / "job.log", "ab") as log_file:
            proc = await asyncio.create_subprocess_exec(
                *self.command(spec_file, staging), stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE, stderr=log_file, start_new_session=True, env=job_env())
        log.info("job_started", job_id=job.job_id, pid=proc.pid, log=str(run_dir / "job.log"))
        return proc

    async def _follow(self, job_id: str, proc: asyncio.subprocess.Process) -> str:
        """Apply the job's progress lines until it exits; returns its error ("" when it succeeded)."""
        reported = ""
        async for line in proc.stdout:
            event = _progress_event(line)
            if "error" in event:
                reported = str(event["error"])
            elif "step" in event:
                self._progress(job_id, event)
        code = await proc.wait()
        if code == 0:
            return ""
        return reported or f"job process exited with status {code}; see {self.runs_dir / job_id / 'job.log'}"

    def _progress(self, job_id: str, event: dict) -> None:
        fields = {"step": int(event["step"])}
        loss = event.get("loss")
        if isinstance(loss, int | float) and math.isfinite(loss):
            fields["loss"] = float(loss)
        if isinstance(event.get("tokens"), int):
            fields["tokens"] = event["tokens"]
        self._update(job_id, **fields)
        log.info("job_progress", job_id=job_id, **{k: v for k, v in event.items() if k != "error"})

    async def _stop(self, job_id: str, state: str, error: str) -> None:
        """End a running job from outside in ``state``: kill its process group."""
        self._ended.setdefault(job_id, (state, error))
        proc = self._procs.get(job_id)
        if proc is not None:
            await _kill(proc)

    def _publish(self, job: trainer_pb2.TrainJob) -> Path:
        """Rename the finished adapter into place (atomic: the model service sees all of it or nothing)."""
        staging = self._staging(job.job_id)
        if not (staging / "adapter_config.json").is_file():
            raise RuntimeError("the job ended without saving an adapter")
        target = self.adapter_dir / job.spec.adapter_name
        try:
            os.rename(staging, target)
        except OSError as err:
            raise RuntimeError(f"cannot publish the adapter as {target}: {err}") from None
        return target

    def _staging(self, job_id: str) -> Path:
        return self.adapter_dir / STAGING / job_id

    def _update(self, job_id: str, **fields) -> None:
        """Change a job, write its record and wake its watchers."""
        record = self.jobs[job_id]
        for name, value in fields.items():
            setattr(record.job, name, value)
        record.version += 1
        self.store.save(record)
        self._changed.set()
        self._changed = asyncio.Event()


# ---- helpers ----------------------------------------------------------------


async def _kill(proc: asyncio.subprocess.Process) -> None:
    """SIGTERM the process group, SIGKILL it after KILL_GRACE_S, and reap the process."""
    _signal_group(proc.pid, signal.SIGTERM)
    try:
        await asyncio.wait_for(proc.wait(), KILL_GRACE_S)
    except TimeoutError:
        _signal_group(proc.pid, signal.SIGKILL)
        await proc.wait()
    _signal_group(proc.pid, signal.SIGKILL)  # children that outlived the leader


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        pass


def job_env() -> dict[str, str]:
    """The trainer's environment, with the Hugging Face libraries kept offline (models and data are local)."""
    return {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", **os.environ}


def _progress_event(line: bytes) -> dict:
    try:
        event = json.loads(line)
    except ValueError:
        return {}
    return event if isinstance(event, dict) else {}


async def build(context) -> TrainerService:
    """The registry's factory: job records under the state directory; adapters where the model service
    reads them (its adapter folder in process, else ``<data_dir>/adapters`` unless set). In process the
    embedded model, converted once under the data directory, is the default base model; a served trainer
    leaves that to each job, so that its port opens at once."""
    from attune.services.model.weights import ensure_converted

    settings, data_dir = context.settings, context.common.data_dir
    # In process the model core is at hand: publish where it reads, train on the weights it converted.
    model_settings = getattr(context.peers.get("model"), "settings", None)
    update = {}
    if settings.adapter_dir is None:
        update["adapter_dir"] = getattr(model_settings, "adapter_dir", None) or data_dir / "adapters"
    if not settings.base_model and model_settings is not None:
        update["base_model"] = str(await asyncio.to_thread(ensure_converted, data_dir))
    return TrainerService(settings.model_copy(update=update), context.state_dir)
