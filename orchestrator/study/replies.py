"""Replies generated through the model service and scored against the references: what every phase that
evaluates an arm (baseline, global, users, ablations) does.

Replies are appended to a JSONL log as they come, so a resumed phase asks only
for the missing ones; the scores (evaluate.py) are written per reply, per user
and macro beside them.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from attune.orchestrator.report.collect import lines
from attune.orchestrator.study import evaluate
from attune.orchestrator.study.examples import Example, examples_for
from attune.orchestrator.study.folder import Study
from attune.services.common.files import atomic_write_json
from attune.services.common.jsonl import append_jsonl, write_jsonl


def test_examples(study: Study) -> list[Example]:
    return examples_for(study.users(), {u: s.test for u, s in study.splits().items()}, study.baseline(),
                        study.config.eval_replies_per_user)


async def generate_replies(study: Study, examples: list[Example], adapter: str, path: Path, label: str) -> list[dict]:
    """Replies to every example (greedy, the baseline's settings), appended to ``path`` as they come, so a
    resumed phase asks only for the missing ones."""
    from attune.services.model.client import chat_request

    done = {row["key"]: row for _, _, row in lines(path)}  # a torn last line (a kill mid-write) is skipped
    if path.exists():  # drop a torn last line before appending after it
        write_jsonl(path, done.values())
    todo = [e for e in examples if e.key not in done]
    baseline, gate = study.baseline(), asyncio.Semaphore(study.config.concurrency)
    path.parent.mkdir(parents=True, exist_ok=True)
    with _progress(study.console) as progress:
        task = progress.add_task(label, total=len(examples), completed=len(examples) - len(todo))

        async def one(example: Example) -> None:
            async with gate:
                request = chat_request([(m["role"], m["content"]) for m in example.messages],
                                       max_tokens=baseline.max_new_tokens, temperature=baseline.temperature,
                                       adapter=adapter, caller_role="agent", method=f"study-{adapter or 'baseline'}")
                reply = await study.services.model.chat(request)
            row = {"key": example.key, "user_id": example.user_id, "session_id": example.session_id,
                   "reply": reply.text.strip(), "reference": example.reference}
            append_jsonl(path, row)
            done[example.key] = row
            progress.advance(task)

        await asyncio.gather(*(one(e) for e in todo))
    return [done[e.key] for e in examples]


def _progress(console: Console) -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    console=console)


def score(study: Study, replies: list[dict], folder: Path, usual_lengths: dict[str, float] | None = None) -> dict:
    """Scores per reply, per user and macro, written under ``folder``; returns the macro scores. The verbosity
    target is each user's mean reply length in train, or ``usual_lengths`` where given."""
    scored = evaluate.score_replies(replies, usual_lengths or study.usual_lengths(), study.embedder())
    users = evaluate.per_user(scored)
    write_jsonl(folder / "scored.jsonl", scored)
    atomic_write_json(folder / "per_user.json", users)
    macro = evaluate.macro(users)
    atomic_write_json(folder / "macro.json", macro)
    return macro
