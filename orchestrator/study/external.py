"""The external test: real EdgeWisePersona cold-start dialogues that no adapter trained on.

attune ships 200 of them (corpora/edgewise_cold_start.jsonl, CC BY 4.0, see
edgewise_cold_start.LICENSE): one per persona, the first test session cut to
its first 5 messages, as ``{"persona_id", "dialogue_idx", "messages": [{role,
text}]}``. Every assistant message is a reference; its prompt is the baseline's
system prompt (the dialogues have no ``meta``, so no conditions line) and the
messages before it. The baseline (phase B) and each global adapter (phase C)
are scored on them like on the study's own test replies (evaluate.py); a
persona is a user of the statistics. Its verbosity target is the mean words of
its own references, since a cold-start persona has no train split.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from pydantic import Field

from attune.orchestrator.study import evaluate
from attune.orchestrator.study.config import ExternalTest
from attune.orchestrator.study.data import Message, Model, StudyDataError, _lines, _parse
from attune.orchestrator.study.examples import Baseline, Example
from attune.orchestrator.study.folder import Study
from attune.services.common.files import user_or_shipped

FOLDER = "external"


class ColdStartDialogue(Model):
    persona_id: str = Field(min_length=1)
    dialogue_idx: int = Field(ge=0)
    messages: list[Message] = Field(min_length=1)


def load_cold_start(path: str | Path) -> list[ColdStartDialogue]:
    """Every dialogue of a cold-start file (a path, or a shipped name: ``edgewise_cold_start``), checked: a line
    that is not JSON or does not validate is refused with the file, line and field, as is a repeated dialogue."""
    path = user_or_shipped(path, "attune.orchestrator.study", "corpora", ".jsonl")
    if not path.is_file():
        raise StudyDataError(f"external test {path} does not exist (a path, or the shipped edgewise_cold_start)")
    dialogues, seen = [], set()
    for number, data in _lines(path):
        dialogue = _parse(ColdStartDialogue, data, path, number)
        key = (dialogue.persona_id, dialogue.dialogue_idx)
        if key in seen:
            raise StudyDataError(f"{path}: line {number}: dialogue {key[1]} of {key[0]} repeats")
        seen.add(key)
        dialogues.append(dialogue)
    if not dialogues:
        raise StudyDataError(f"{path}: holds no dialogue")
    return dialogues


def external_examples(dialogues: list[ColdStartDialogue], baseline: Baseline) -> list[Example]:
    """Each assistant message with the baseline's system prompt and the messages before it."""
    out = []
    for d in dialogues:
        history = [{"role": "system", "content": baseline.system_prompt}]
        for turn, message in enumerate(d.messages):
            if message.role == "assistant" and len(history) > 1:
                out.append(Example(d.persona_id, d.dialogue_idx, turn, list(history), message.text))
            history.append({"role": message.role, "content": message.text})
    return out


def usual_lengths(examples: list[Example]) -> dict[str, float]:
    """Per persona, the mean words of its references (its verbosity target; it has no train split)."""
    lengths: dict[str, list[int]] = {}
    for e in examples:
        lengths.setdefault(e.user_id, []).append(evaluate.word_count(e.reference))
    return {user: float(np.mean(values)) for user, values in lengths.items()}


def study_examples(config: ExternalTest, baseline: Baseline) -> list[Example]:
    """The config's share of the external test: its first ``dialogues``, each its first ``replies_per_dialogue``
    replies (0: all)."""
    dialogues = load_cold_start(config.file)
    examples = external_examples(dialogues[:config.dialogues] if config.dialogues else dialogues, baseline)
    if config.replies_per_dialogue:
        counts: dict[tuple[str, int], int] = {}
        kept = []
        for e in examples:
            n = counts[(e.user_id, e.session_id)] = counts.get((e.user_id, e.session_id), 0) + 1
            if n <= config.replies_per_dialogue:
                kept.append(e)
        examples = kept
    return examples


async def score_external(study: Study, adapter: str, folder: Path, label: str) -> dict | None:
    """Replies of ``adapter`` ("" the baseline) to the external test, scored under ``folder``/external; the
    macro scores, or None without an external test in the config."""
    from attune.orchestrator.study.replies import generate_replies, score

    if study.config.external_test is None:
        return None
    examples = study_examples(study.config.external_test, study.baseline())
    out = folder / FOLDER
    replies = await generate_replies(study, examples, adapter, out / "replies.jsonl", label)
    return score(study, replies, out, usual_lengths(examples))
