"""``attune plan``: what an experiment will cost before it runs: sessions, tokens by role, time.

Tokens per session and role come from a finished run (``--from runs/x``: the
mean per method and role of its sessions and judgments, scaled to this
experiment's expected turns) or, without one, from the per-turn figures below,
which follow the prompt sizes of the embedded default (a system prompt, the
memory block, the history and a reply of ``max_reply_tokens``). Time is total
tokens over the given tokens per second (the model service's throughput, all
roles sharing it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from attune.orchestrator.benchmark.experiment import Experiment

# Per agent turn without a measured run: prompt tokens (before history and memory) and the memory block a
# method adds; completions are the experiment's reply and simulator budgets.
BASE_PROMPT = {"agent": 150, "user_simulator": 400, "judge": 450}
MEMORY_PROMPT = {"vanilla": 0, "contextual": 1024, "reflection": 200, "reflection_grpo": 200, "all_memory": 300,
                 "rag": 120, "rag_vector": 120}
EXTRACTOR_TOKENS = {"all_memory": 350, "rag": 350, "rag_vector": 350}
# Note writing or summarizing after each session.
UPKEEP_TOKENS = {"contextual": 500, "reflection": 600, "reflection_grpo": 600}
# lora_user retrains its adapter after each session on up to max_rows accepted replies, each one agent prompt.
TRAINING_METHODS = ("lora_user",)
JUDGE_CALLS_PER_TURN = 2  # compliance and over-personalization; task and conflict once per session
JUDGE_COMPLETION = 80


@dataclass
class Plan:
    sessions: int
    turns_per_session: float
    tokens: dict[str, float] = field(default_factory=dict)  # role -> total tokens
    source: str = "built-in per-turn figures"

    @property
    def total_tokens(self) -> float:
        return sum(self.tokens.values())

    def hours(self, tokens_per_second: float) -> float:
        return self.total_tokens / tokens_per_second / 3600


def expected_turns(exp: Experiment) -> float:
    """Without a measured run: sessions end by the simulator about half way to max_turns, at least one turn."""
    return max(1.0, min(exp.max_turns, 1 + exp.max_turns / 2))


def session_tokens(exp: Experiment, method: str, turns: float) -> dict[str, float]:
    """Estimated tokens of one session of ``method`` by role (built-in figures)."""
    reply, sim = exp.method_settings.max_reply_tokens, exp.simulator.max_tokens
    history = turns * (reply + 60) / 2  # the history grows through the session
    tokens = {
        "agent": turns * (BASE_PROMPT["agent"] + MEMORY_PROMPT.get(method, 0) + history + reply),
        "user_simulator": turns * (BASE_PROMPT["user_simulator"] + history + sim),
        "judge": (turns * JUDGE_CALLS_PER_TURN + 2) * (BASE_PROMPT["judge"] + reply + JUDGE_COMPLETION),
    }
    if method in EXTRACTOR_TOKENS:
        tokens["extractor"] = turns * EXTRACTOR_TOKENS[method]
    if method in UPKEEP_TOKENS:
        tokens["memory"] = UPKEEP_TOKENS[method]
    if method in TRAINING_METHODS:
        settings = exp.method_settings
        rows = min(settings.lora_user_max_rows, turns * exp.n_sessions / 2)  # rows grow over the sessions
        tokens["training"] = settings.lora_user_epochs * rows * (BASE_PROMPT["agent"] + history + reply)
    return tokens


def plan(exp: Experiment, measured: dict[str, dict[str, float]] | None = None, turns: float | None = None) -> Plan:
    """The plan of ``exp``; ``measured`` is tokens per agent turn by method and role (from a finished run)."""
    per_method = exp.n_profiles * exp.n_sessions
    turns = turns or expected_turns(exp)
    result = Plan(sessions=per_method * len(exp.methods), turns_per_session=turns)
    if measured:
        result.source = "measured per turn, times the expected turns"
    for method in exp.methods:
        per_turn = (measured or {}).get(method)
        roles = {r: t * turns for r, t in per_turn.items()} if per_turn else session_tokens(exp, method, turns)
        for role, count in roles.items():
            result.tokens[role] = result.tokens.get(role, 0.0) + count * per_method
    if not exp.judge.enabled:
        result.tokens.pop("judge", None)
    return result


def measured_tokens(run_dir: Path) -> dict[str, dict[str, float]]:
    """Tokens per agent turn by method and role in a finished run (judge tokens from its judgments)."""
    from attune.orchestrator.benchmark.summary import run_pairs

    sums: dict[str, dict[str, float]] = {}
    counts: dict[str, int] = {}
    for record, judgment in run_pairs(run_dir):
        roles = sums.setdefault(record.method, {})
        counts[record.method] = counts.get(record.method, 0) + len(record.turns)
        for role, c in record.tokens.items():
            roles[role] = roles.get(role, 0.0) + c.prompt + c.completion
        if judgment is not None:
            roles["judge"] = roles.get("judge", 0.0) + judgment.tokens.prompt + judgment.tokens.completion
    return {m: {role: total / counts[m] for role, total in roles.items()} for m, roles in sums.items()}
