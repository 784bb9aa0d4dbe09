"""Run an experiment: every method plays every profile's sessions; resumable after a kill.

Units of concurrency are (method, profile) chains: up to ``concurrency`` chains
run at once, the sessions of one chain strictly in order (a session's memory
comes from the ones before it). Each finished session is appended to
``sessions.jsonl`` at once; on restart, finished sessions are skipped and each
chain's memory is restored from its last record. A chain whose session fails
stops (its later sessions would depend on it); the others go on, and the run
ends with the count of failures, to be retried by running it again.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from attune.orchestrator.benchmark.experiment import (
    NOT_IDENTITY,
    Experiment,
    ExperimentError,
    load_training_profiles,
)
from attune.orchestrator.benchmark.records import Key, SessionLog, SessionRecord
from attune.orchestrator.benchmark.session import SessionPlan, run_session, user_key
from attune.orchestrator.benchmark.simulator import UserSimulator
from attune.orchestrator.methods import Ledger, Method, Services, method_class
from attune.services.common.files import atomic_write_json, atomic_write_text
from attune.services.common.logging import get_logger

log = get_logger(__name__)

EXPERIMENT_FILE = "experiment.yaml"
SESSIONS_FILE = "sessions.jsonl"
SPLIT_FILE = "training_split.json"


class Reporter:
    """What the runner tells the outside world; the default says nothing."""

    def start(self, total: int, done: int) -> None: ...

    def phase(self, text: str) -> None: ...

    def session_started(self, method: str, plan: SessionPlan) -> None: ...

    def session_done(self, record: SessionRecord) -> None: ...

    def session_failed(self, method: str, plan: SessionPlan, error: BaseException) -> None: ...


@dataclass
class RunResult:
    total: int
    finished: int = 0
    resumed: int = 0
    failures: list[str] = field(default_factory=list)
    tokens: int = 0
    # The judge step's result, when the run was judged.
    judge: object | None = None


def check_output_dir(exp: Experiment, output_dir: Path) -> None:
    """Write the experiment next to its results; a different one already there is refused."""
    output_dir.mkdir(parents=True, exist_ok=True)
    path = output_dir / EXPERIMENT_FILE
    if path.exists():
        stored = yaml.safe_load(path.read_text()) or {}
        for key in NOT_IDENTITY:
            stored.pop(key, None)
        identity = exp.identity()
        if stored != identity:
            changed = sorted(k for k in set(stored) | set(identity) if stored.get(k) != identity.get(k))
            raise ExperimentError(f"{output_dir} holds results of a different experiment (differs in: "
                                  f"{', '.join(changed)}); use another --output-dir")
        return
    atomic_write_text(path, yaml.safe_dump(exp.model_dump(mode="json"), sort_keys=False))


class Runner:
    def __init__(self, exp: Experiment, output_dir: Path, services: Services, simulator: UserSimulator,
                 run_id: str, reporter: Reporter | None = None):
        self.exp = exp
        self.output_dir = output_dir
        self.services = services
        self.simulator = simulator
        self.run_id = run_id
        self.reporter = reporter or Reporter()
        self.log = SessionLog(output_dir / SESSIONS_FILE)

    async def run(self, profiles: list, plans: list[list[SessionPlan]], everyone: list | None = None) -> RunResult:
        """Run the sessions of ``plans`` not yet done. ``everyone``: all of the experiment's profiles when
        these are one shard's (methods that learn before the run train on profiles disjoint from all)."""
        check_output_dir(self.exp, self.output_dir)
        done = self.log.load()
        result = RunResult(total=len(self.exp.methods) * sum(len(p) for p in plans), resumed=len(done))
        self.reporter.start(result.total, len(done))
        methods = await self._methods(everyone or profiles)
        self.reporter.phase("sessions")
        limit = asyncio.Semaphore(self.exp.concurrency)
        chains = [self._chain(methods[name], chain, done, limit, result)
                  for chain in plans for name in self.exp.methods]
        await asyncio.gather(*chains)
        return result

    def _training_profiles(self, evaluated: list) -> list:
        """Profiles disjoint from the evaluated ones, for methods that learn before the run; the split is kept
        in ``work/training_split.json``."""
        training = load_training_profiles(self.exp, evaluated)
        atomic_write_json(self.output_dir / "work" / SPLIT_FILE,
                          {"evaluated": [p.user_id for p in evaluated], "training": [p.user_id for p in training]})
        return training

    async def _methods(self, profiles: list) -> dict[str, Method]:
        methods = {}
        training = self._training_profiles(profiles)
        for name in self.exp.methods:
            method = method_class(name)(self.services, self.exp.method_settings, seed=self.exp.seed,
                                        workdir=self.output_dir / "work")
            self.reporter.phase(f"preparing {name}")
            await method.prepare(training, Ledger())
            methods[name] = method
        return methods

    async def _chain(self, method: Method, plans: list[SessionPlan], done: dict[Key, SessionRecord],
                     limit: asyncio.Semaphore, result: RunResult) -> None:
        profile_id = plans[0].profile.user_id
        todo = [p for p in plans if (method.name, profile_id, p.session) not in done]
        if not todo:
            return
        async with limit:
            previous = [done[(method.name, profile_id, p.session)] for p in plans
                        if (method.name, profile_id, p.session) in done]
            # Also with nothing finished: a killed first session may have left cards in a store.
            memory = previous[-1].memory if previous else {}
            await method.restore(user_key(self.run_id, method.name, profile_id), memory)
            for plan in todo:
                self.reporter.session_started(method.name, plan)
                try:
                    record = await run_session(method, self.simulator, plan, self.run_id, self.exp.max_turns)
                except Exception as err:  # noqa: BLE001 - one failed chain must not stop the others
                    log.error("session_failed", method=method.name, profile_id=profile_id, session=plan.session,
                              error=repr(err), exc_info=err)
                    result.failures.append(f"{method.name}/{profile_id}/session {plan.session}: {err!r}")
                    self.reporter.session_failed(method.name, plan, err)
                    return
                await self.log.append(record)
                done[record.key] = record
                result.finished += 1
                result.tokens += record.total_tokens
                self.reporter.session_done(record)
