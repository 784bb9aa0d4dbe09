"""Phase F (``ablations``): each factor's values trained alike and scored on the same users' test replies:
LoRA target modules and prefix length (global adapters on phase C's rows), and the online budget of a
per-user update (phase D's micro-update on the first examples of the user's online slice)."""

from __future__ import annotations

import numpy as np

from attune.orchestrator.study import evaluate
from attune.orchestrator.study.config import AdapterArm
from attune.orchestrator.study.data import User
from attune.orchestrator.study.examples import Example
from attune.orchestrator.study.folder import Study, training_users
from attune.orchestrator.study.replies import generate_replies, score
from attune.orchestrator.study.training import global_adapter, train_arm
from attune.orchestrator.study.user_adapters import online_examples, update_and_score, user_tests
from attune.services.common.files import atomic_write_json


def ablation_arms(study: Study) -> list[tuple[str, str, AdapterArm]]:
    """(factor, value, global arm) for the LoRA target and prefix length ablations."""
    cfg = study.config.ablations
    arms = [("lora_targets", "_".join(t.removesuffix("_proj") for t in targets),
             AdapterArm(kind="lora", max_steps=cfg.max_steps, params={"target_modules": targets}))
            for targets in cfg.lora_targets]
    arms += [("prefix_length", str(length),
              AdapterArm(kind="prefix", max_steps=cfg.max_steps, params={"num_virtual_tokens": length}))
             for length in cfg.prefix_lengths]
    return arms


async def phase_ablations(study: Study) -> dict:
    """Every factor's rows, written to results.json; a config without ablations skips the phase."""
    cfg = study.config.ablations
    if cfg is None:
        return {"skipped": "the config names no ablations"}
    users = training_users(study)[:cfg.users]
    tests = [e for u in users for e in user_tests(study, u, cfg.eval_replies_per_user)]
    rows = [await arm_row(study, factor, value, arm, users, tests) for factor, value, arm in ablation_arms(study)]
    rows += [await budget_row(study, budget, users) for budget in cfg.online_budgets]
    atomic_write_json(study.path("ablations", "results.json"), rows)
    return {"arms": len(rows), "users": len(users), "factors": sorted({r["factor"] for r in rows})}


async def arm_row(study: Study, factor: str, value: str, arm: AdapterArm, users: list[User],
                  tests: list[Example]) -> dict:
    """One global arm trained on phase C's rows and scored on the ablation users' test replies."""
    name = f"{study.config.name}-ablation-{arm.kind}-{factor}-{value}"
    folder = study.path("ablations", factor, value)
    training = await train_arm(study, arm, name, study.path("global", "train.jsonl"),
                               study.path("global", "val.jsonl"))
    replies = await generate_replies(study, tests, name, folder / "replies.jsonl", f"{factor} {value} replies")
    return {"factor": factor, "value": value, "users": len(users), "macro": score(study, replies, folder),
            "steps": training["steps"], "seconds": training["seconds"], "best_val_rouge_l": training["best_rouge_l"]}


async def budget_row(study: Study, budget: int, users: list[User]) -> dict:
    """Each user's update of the global LoRA on the first ``budget`` examples of their online slice."""
    cfg = study.config.ablations
    folder = study.path("ablations", "online_budget", str(budget))
    updates = {}
    for user in users:
        updates[user.user_id] = await update_and_score(
            study, f"{study.config.name}-ablation-budget-{budget}-{user.user_id}",
            online_examples(study, [user])[:budget], folder / user.user_id, init=global_adapter(study, "lora"),
            epochs=study.config.user_adapters.epochs, token_budget=0, scope="user", scope_id=user.user_id,
            tests=user_tests(study, user, cfg.eval_replies_per_user))
    return {"factor": "online_budget", "value": str(budget), "users": len(updates),
            "macro": evaluate.macro({u: r["scores"] for u, r in updates.items()}),
            "steps": int(np.mean([r["steps"] for r in updates.values()])),
            "seconds": float(np.mean([r["seconds"] for r in updates.values()])),
            "examples": int(np.mean([r["examples"] for r in updates.values()]))}
