"""Phase B (``baseline``): the base model with the versioned neutral prompt, scored on every user's test
replies (and on the external test, where the config has one); the reference every adapter is measured
against."""

from __future__ import annotations

from attune.orchestrator.study.external import score_external
from attune.orchestrator.study.folder import Study
from attune.orchestrator.study.replies import generate_replies, score, test_examples


async def phase_baseline(study: Study) -> dict:
    folder = study.path("baseline")
    replies = await generate_replies(study, test_examples(study), "", folder / "replies.jsonl", "baseline replies")
    macro = score(study, replies, folder)
    external = await score_external(study, "", folder, "baseline external replies")
    return {"replies": len(replies), "macro": macro, **({"external_macro": external} if external else {})}
