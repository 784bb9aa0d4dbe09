"""The judge step: ``attune judge runs/<id>`` turns a run's sessions into verdicts.

For every finished session it asks the judge (the in-process core or the judge
service) four kinds of question: task success (the dataset's own check decides,
the LLM is not asked where it decides), per agent turn the compliance with each
applicable preference and whether any inapplicable preference was applied, and
in a conflict session whether the first reply followed the preference the
context calls for and not its rival. Each judged session is appended at once to
``judgments.jsonl`` (another judge's go to ``judged/<judge>/``), so a killed
step resumes where it stopped; the run's own files are only read, never
rewritten. Planted cases (planted.py) and the contrast pairs (contrast.py), whose right verdicts are
known, go to ``planted.jsonl`` beside them.
"""

from __future__ import annotations

import asyncio
import random
import re
from dataclasses import dataclass, field
from pathlib import Path

from google.protobuf.json_format import MessageToDict
from pydantic import BaseModel

from attune.orchestrator.benchmark import contrast, planted
from attune.orchestrator.benchmark.contrast import card
from attune.orchestrator.benchmark.experiment import Experiment, load_experiment, load_problems_for, load_profiles_for
from attune.orchestrator.benchmark.records import (
    RecordModel,
    SessionLog,
    SessionRecord,
    TokenCount,
)
from attune.orchestrator.tasks import get_dataset
from attune.preferences.checkers import leaves_a_mark
from attune.services.judge.client import opinion
from attune.v1 import common_pb2, judge_pb2

JUDGMENTS_FILE = "judgments.jsonl"
PLANTED_FILE = "planted.jsonl"
OTHER_JUDGES_DIR = "judged"
EXPERIMENT_FILE = "experiment.yaml"
SESSIONS_FILE = "sessions.jsonl"
JUDGMENT_VERSION = 1


class JudgedTurn(RecordModel):
    turn: int
    # ComplianceVerdict (None: no preference applied to the query).
    compliance: dict | None
    # Over-personalization Verdict (None: nothing was asked).
    over: dict | None


class Judgment(RecordModel):
    """The verdicts on one session, each as the judge returned it (protobuf JSON, field names kept)."""

    schema_version: int = JUDGMENT_VERSION
    method: str
    profile_id: str
    session: int
    judge: dict
    task: dict
    conflict: dict | None
    turns: list[JudgedTurn]
    tokens: TokenCount

    @property
    def key(self) -> tuple[str, str, int]:
        return self.method, self.profile_id, self.session


class PlantedVerdict(RecordModel):
    """The judge on one planted case. Every case must fail (``accepted`` is a false accept) but the
    contrast pairs' ``contrast_follows``, which must pass (not accepted and judged is a false reject)."""

    schema_version: int = JUDGMENT_VERSION
    kind: str
    method: str
    profile_id: str
    session: int
    preference: str = ""
    rival: str = ""
    accepted: bool
    unjudged: bool
    decided_by: str
    llm: int
    reason: str

    @property
    def key(self) -> tuple[str, str, int]:
        if self.kind in contrast.CONTRAST_KINDS:  # once per judge, not per session
            return f"{self.kind}:{self.preference}", "", 0
        return f"{self.kind}:{self.method}", self.profile_id, self.session


class JudgeStepSettings(BaseModel):
    """How the judge step samples the questions it asks."""

    # Inapplicable preferences no checker can see, asked of the LLM per turn (sampled, seeded).
    over_llm_max: int = 3
    # Contrast pairs asked once per judge (a seeded sample; None: every one).
    contrast_pairs: int | None = None
    concurrency: int = 8
    seed: int = 0


@dataclass
class JudgeResult:
    judged: int = 0
    resumed: int = 0
    planted: int = 0
    failures: list[str] = field(default_factory=list)


def judgment_dir(run_dir: Path, judge_name: str = "") -> Path:
    """Where a judge's verdicts go: the run folder for the run's own judge, judged/<name>/ for others."""
    return run_dir / OTHER_JUDGES_DIR / judge_name if judge_name else run_dir


def judge_name(info: judge_pb2.JudgeInfo) -> str:
    """A folder name for a judge: its model, backend and prompt hash."""
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", f"{info.model}-{info.backend}-{info.prompt_hash}").strip("-")
    return name or "judge"


def verdict_dict(message) -> dict:
    return MessageToDict(message, preserving_proto_field_name=True, always_print_fields_with_no_presence=True)


class RunJudge:
    """Judges the sessions of one run with one judge (a JudgeService core or a JudgeClient)."""

    def __init__(self, run_dir: Path, judge, settings: JudgeStepSettings | None = None, out_dir: Path | None = None):
        self.run_dir = run_dir
        self.judge = judge
        self.settings = settings or JudgeStepSettings()
        self.out_dir = out_dir or run_dir
        self.exp = load_run_experiment(run_dir)
        self.profiles = {p.user_id: p for p in load_profiles_for(self.exp)}
        self.problems = {(p.dataset, p.id): p for ps in load_problems_for(self.exp).values() for p in ps}
        self.judgments = SessionLog(self.out_dir / JUDGMENTS_FILE, parse=parse_judgment, kind="judgment")
        self.planted = SessionLog(self.out_dir / PLANTED_FILE, parse=parse_planted, kind="planted verdict")

    async def run(self, reporter=None) -> JudgeResult:
        records = SessionLog(self.run_dir / SESSIONS_FILE).load(repair=False)
        done = self.judgments.load()
        planted_done = self.planted.load()
        result = JudgeResult(resumed=len(done))
        todo = [r for key, r in records.items() if key not in done]
        if reporter:
            reporter.start(len(records), len(done))
        limit = asyncio.Semaphore(self.settings.concurrency)

        async def one(record: SessionRecord) -> None:
            async with limit:
                try:
                    await self.judgments.append(await self.judge_session(record))
                    result.judged += 1
                    for case in await self.plant(record, planted_done):
                        await self.planted.append(case)
                        result.planted += 1
                except Exception as err:  # noqa: BLE001 - one session's failure must not stop the others
                    result.failures.append(f"{record.method}/{record.profile_id}/session {record.session}: {err!r}")
                if reporter:
                    reporter.advance()

        await asyncio.gather(*(one(r) for r in todo))
        await self.audit_contrast(planted_done, limit, result)
        return result

    async def audit_contrast(self, done: dict, limit: asyncio.Semaphore, result: JudgeResult) -> None:
        """Both replies of each contrast pair not yet asked, appended to the planted cases."""
        context = common_pb2.RequestContext(run_id=self.exp.name, method="audit", caller_role="judge")
        todo = [(pair, kind) for pair in contrast.chosen_pairs(self.settings.contrast_pairs, self.settings.seed)
                for kind in contrast.CONTRAST_KINDS if (f"{kind}:{pair.preference_id}", "", 0) not in done]

        async def one(pair, kind: str) -> None:
            async with limit:
                try:
                    detail = await contrast.judge_pair(self.judge, pair, kind, context)
                except Exception as err:  # noqa: BLE001 - one pair's failure must not stop the others
                    result.failures.append(f"contrast pair {pair.preference_id} ({kind}): {err!r}")
                    return
                await self.planted.append(contrast_verdict(pair.preference_id, kind, detail))
                result.planted += 1

        await asyncio.gather(*(one(pair, kind) for pair, kind in todo))

    # ---- one session ----------------------------------------------------------------------------------

    async def judge_session(self, record: SessionRecord) -> Judgment:
        profile = self.profiles[record.profile_id]
        problem = self.problems[(record.dataset, record.problem_id)]
        context = common_pb2.RequestContext(run_id=record.run_id, user_id=record.user_id,
                                            session_id=str(record.session), method=record.method)
        usage = TokenCount()
        task = await self.judge.judge_task_success(judge_pb2.TaskSuccessRequest(
            context=context, problem=problem.question, reference_answer=problem.reference,
            answer=record.draft_answer, programmatic=opinion(record.task_success)))
        _count(usage, task.usage)
        applicable, inapplicable = self._split(record, profile)
        turns = []
        for turn in record.turns:
            compliance = over = None
            if applicable:
                compliance = await self.judge.judge_compliance(judge_pb2.ComplianceRequest(
                    context=context, query=turn.user, reply=turn.assistant, preferences=applicable))
                _count(usage, compliance.usage)
            asked = self._over_sample(inapplicable, record, turn.turn)
            if asked:
                over = await self.judge.judge_over_personalization(judge_pb2.OverPersonalizationRequest(
                    context=context, query=turn.user, reply=turn.assistant, inapplicable=asked))
                _count(usage, over.usage)
            turns.append(JudgedTurn(turn=turn.turn, compliance=compliance and verdict_dict(compliance),
                                    over=over and verdict_dict(over)))
        conflict = None
        if record.conflict is not None:
            conflict = await self.judge.judge_conflict(self._conflict_request(record, profile, context,
                                                                               record.turns[0].assistant))
            _count(usage, conflict.usage)
        return Judgment(method=record.method, profile_id=record.profile_id, session=record.session,
                        judge=verdict_dict(task.judge), task=verdict_dict(task),
                        conflict=conflict and verdict_dict(conflict), turns=turns, tokens=usage)

    def _split(self, record: SessionRecord, profile) -> tuple[list, list]:
        """The applicable preferences (a conflict's loser excluded) and the inapplicable ones."""
        losers = set()
        if record.conflict is not None:
            losers = set(record.conflict.triggered) - {record.conflict.expected}
        held = {p.id: p for p in profile.preferences}
        applicable = [card(held[i]) for i in record.applicable if i in held and i not in losers]
        ruled_out = set(record.applicable) | losers
        inapplicable = [card(p) for p in profile.preferences if p.id not in ruled_out]
        return applicable, inapplicable

    def _over_sample(self, inapplicable: list, record: SessionRecord, turn: int) -> list:
        """Every inapplicable preference a checker can see, and a seeded few others for the LLM."""
        seen = [c for c in inapplicable if leaves_a_mark(c.card_id)]
        others = [c for c in inapplicable if not leaves_a_mark(c.card_id)]
        rng = random.Random(f"{self.settings.seed}:{record.key}:{turn}")
        return seen + rng.sample(others, min(self.settings.over_llm_max, len(others)))

    @staticmethod
    def _conflict_request(record: SessionRecord, profile, context, reply: str) -> judge_pb2.ConflictRequest:
        held = {p.id: p for p in profile.preferences}
        return judge_pb2.ConflictRequest(context=context, query=record.query, reply=reply,
                                         triggered=[card(held[i]) for i in record.conflict.triggered],
                                         expected_card_id=record.conflict.expected)

    # ---- planted cases --------------------------------------------------------------------------------

    async def plant(self, record: SessionRecord, done: dict) -> list[PlantedVerdict]:
        """The planted cases built from this session's problem and preferences (each kind once)."""
        rng = random.Random(f"{self.settings.seed}:planted:{record.key}")
        profile = self.profiles[record.profile_id]
        context = common_pb2.RequestContext(run_id=record.run_id, user_id=record.user_id,
                                            session_id=str(record.session), method=record.method,
                                            caller_role="judge")
        cases = []
        for kind, build in (("wrong_answer", self._wrong_answer), ("rival_preference", self._rival)):
            if (f"{kind}:{record.method}", record.profile_id, record.session) in done:
                continue
            case = await build(record, profile, context, rng)
            if case is not None:
                cases.append(case)
        return cases

    async def _wrong_answer(self, record, profile, context, rng) -> PlantedVerdict | None:
        problem = self.problems[(record.dataset, record.problem_id)]
        answer = planted.wrong_answer(problem, rng)
        checked = await _score(problem, answer)
        if checked.correct:
            return None  # not known to be wrong
        verdict = await self.judge.judge_task_success(judge_pb2.TaskSuccessRequest(
            context=context, problem=problem.question, reference_answer=problem.reference, answer=answer,
            programmatic=opinion(checked.correct)))
        return _planted("wrong_answer", record, verdict, verdict.passed, verdict.llm)

    async def _rival(self, record, profile, context, rng) -> PlantedVerdict | None:
        if record.conflict is None:
            return None
        rival = next(i for i in record.conflict.triggered if i != record.conflict.expected)
        reply = planted.reply_following_rival(record.conflict.expected, rival, rng)
        if reply is None:
            return None
        verdict = await self.judge.judge_conflict(self._conflict_request(record, profile, context, reply))
        return _planted("rival_preference", record, verdict, verdict.passed, verdict.llm,
                        preference=record.conflict.expected, rival=rival)


def _planted(kind: str, record: SessionRecord, verdict, accepted: bool, llm: int, **extra) -> PlantedVerdict:
    return PlantedVerdict(kind=kind, method=record.method, profile_id=record.profile_id, session=record.session,
                          accepted=accepted and not verdict.unjudged, unjudged=verdict.unjudged,
                          decided_by=verdict.decided_by, llm=llm, reason=verdict.reason, **extra)


def contrast_verdict(preference_id: str, kind: str, detail: judge_pb2.PreferenceVerdict) -> PlantedVerdict:
    """A contrast reply's verdict as a planted case (``accepted``: the judge said the reply follows)."""
    return PlantedVerdict(kind=kind, method="audit", profile_id="", session=0, preference=preference_id,
                          accepted=detail.satisfied and not detail.unjudged, unjudged=detail.unjudged,
                          decided_by=detail.decided_by, llm=detail.llm, reason=detail.reason)


async def _score(problem, answer: str):
    if problem.kind == "code":
        return await asyncio.to_thread(get_dataset(problem.dataset).score, problem, answer)
    return get_dataset(problem.dataset).score(problem, answer)


def _count(total: TokenCount, usage: common_pb2.TokenUsage) -> None:
    total.prompt += usage.prompt_tokens
    total.completion += usage.completion_tokens
    total.calls += 1


def load_run_experiment(run_dir: Path) -> Experiment:
    path = run_dir / EXPERIMENT_FILE
    if not (run_dir / SESSIONS_FILE).exists():
        raise FileNotFoundError(f"{run_dir} holds no {SESSIONS_FILE}: not a run folder")
    return load_experiment(path)


def parse_judgment(data) -> Judgment:
    return _parse_versioned(data, Judgment)


def parse_planted(data) -> PlantedVerdict:
    return _parse_versioned(data, PlantedVerdict)


def _parse_versioned(data, model: type[RecordModel]):
    from attune.orchestrator.benchmark.records import NewerSchema

    if not isinstance(data, dict):
        raise TypeError(f"expected a JSON object, got {type(data).__name__}")
    if data.get("schema_version", JUDGMENT_VERSION) > JUDGMENT_VERSION:
        raise NewerSchema(f"schema_version {data['schema_version']} was written by a newer attune")
    return model.model_validate(data)
