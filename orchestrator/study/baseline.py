"""Phase B (``baseline``): the base model with the versioned neutral prompt, scored on every user's test
replies; the reference every adapter is measured against."""

from __future__ import annotations

from attune.orchestrator.study.folder import Study
from attune.orchestrator.study.replies import generate_replies, score, test_examples


async def phase_baseline(study: Study) -> dict:
    folder = study.path("baseline")
    replies = await generate_replies(study, test_examples(study), "", folder / "replies.jsonl", "baseline replies")
    return {"replies": len(replies), "macro": score(study, replies, folder)}
