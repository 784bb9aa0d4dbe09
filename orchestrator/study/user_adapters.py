"""Phase D (``users``): per training user, a micro-update of the global adapter (or a fresh one) on that
user's online slice under a token budget, scored on that user's test replies, with its lift over the
baseline and the global adapter and the size of the update against the lift it brought.

With ``cluster_adapters``, per style cluster (phase A's k-means) the global LoRA
updated on its members' online slices, and a tiny per-user delta on top of it.
The budget ablation (ablations.py) makes its updates here too.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from attune.orchestrator.study import evaluate
from attune.orchestrator.study.config import AdapterArm
from attune.orchestrator.study.data import User
from attune.orchestrator.study.examples import Example, examples_for, write_rows
from attune.orchestrator.study.folder import Study, arm_scores, training_users
from attune.orchestrator.study.replies import generate_replies, score
from attune.orchestrator.study.training import adapter_name, global_adapter, train_arm
from attune.services.common.files import atomic_write_json


def online_examples(study: Study, users: list[User]) -> list[Example]:
    return examples_for(users, {u.user_id: study.splits()[u.user_id].online for u in users}, study.baseline())


def user_tests(study: Study, user: User, per_user: int | None = None) -> list[Example]:
    per_user = study.config.eval_replies_per_user if per_user is None else per_user
    return examples_for([user], {user.user_id: study.splits()[user.user_id].test}, study.baseline(), per_user)


async def update_and_score(study: Study, name: str, examples: list[Example], folder: Path, *, init: str,
                           epochs: int, token_budget: int, scope: str, scope_id: str,
                           tests: list[Example]) -> dict:
    """A micro-update of ``init`` (or a fresh adapter) on ``examples``, scored on ``tests``: what every
    per-user and cluster update of phase D (and the budget ablation) does."""
    settings = study.config.user_adapters
    data = write_rows(examples, folder / "online.jsonl")
    params = {"batch_size": settings.batch_size, "token_budget": token_budget, "init_adapter": init}
    arm = AdapterArm(kind=settings.kind, learning_rate=settings.learning_rate, params=params,
                     max_steps=math.ceil(epochs * len(examples) / settings.batch_size))
    training = await train_arm(study, arm, name, data, None, scope=scope, scope_id=scope_id)
    replies = await generate_replies(study, tests, name, folder / "replies.jsonl", f"{name} replies")
    return {"scores": score(study, replies, folder), "steps": training["steps"], "tokens": training["tokens"],
            "examples": training["examples"], "delta_norm": training["delta_norm"], "seconds": training["seconds"],
            "peak_rss_mib": training["peak_rss_mib"]}


async def phase_users(study: Study) -> dict:
    """A per-user adapter for each training user; lift against the baseline and the global adapter; then,
    when configured, cluster adapters with user deltas on top."""
    settings = study.config.user_adapters
    users = training_users(study)
    users = users[:settings.users] if settings.users else users
    global_scores = arm_scores(study, "global", settings.kind, "per_user.json")
    rows = await user_level(study, users, global_scores)
    atomic_write_json(study.path("users", "per_user.json"), rows)
    summary = {"users": len(rows), "kind": settings.kind, "start": settings.start,
               **helped_and_hurt(rows, "lift_vs_global", "vs_global"),
               "macro_lift_vs_baseline": _macro_of(rows, "lift_vs_baseline"),
               "macro_lift_vs_global": _macro_of(rows, "lift_vs_global"),
               "drift_lift_spearman": drift_lift(rows, "lift_vs_global"),
               "update_seconds_mean": float(np.mean([r["seconds"] for r in rows.values()])) if rows else None,
               "update_peak_rss_mib_max": max((r["peak_rss_mib"] for r in rows.values()), default=None)}
    if study.config.cluster_adapters is not None:
        summary["clusters"] = await cluster_level(study, users, global_scores)
    return summary


async def user_level(study: Study, users: list[User], global_scores: dict) -> dict:
    """Per user, the update of the global adapter (or a fresh one) and its lift over the baseline and it."""
    settings = study.config.user_adapters
    init = global_adapter(study, settings.kind) if settings.start == "global" else ""
    base_scores = arm_scores(study, "baseline", "per_user.json")
    rows = {}
    for user in users:
        result = await update_and_score(
            study, adapter_name(study, AdapterArm(kind=settings.kind), f"user-{user.user_id}"),
            online_examples(study, [user]), study.path("users", user.user_id), init=init, epochs=settings.epochs,
            token_budget=settings.token_budget, scope="user", scope_id=user.user_id, tests=user_tests(study, user))
        rows[user.user_id] = {**result, "lift_vs_baseline": _lift(result["scores"], base_scores.get(user.user_id)),
                              "lift_vs_global": _lift(result["scores"], global_scores.get(user.user_id))}
    return rows


async def cluster_level(study: Study, users: list[User], global_scores: dict) -> dict:
    """Per style cluster (phase A's k-means), the global LoRA updated on its members' online slices; each
    member scored with it, then with a tiny delta of their own on top."""
    cluster_map = json.loads(study.path("data", "clusters.json").read_text())["cluster_map"]
    members: dict[int, list[User]] = {}
    for user in users:
        members.setdefault(cluster_map[user.user_id], []).append(user)
    rows = {}
    for cluster, group in sorted(members.items()):
        rows |= await cluster_rows(study, cluster, group, global_scores)
    atomic_write_json(study.path("users", "clusters", "per_user.json"), rows)
    return {"clusters": len(members), "users": len(rows),
            **helped_and_hurt(rows, "lift_vs_cluster", "by_user_delta"),
            "macro_cluster_lift_vs_global": _macro_of(rows, "cluster_lift_vs_global"),
            "macro_lift_vs_global": _macro_of(rows, "lift_vs_global"),
            "drift_lift_spearman": drift_lift(rows, "lift_vs_cluster")}


async def cluster_rows(study: Study, cluster: int, group: list[User], global_scores: dict) -> dict:
    """One cluster's adapter, then each member's delta on top of it, with their lifts."""
    cfg, kind = study.config.cluster_adapters, "lora"
    folder = study.path("users", "clusters", f"cluster-{cluster}")
    name = adapter_name(study, AdapterArm(kind=kind), f"cluster-{cluster}")
    trained = await update_and_score(study, name, online_examples(study, group), folder,
                                     init=global_adapter(study, kind), epochs=cfg.epochs,
                                     token_budget=cfg.token_budget, scope="cluster", scope_id=str(cluster),
                                     tests=[e for u in group for e in user_tests(study, u)])
    cluster_users = json.loads((folder / "per_user.json").read_text())
    rows = {}
    for user in group:
        uid = user.user_id
        delta = await update_and_score(
            study, adapter_name(study, AdapterArm(kind=kind), f"cluster-user-{uid}"),
            online_examples(study, [user]), folder / uid, init=str(study.adapter_dir() / name),
            epochs=cfg.user_epochs, token_budget=cfg.user_token_budget, scope="user", scope_id=uid,
            tests=user_tests(study, user))
        rows[uid] = {**delta, "cluster": cluster, "cluster_members": len(group),
                     "cluster_scores": cluster_users[uid], "cluster_delta_norm": trained["delta_norm"],
                     "lift_vs_cluster": _lift(delta["scores"], cluster_users[uid]),
                     "cluster_lift_vs_global": _lift(cluster_users[uid], global_scores.get(uid)),
                     "lift_vs_global": _lift(delta["scores"], global_scores.get(uid))}
    return rows


def helped_and_hurt(rows: dict, lift: str, label: str) -> dict:
    values = [r[lift]["rouge_l"] for r in rows.values() if r[lift]]
    return {f"helped_{label}": sum(x > 0 for x in values), f"hurt_{label}": sum(x < 0 for x in values)}


def _macro_of(rows: dict, lift: str) -> dict:
    return evaluate.macro({u: r[lift] for u, r in rows.items() if r[lift]})


def drift_lift(rows: dict, lift: str) -> dict | None:
    """Spearman correlation of the update's size (L2 of the weight change) with its ROUGE-L lift."""
    from scipy import stats

    pairs = [(r["delta_norm"], r[lift]["rouge_l"]) for r in rows.values() if r[lift]]
    if len(pairs) < 3 or not np.ptp([d for d, _ in pairs]) or not np.ptp([x for _, x in pairs]):
        return None
    rho = stats.spearmanr(*zip(*pairs, strict=True))
    return {"rho": float(rho.statistic), "p": float(rho.pvalue)}


def _lift(scores: dict[str, float], reference: dict[str, float] | None) -> dict[str, float]:
    return {m: scores[m] - reference[m] for m in evaluate.METRICS} if reference else {}
