"""Phase C (``global``): LoRA and prefix adapters trained on all training users' train split (early stopping
on validation ROUGE-L), scored like the baseline (the external test too), with per-user and macro deltas against
it."""

from __future__ import annotations

import json
from pathlib import Path

from attune.orchestrator.study import evaluate
from attune.orchestrator.study.config import AdapterArm
from attune.orchestrator.study.examples import examples_for, write_rows
from attune.orchestrator.study.external import score_external
from attune.orchestrator.study.folder import Study, arm_scores, training_users
from attune.orchestrator.study.replies import generate_replies, score, test_examples
from attune.orchestrator.study.training import adapter_name, train_arm
from attune.services.common.files import atomic_write_json


async def phase_global(study: Study) -> dict:
    rows, val = training_rows(study)
    base_users = arm_scores(study, "baseline", "per_user.json")
    results = {}
    for arm in study.config.global_adapters:
        results[arm.kind] = await global_arm(study, arm, rows, val, base_users)
    return results


def training_rows(study: Study) -> tuple[Path, Path]:
    """Trainer rows of every training user's train split, and of their validation split (early stopping)."""
    user_splits, baseline = study.splits(), study.baseline()
    users = training_users(study)
    folder = study.path("global")
    rows = write_rows(examples_for(users, {u.user_id: user_splits[u.user_id].train for u in users}, baseline),
                      folder / "train.jsonl")
    val = write_rows(examples_for(users, {u.user_id: user_splits[u.user_id].val for u in users}, baseline),
                     folder / "val.jsonl")
    return rows, val


async def global_arm(study: Study, arm: AdapterArm, rows: Path, val: Path, base_users: dict) -> dict:
    """One global adapter trained, scored on every user's test replies, and its deltas against the baseline."""
    name = adapter_name(study, arm, "global")
    training = await train_arm(study, arm, name, rows, val)
    arm_folder = study.path("global", arm.kind)
    replies = await generate_replies(study, test_examples(study), name, arm_folder / "replies.jsonl",
                                     f"{arm.kind} replies")
    macro = score(study, replies, arm_folder)
    deltas = per_user_deltas(json.loads((arm_folder / "per_user.json").read_text()), base_users)
    atomic_write_json(arm_folder / "deltas.json", deltas)
    external = await score_external(study, name, arm_folder, f"{arm.kind} external replies")
    return {"adapter": name, "steps": training["steps"], "best_val_rouge_l": training["best_rouge_l"],
            "macro": macro, "macro_delta": evaluate.macro(deltas), **({"external_macro": external} if external else {})}


def per_user_deltas(arm: dict[str, dict[str, float]], base: dict[str, dict[str, float]]) -> dict:
    """arm minus baseline, per user and metric, over the users both have."""
    return {u: {m: arm[u][m] - base[u][m] for m in evaluate.METRICS} for u in sorted(arm.keys() & base.keys())}
