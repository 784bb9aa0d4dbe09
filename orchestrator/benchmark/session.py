"""One session: the plan (problem, conflict, applicable preferences) and the agent-user loop.

The plan depends only on the experiment, the profile and the session index, so
every method meets the same users, problems and conflict queries.
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass

from attune.orchestrator.benchmark.experiment import Experiment
from attune.orchestrator.benchmark.records import (
    ConflictRecord,
    SessionMetrics,
    SessionRecord,
    TurnRecord,
    VerdictRecord,
)
from attune.orchestrator.benchmark.simulator import UserSimulator
from attune.orchestrator.methods import Context, Ledger, Method


@dataclass(frozen=True)
class SessionPlan:
    profile: object
    session: int
    problem: object
    query: str
    step_by_step: bool
    conflict: object | None
    applicable: tuple


def plan_sessions(exp: Experiment, profiles: list, problems: dict[str, list]) -> list[list[SessionPlan]]:
    """For each profile, its sessions in order."""
    return [[plan_session(exp, profile, i, s, problems) for s in range(1, exp.n_sessions + 1)]
            for i, profile in enumerate(profiles)]


def plan_session(exp: Experiment, profile, index: int, session: int, problems: dict[str, list]) -> SessionPlan:
    from attune.orchestrator.conflicts import make_conflict, should_conflict
    from attune.orchestrator.profiles import QueryContext, applicable
    from attune.orchestrator.tasks import get_dataset

    rng = random.Random(f"{exp.seed}:{profile.user_id}:{session}")
    name = exp.datasets[(index + session - 1) % len(exp.datasets)]
    pool = problems[name]
    problem = pool[(index * exp.n_sessions + session - 1) % len(pool)]
    step_by_step = rng.random() < exp.step_by_step_share
    query = get_dataset(name).prompt(problem, step_by_step)
    conflict = None
    if should_conflict(rng, exp.conflict_share):
        conflict = make_conflict(profile, query, problem.domain, rng)
    if conflict is not None:
        query = conflict.text
    found = applicable(profile, QueryContext(text=query, domain=problem.domain))
    if conflict is not None:
        # The scenario names the winner: its rival does not apply, so a reply that follows it is not rewarded.
        found = [p for p in found if p.id not in conflict.triggered or p.id == conflict.expected]
    return SessionPlan(profile, session, problem, query, step_by_step, conflict, tuple(found))


def user_key(run_id: str, method: str, profile_id: str) -> str:
    """The user id a method sees: one namespace per run and method, so shared stores never mix them."""
    return f"{run_id}.{method}.{profile_id}"


async def run_session(method: Method, simulator: UserSimulator, plan: SessionPlan, run_id: str,
                      max_turns: int) -> SessionRecord:
    """Play one session to its end and return its record (memory snapshot included)."""
    from attune.orchestrator.tasks import get_dataset

    start = time.perf_counter()
    user_id = user_key(run_id, method.name, plan.profile.user_id)
    ctx = Context(run_id, user_id, plan.session)
    await method.start_session(ctx)
    if method.bound:
        method.know(user_id, list(plan.applicable))
    ledger, turns, history, draft = Ledger(), [], [], ""
    message = plan.query
    for number in range(1, max_turns + 1):
        turn_ledger = Ledger()
        reply = await method.respond(user_id, message, turn_ledger)
        history += [("user", message), ("assistant", reply.text)]
        verdict = await simulator.react(ctx, plan.problem.question, list(plan.applicable), history, draft,
                                        turn_ledger)
        draft = verdict.draft_answer
        turns.append(TurnRecord(turn=number, user=message, assistant=reply.text, memory_used=reply.memory,
                                reward=reply.reward, tokens=turn_ledger.tokens,
                                verdict=VerdictRecord(**verdict.to_dict())))
        ledger.merge(turn_ledger)
        if verdict.end_session:
            break
        message = verdict.message
    upkeep = Ledger()
    with upkeep.timed("upkeep"):
        await method.end_session(user_id, upkeep)
    ledger.merge(upkeep)
    dataset = get_dataset(plan.problem.dataset)
    with ledger.timed("scoring"):
        task = await score(dataset, plan.problem, draft)
        agent = await score(dataset, plan.problem, turns[-1].assistant)
    user_tokens = await simulator.count_tokens([t.user for t in turns[1:]])
    return SessionRecord(
        run_id=run_id, method=method.name, profile_id=plan.profile.user_id, user_id=user_id,
        session=plan.session, dataset=plan.problem.dataset, problem_id=plan.problem.id,
        step_by_step=plan.step_by_step, query=plan.query,
        conflict=_conflict(plan), applicable=[p.id for p in plan.applicable],
        turns=turns, upkeep_tokens=upkeep.tokens, tokens=ledger.tokens, total_tokens=ledger.total(),
        draft_answer=draft, task_success=task.correct, task_detail=task.detail,
        agent_answer_correct=agent.correct, metrics=session_metrics(turns, plan, user_tokens),
        memory=method.snapshot(user_id), seconds=round(time.perf_counter() - start, 3),
        part_seconds={part: round(seconds, 3) for part, seconds in ledger.seconds.items()},
        finished_at=time.time(),
    )


async def score(dataset, problem, answer: str):
    """Code runs in a subprocess for up to minutes: off the event loop. Math stays on the main
    thread, where math-verify's own time limit (SIGALRM) works."""
    if problem.kind == "code":
        return await asyncio.to_thread(dataset.score, problem, answer)
    return dataset.score(problem, answer)


def _conflict(plan: SessionPlan) -> ConflictRecord | None:
    conflict = plan.conflict
    if conflict is None:
        return None
    texts = {p.id: p.preference for p in plan.profile.preferences if p.id in conflict.triggered}
    return ConflictRecord(template_id=conflict.template_id, group=conflict.group,
                          triggered=list(conflict.triggered), expected=conflict.expected, preferences=texts)


def session_metrics(turns: list[TurnRecord], plan: SessionPlan, user_tokens: int | None = None) -> SessionMetrics:
    """Per-session numbers from the simulator's verdicts: user effort, and the simulator's own view of
    compliance and conflict resolution (the judge's are in judgments.jsonl)."""
    verdicts = [t.verdict for t in turns]
    n_applicable = len(plan.applicable)
    compliance = None
    if n_applicable:
        compliance = round(sum(len(v.satisfied) for v in verdicts) / (n_applicable * len(verdicts)), 4)
    resolved = None
    if plan.conflict is not None:
        resolved = plan.conflict.expected in verdicts[0].satisfied
    return SessionMetrics(
        user_turns=len(turns),
        user_tokens=user_tokens,
        enforcements=sum(v.enforce for v in verdicts),
        enforced=[v.enforce_id for v in verdicts if v.enforce],
        clarifying_questions=sum(v.clarifying for v in verdicts),
        parse_failures=sum(v.parse_failed for v in verdicts),
        simulator_compliance=compliance,
        simulator_conflict_resolved=resolved,
        ended_by="simulator" if verdicts[-1].end_session else "max_turns",
    )
