"""The benchmark's metrics, registered by name: each computed the way docs/benchmark.md defines it.

A metric is a function of one session (its record from sessions.jsonl and, for
the judged ones, its judgment from judgments.jsonl) that returns a number, or
None where it does not apply (no conflict in the session, no judgment yet). A
method's value is the mean over its sessions of the values that apply, except
for ratio metrics, which divide sums (successes per 1,000 user tokens). An
unknown metric name raises; nothing falls back silently.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from attune.orchestrator.benchmark.records import SessionRecord
from attune.orchestrator.reward import expresses_dissatisfaction
from attune.services.common.cards import grounding

# The agent side's tokens: what a method costs (the simulator's and the judge's are the benchmark's).
AGENT_ROLES = ("agent", "memory", "extractor", "reranker")
# A memory line carries a preference when it holds this share of the preference's content words.
CARRIES = 0.6


@dataclass(frozen=True)
class Metric:
    name: str
    title: str
    fmt: str
    source: str
    compute: Callable[[SessionRecord, object | None], float | None]
    # Ratio metrics: (numerator, denominator) per session, summed before dividing (times ``scale``).
    ratio: Callable[[SessionRecord, object | None], tuple[float, float] | None] | None = None
    scale: float = 1.0


METRICS: dict[str, Metric] = {}


class UnknownMetric(KeyError):
    def __str__(self) -> str:
        return str(self.args[0])


def metric(name: str, title: str, fmt: str, source: str, **extra):
    def register(compute):
        if name in METRICS:
            raise ValueError(f"metric {name!r} registered twice")
        METRICS[name] = Metric(name, title, fmt, source, compute, **extra)
        return compute
    return register


def get_metric(name: str) -> Metric:
    try:
        return METRICS[name]
    except KeyError:
        raise UnknownMetric(f"unknown metric {name!r}; known: {', '.join(METRICS)}") from None


def _verdict_passed(verdict: dict | None) -> float | None:
    if not verdict or verdict.get("unjudged"):
        return None
    return float(bool(verdict.get("passed")))


def role_tokens(record: SessionRecord, roles: tuple[str, ...]) -> int:
    return sum(c.prompt + c.completion for role, c in record.tokens.items() if role in roles)


# ---- task ------------------------------------------------------------------------------------------------

@metric("task_success", "task\nsuccess", "{:.0%}", "judge: task verdict (the dataset's check decides)")
def task_success(record, judgment):
    return _verdict_passed(judgment.task) if judgment else None


@metric("timeout_rate", "time-\nouts", "{:.0%}", "sessions.jsonl: metrics.ended_by")
def timeout_rate(record, judgment):
    return float(record.metrics.ended_by == "max_turns")


# ---- user effort -----------------------------------------------------------------------------------------

@metric("user_tokens", "user\ntokens", "{:,.0f}", "sessions.jsonl: metrics.user_tokens (the model's tokenizer)")
def user_tokens(record, judgment):
    return record.metrics.user_tokens


@metric("enforcements", "enforce-\nments", "{:.2f}", "sessions.jsonl: simulator verdicts (enforce)")
def enforcements(record, judgment):
    return float(record.metrics.enforcements)


@metric("disappointments", "disap-\npointed", "{:.2f}", "sessions.jsonl: user turns, reward cues")
def disappointments(record, judgment):
    return float(sum(1 for turn in record.turns if not turn.verdict.end_session and not turn.verdict.enforce
                     and expresses_dissatisfaction(turn.verdict.message)))


def _success_and_effort(record, judgment):
    success, tokens = task_success(record, judgment), record.metrics.user_tokens
    return None if success is None or tokens is None else (success, tokens)


@metric("successes_per_1k_user_tokens", "succ. /\n1k user tok", "{:.2f}",
        "judge task verdicts / sessions.jsonl user tokens", ratio=_success_and_effort, scale=1000.0)
def successes_per_1k_user_tokens(record, judgment):
    pair = _success_and_effort(record, judgment)
    return None if pair is None or not pair[1] else 1000.0 * pair[0] / pair[1]


# ---- cost ------------------------------------------------------------------------------------------------

@metric("agent_tokens", "agent\ntokens", "{:,.0f}", "sessions.jsonl: tokens of agent, memory, extractor, reranker")
def agent_tokens(record, judgment):
    return float(role_tokens(record, AGENT_ROLES))


@metric("training_tokens", "training\ntokens", "{:,.0f}",
        "sessions.jsonl: tokens of training (lora_user's adapter after the session)")
def training_tokens(record, judgment):
    return float(role_tokens(record, ("training",)))


@metric("simulator_tokens", "simulator\ntokens", "{:,.0f}", "sessions.jsonl: tokens of user_simulator")
def simulator_tokens(record, judgment):
    return float(role_tokens(record, ("user_simulator",)))


@metric("judge_tokens", "judge\ntokens", "{:,.0f}", "judgments.jsonl: tokens")
def judge_tokens(record, judgment):
    return None if judgment is None else float(judgment.tokens.prompt + judgment.tokens.completion)


# ---- personalization -------------------------------------------------------------------------------------

@metric("compliance", "compli-\nance", "{:.0%}", "judge: compliance verdicts per agent turn")
def compliance(record, judgment):
    return _compliance_share(judgment)


@metric("checked_compliance", "checked\ncompli.", "{:.0%}",
        "judge: compliance verdicts a checker decided, per agent turn")
def checked_compliance(record, judgment):
    return _compliance_share(judgment, deciders=("checker",))


def _compliance_share(judgment, deciders: tuple[str, ...] | None = None) -> float | None:
    """Mean over agent turns of the share of judged compliance verdicts that were followed, counting only
    the verdicts the given deciders made (None: every judged verdict)."""
    shares = []
    for turn in judgment.turns if judgment else []:
        judged = [v for v in (turn.compliance or {}).get("verdicts", [])
                  if not v.get("unjudged") and (deciders is None or v.get("decided_by") in deciders)]
        if judged:
            shares.append(sum(bool(v.get("satisfied")) for v in judged) / len(judged))
    return sum(shares) / len(shares) if shares else None


@metric("conflict_accuracy", "conflicts\nresolved", "{:.0%}", "judge: conflict verdict on the first reply")
def conflict_accuracy(record, judgment):
    return _verdict_passed(judgment.conflict) if judgment and record.conflict else None


@metric("over_personalization", "over-\npersonal.", "{:.0%}",
        "judge: over-personalization verdicts per agent turn")
def over_personalization(record, judgment):
    judged = [t.over for t in judgment.turns if t.over and not t.over.get("unjudged")] if judgment else []
    return sum(not t.get("passed") for t in judged) / len(judged) if judged else None


def carries(lines: list[str], preference: str) -> bool:
    return any(grounding(preference, line) >= CARRIES for line in lines)


@metric("memory_precision", "memory\nprecision", "{:.0%}",
        "sessions.jsonl: memory_used of the first turn in conflict sessions (card methods)")
def memory_precision(record, judgment):
    conflict = record.conflict
    if conflict is None or "cards" not in record.memory or not conflict.preferences:
        return None
    rival = next(i for i in conflict.triggered if i != conflict.expected)
    used = record.turns[0].memory_used
    return float(carries(used, conflict.preferences[conflict.expected])
                 and not carries(used, conflict.preferences[rival]))
