"""Phase E (``persona``): can a user be told apart from one query? Each test dialogue's first user message
ranked against per-user embedding centroids of the train split, with MiniLM and, when configured, with the
model's own pooled states (hidden.py: the base model, and each global LoRA adapter of phase C)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from attune.orchestrator.study.folder import Study
from attune.orchestrator.study.training import adapter_name
from attune.services.common.files import atomic_write_json


def persona_texts(study: Study) -> tuple[list[str], dict[str, list[str]], list[tuple[str, str]]]:
    """(user ids, each user's train-split messages, (user, first message) of each test dialogue)."""
    said, queries = {}, []
    for user in study.users():
        split = study.splits()[user.user_id]
        train, test = set(split.train), set(split.test)
        said[user.user_id] = [m.text for s in user.sessions if s.session_id in train for m in s.messages
                              if m.role == "user"]
        queries += [(user.user_id, next(m.text for m in s.messages if m.role == "user"))
                    for s in user.sessions if s.session_id in test]
    return [u.user_id for u in study.users()], said, queries


def rank_users(embed: Callable, ids: list[str], said: dict[str, list[str]], queries: list[tuple[str, str]],
               center: bool) -> dict:
    """Each query ranked against per-user centroids of the train messages (cosine). ``center`` subtracts the
    mean train embedding first: a causal LM's pooled states share a large common direction."""
    vectors = {u: embed(said[u]) for u in ids}
    mean = np.concatenate(list(vectors.values())).mean(axis=0) if center else 0.0
    centroids = np.array([_unit(vectors[u].mean(axis=0) - mean) for u in ids])
    asked = embed([q for _, q in queries]) - mean
    asked /= np.linalg.norm(asked, axis=1, keepdims=True)
    return persona_scores([ids.index(u) for u, _ in queries], asked @ centroids.T, ids)


def _unit(vector: np.ndarray) -> np.ndarray:
    return vector / np.linalg.norm(vector)


def embedders(study: Study) -> dict[str, tuple[Callable, bool]]:
    """label -> (embed, whether to center): MiniLM, and when configured the model's own states, base and each
    global LoRA adapter (phase C)."""
    from attune.orchestrator.study.hidden import ModelEmbedder

    out: dict[str, tuple[Callable, bool]] = {"minilm": (study.embedder().embed, False)}
    if study.config.persona_model_embeddings:
        out["smollm2 base"] = (ModelEmbedder(study.common.data_dir).embed, True)
        for arm in study.config.global_adapters:
            adapter = study.adapter_dir() / adapter_name(study, arm, "global")
            if arm.kind == "lora" and study.done("global"):
                out["smollm2 global lora"] = (ModelEmbedder(study.common.data_dir, str(adapter)).embed, True)
    return out


def phase_persona(study: Study) -> dict:
    """Persona prediction with each of the study's embedders; MiniLM's result is the headline."""
    ids, said, queries = persona_texts(study)
    results = {}
    for label, (embed, center) in embedders(study).items():
        study.console.print(f"persona prediction with {label} embeddings")
        results[label] = rank_users(embed, ids, said, queries, center)
    result = {**results["minilm"], "embedders": results}
    atomic_write_json(study.path("persona", "results.json"), result)
    return {"queries": result["queries"], "accuracy_at_1": result["accuracy_at_1"],
            "accuracy_at_5": result["accuracy_at_5"],
            "by_embedder": {k: {"accuracy_at_1": v["accuracy_at_1"], "accuracy_at_5": v["accuracy_at_5"]}
                            for k, v in results.items()}}


def persona_scores(truth: list[int], scores: np.ndarray, ids: list[str]) -> dict:
    """Accuracy@1 and @5 of ranking users by score, the confusion matrix of the top choice, the hardest pairs."""
    ranks = np.argsort(-scores, axis=1)
    top1 = ranks[:, 0]
    confusion = np.zeros((len(ids), len(ids)), dtype=int)
    for true, guess in zip(truth, top1, strict=True):
        confusion[true, guess] += 1
    mixed = [(int(confusion[i, j]), ids[i], ids[j]) for i in range(len(ids)) for j in range(len(ids))
             if i != j and confusion[i, j]]
    return {"queries": len(truth), "users": ids,
            "accuracy_at_1": float(np.mean(top1 == np.array(truth))) if truth else 0.0,
            "accuracy_at_5": float(np.mean([t in r[:5] for t, r in zip(truth, ranks, strict=True)])) if truth else 0.0,
            "chance_at_1": 1 / len(ids), "confusion": confusion.tolist(),
            "hardest_pairs": [{"user": a, "taken_for": b, "times": n} for n, a, b in sorted(mixed, reverse=True)[:10]]}
