"""``attune study edgewise``: the adapter study as resumable phases writing under one study folder.

Phases, in order (each skipped when its ``done.json`` exists, so a killed study
resumes at the phase it was in; replies already generated are kept too):

- ``data`` (A): load or generate the corpus, clean it, split each user's
  sessions in time order, validate and describe the split, set aside held-out
  users (the cold-start set), user style features and k-means clusters;
- ``baseline`` (B): the base model with the versioned neutral prompt, scored on
  every user's test replies;
- ``global`` (C): LoRA and prefix adapters trained as trainer jobs on all
  training users' train split (early stopping on validation ROUGE-L), scored
  like the baseline, with per-user and macro deltas;
- ``users`` (D): per training user, a micro-update of the global adapter (or a
  fresh one) on that user's online slice under a token budget, scored on that
  user's test replies; the size of the update against the lift it brought;
  with ``cluster_adapters``, per style cluster the global LoRA updated on its
  members' online slices, and a tiny per-user delta on top of it;
- ``persona`` (E): each test dialogue's first user message ranked against
  per-user embedding centroids of the train split, with MiniLM and with the
  model's own pooled states (base, and each global LoRA adapter);
- ``ablations`` (F): LoRA target modules and prefix lengths (global adapters
  trained alike) and the online budget of a per-user update, each scored on the
  same users' test replies;
- ``analysis`` (F): every arm against the baseline over users (analysis.py),
  plots, a recommendation by an explicit rule, REPORT.md, REPRODUCIBILITY.md,
  and a row per arm in the study's experiments.csv. It runs again whenever asked
  for (it is cheap), so the report follows the phases done so far.
"""

from __future__ import annotations

import asyncio
import json
import math
import random
from collections.abc import Callable
from contextlib import AsyncExitStack
from pathlib import Path

import numpy as np
import yaml
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from attune.orchestrator.report.collect import lines
from attune.orchestrator.study import PHASES, evaluate, features, splits
from attune.orchestrator.study.config import AdapterArm, StudyConfig
from attune.orchestrator.study.data import StudyDataError, User, load_folder, load_hub, write_folder
from attune.orchestrator.study.examples import Baseline, Example, examples_for, load_baseline, write_rows
from attune.orchestrator.study.generate import generate_corpus
from attune.services.common.files import atomic_write_json, atomic_write_text
from attune.services.common.logging import get_logger
from attune.services.common.settings import CommonSettings

log = get_logger(__name__)

FOLDERS = {"data": "a_data", "baseline": "b_baseline", "global": "c_global", "users": "d_users",
           "persona": "e_persona", "ablations": "f_ablations", "analysis": "f_analysis"}
DONE = "done.json"
TRAIN_TIMEOUT_S = 6 * 3600


class Study:
    """One study folder: its config, its phases' outputs, and the services the phases use."""

    def __init__(self, config: StudyConfig, folder: Path, common: CommonSettings, console: Console | None = None):
        self.config, self.folder, self.common = config, folder, common
        self.console = console or Console(stderr=True)
        self.services = None
        self._users: list[User] | None = None
        self._splits: dict[str, splits.UserSplit] | None = None
        self._embedder = None
        self._usual: dict[str, float] | None = None

    def path(self, phase: str, *parts: str) -> Path:
        return self.folder.joinpath(FOLDERS[phase], *parts)

    def done(self, phase: str) -> bool:
        return self.path(phase, DONE).exists()

    def finish(self, phase: str, summary: dict) -> None:
        atomic_write_json(self.path(phase, DONE), summary)

    # ---- what phase A left (read once per run) ---------------------------------

    def users(self) -> list[User]:
        if self._users is None:
            self._users = load_folder(self.path("data", "corpus"))
        return self._users

    def splits(self) -> dict[str, splits.UserSplit]:
        if self._splits is None:
            raw = json.loads(self.path("data", "splits.json").read_text())
            self._splits = {user: splits.UserSplit(**parts) for user, parts in raw.items()}
        return self._splits

    def usual_lengths(self) -> dict[str, float]:
        """Each user's mean words per assistant reply in train: the target of the verbosity error."""
        if self._usual is None:
            lengths: dict[str, list[int]] = {}
            for example in examples_for(self.users(), {u: s.train for u, s in self.splits().items()},
                                        self.baseline()):
                lengths.setdefault(example.user_id, []).append(evaluate.word_count(example.reference))
            self._usual = {user: float(np.mean(values)) for user, values in lengths.items()}
        return self._usual

    def embedder(self):
        from attune.services.common.embeddings import Embedder

        if self._embedder is None:
            self._embedder = Embedder()
        return self._embedder

    def adapter_dir(self) -> Path:
        """Where the trainer publishes adapters (and the model service finds them)."""
        from attune.services.trainer.settings import TrainerSettings

        return TrainerSettings().resolved_adapter_dir(self.common.data_dir)

    def held_out(self) -> list[str]:
        return json.loads(self.path("data", "held_out.json").read_text())

    def baseline(self) -> Baseline:
        return load_baseline(self.config.baseline)


def check_folder(config: StudyConfig, folder: Path) -> None:
    """Write the config beside the results; a different one already there is refused. A key the stored config
    lacks (written before that setting existed) must hold its default."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "config.yaml"
    current = config.model_dump(mode="json")
    if path.exists():
        stored = yaml.safe_load(path.read_text()) or {}
        defaults = StudyConfig(name=config.name).model_dump(mode="json")
        changed = sorted(k for k, v in current.items() if stored.get(k, defaults[k]) != v)
        if changed:
            raise StudyDataError(f"{folder} holds a study with another config (differs in: {', '.join(changed)}); "
                                 f"use another --out")
        return
    atomic_write_text(path, yaml.safe_dump(current, sort_keys=False))


# ---- phase A ------------------------------------------------------------------

def load_corpus(config: StudyConfig) -> list[User]:
    data = config.data
    if data.source == "generate":
        return generate_corpus(data.users, data.sessions, config.seed)
    if data.source == "hub":
        return load_hub()
    return load_folder(data.folder)


def phase_data(study: Study) -> dict:
    config = study.config
    users, cleaning = splits.clean(load_corpus(config), config.split.min_sessions)
    log.info("study.cleaned", **cleaning)
    if config.data.splits_file:
        user_splits = splits.load_split_file(Path(config.data.splits_file), users, config.data.sessions_per_user)
        users = [u for u in users if u.user_id in user_splits]
    else:
        user_splits = splits.split_users(users, config.split.train, config.split.val, config.split.online)
    validation = splits.validate(user_splits, config.split.minimum_per_split)
    bad = {check: result["errors"] for check, result in validation.items() if not result["valid"]}
    if bad:
        raise StudyDataError(f"the split fails its checks: {bad}")
    order = sorted(u.user_id for u in users)
    random.Random(config.seed).shuffle(order)
    held_out = sorted(order[:int(len(order) * config.split.held_out_users)])
    styles = features.user_styles(users, {u: s.train for u, s in user_splits.items()})
    cluster_map, silhouette = features.clusters(styles, config.clusters, config.seed)
    out = study.path("data")
    write_folder(users, out / "corpus")
    atomic_write_json(out / "splits.json", splits.as_json(user_splits))
    for name, value in (("cleaning", cleaning), ("validation", validation),
                        ("statistics", splits.statistics(user_splits)), ("held_out", held_out), ("styles", styles),
                        ("clusters", {"k": config.clusters, "silhouette": silhouette, "cluster_map": cluster_map})):
        atomic_write_json(out / f"{name}.json", value)
    cold = splits.cold_start(users, user_splits, held_out, config.split.cold_start_messages)
    atomic_write_text(out / "cold_start.jsonl", "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in cold))
    return {"users": len(users), "held_out": len(held_out), "cleaning": cleaning}


# ---- phases B and C: generate and score -----------------------------------------

def test_examples(study: Study) -> list[Example]:
    return examples_for(study.users(), {u: s.test for u, s in study.splits().items()}, study.baseline(),
                        study.config.eval_replies_per_user)


async def generate_replies(study: Study, examples: list[Example], adapter: str, path: Path, label: str) -> list[dict]:
    """Replies to every example (greedy, the baseline's settings), appended to ``path`` as they come, so a
    resumed phase asks only for the missing ones."""
    from attune.services.model.client import chat_request

    done = {row["key"]: row for _, _, row in lines(path)}  # a torn last line (a kill mid-write) is skipped
    if path.exists():  # drop a torn last line before appending after it
        atomic_write_text(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in done.values()))
    todo = [e for e in examples if e.key not in done]
    baseline, gate = study.baseline(), asyncio.Semaphore(study.config.concurrency)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as log_file, _progress(study.console) as progress:
        task = progress.add_task(label, total=len(examples), completed=len(examples) - len(todo))

        async def one(example: Example) -> None:
            async with gate:
                request = chat_request([(m["role"], m["content"]) for m in example.messages],
                                       max_tokens=baseline.max_new_tokens, temperature=baseline.temperature,
                                       adapter=adapter, caller_role="agent", method=f"study-{adapter or 'baseline'}")
                reply = await study.services.model.chat(request)
            row = {"key": example.key, "user_id": example.user_id, "session_id": example.session_id,
                   "reply": reply.text.strip(), "reference": example.reference}
            log_file.write(json.dumps(row, ensure_ascii=False) + "\n")
            log_file.flush()
            done[example.key] = row
            progress.advance(task)

        await asyncio.gather(*(one(e) for e in todo))
    return [done[e.key] for e in examples]


def _progress(console: Console) -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    console=console)


def score(study: Study, replies: list[dict], folder: Path) -> dict:
    """Scores per reply, per user and macro, written under ``folder``; returns the macro scores."""
    scored = evaluate.score_replies(replies, study.usual_lengths(), study.embedder())
    users = evaluate.per_user(scored)
    atomic_write_text(folder / "scored.jsonl", "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in scored))
    atomic_write_json(folder / "per_user.json", users)
    macro = evaluate.macro(users)
    atomic_write_json(folder / "macro.json", macro)
    return macro


async def phase_baseline(study: Study) -> dict:
    folder = study.path("baseline")
    replies = await generate_replies(study, test_examples(study), "", folder / "replies.jsonl", "baseline replies")
    return {"replies": len(replies), "macro": score(study, replies, folder)}


def adapter_name(study: Study, arm: AdapterArm, scope: str) -> str:
    return f"{study.config.name}-{arm.kind}-{scope}"


async def train_arm(study: Study, arm: AdapterArm, name: str, rows: Path, held_out: Path | None,
                    scope: str = "global", scope_id: str = "") -> dict:
    """Train one adapter as a trainer job (or find it trained by an earlier, interrupted run)."""
    from attune.services.trainer.client import wait_for_job
    from attune.v1 import trainer_pb2

    published = study.adapter_dir() / name
    if not (published / "training.json").exists():
        params = {"eval_data": str(held_out), "eval_rows": study.config.eval_rows} if held_out else {}
        params |= arm.params
        job = await study.services.trainer.submit_job(trainer_pb2.TrainJobSpec(
            kind=arm.kind, scope=scope, scope_id=scope_id, data_path=str(rows), adapter_name=name,
            max_steps=arm.max_steps, learning_rate=arm.learning_rate, seed=study.config.seed,
            params_json=json.dumps(params)))
        study.console.print(f"training {name} ({arm.kind}, {arm.max_steps} steps at most), job {job.job_id}")
        done = await wait_for_job(study.services.trainer, job.job_id, TRAIN_TIMEOUT_S)
        if done.state != "succeeded":
            raise StudyDataError(f"training {name} {done.state}: {done.error}")
    return json.loads((published / "training.json").read_text())


async def phase_global(study: Study) -> dict:
    user_splits, baseline = study.splits(), study.baseline()
    users = training_users(study)
    folder = study.path("global")
    rows = write_rows(examples_for(users, {u.user_id: user_splits[u.user_id].train for u in users}, baseline),
                      folder / "train.jsonl")
    val = write_rows(examples_for(users, {u.user_id: user_splits[u.user_id].val for u in users}, baseline),
                     folder / "val.jsonl")
    base_users = arm_scores(study, "baseline", "per_user.json")
    results = {}
    for arm in study.config.global_adapters:
        name = adapter_name(study, arm, "global")
        training = await train_arm(study, arm, name, rows, val)
        arm_folder = folder / arm.kind
        replies = await generate_replies(study, test_examples(study), name, arm_folder / "replies.jsonl",
                                         f"{arm.kind} replies")
        macro = score(study, replies, arm_folder)
        deltas = per_user_deltas(json.loads((arm_folder / "per_user.json").read_text()), base_users)
        atomic_write_json(arm_folder / "deltas.json", deltas)
        results[arm.kind] = {"adapter": name, "steps": training["steps"], "best_val_rouge_l": training["best_rouge_l"],
                             "macro": macro, "macro_delta": evaluate.macro(deltas)}
    return results


def per_user_deltas(arm: dict[str, dict[str, float]], base: dict[str, dict[str, float]]) -> dict:
    """arm minus baseline, per user and metric, over the users both have."""
    return {u: {m: arm[u][m] - base[u][m] for m in evaluate.METRICS} for u in sorted(arm.keys() & base.keys())}


# ---- phase D --------------------------------------------------------------------

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


def training_users(study: Study) -> list[User]:
    held_out = set(study.held_out())
    return [u for u in study.users() if u.user_id not in held_out]


def global_adapter(study: Study, kind: str) -> str:
    return str(study.adapter_dir() / adapter_name(study, AdapterArm(kind=kind), "global"))


def arm_scores(study: Study, *parts: str) -> dict:
    path = study.path(*parts)
    return json.loads(path.read_text()) if path.exists() else {}


async def phase_users(study: Study) -> dict:
    """A per-user adapter for each training user; lift against the baseline and the global adapter; then,
    when configured, cluster adapters with user deltas on top."""
    settings = study.config.user_adapters
    users = training_users(study)
    users = users[:settings.users] if settings.users else users
    init = global_adapter(study, settings.kind) if settings.start == "global" else ""
    base_scores = arm_scores(study, "baseline", "per_user.json")
    global_scores = arm_scores(study, "global", settings.kind, "per_user.json")
    rows = {}
    for user in users:
        result = await update_and_score(
            study, adapter_name(study, AdapterArm(kind=settings.kind), f"user-{user.user_id}"),
            online_examples(study, [user]), study.path("users", user.user_id), init=init, epochs=settings.epochs,
            token_budget=settings.token_budget, scope="user", scope_id=user.user_id, tests=user_tests(study, user))
        rows[user.user_id] = {**result, "lift_vs_baseline": _lift(result["scores"], base_scores.get(user.user_id)),
                              "lift_vs_global": _lift(result["scores"], global_scores.get(user.user_id))}
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


async def cluster_level(study: Study, users: list[User], global_scores: dict) -> dict:
    """Per style cluster (phase A's k-means), the global LoRA updated on its members' online slices; each
    member scored with it, then with a tiny delta of their own on top."""
    cfg, kind = study.config.cluster_adapters, "lora"
    cluster_map = json.loads(study.path("data", "clusters.json").read_text())["cluster_map"]
    members: dict[int, list[User]] = {}
    for user in users:
        members.setdefault(cluster_map[user.user_id], []).append(user)
    rows = {}
    for cluster, group in sorted(members.items()):
        folder = study.path("users", "clusters", f"cluster-{cluster}")
        name = adapter_name(study, AdapterArm(kind=kind), f"cluster-{cluster}")
        trained = await update_and_score(study, name, online_examples(study, group), folder,
                                         init=global_adapter(study, kind), epochs=cfg.epochs,
                                         token_budget=cfg.token_budget, scope="cluster", scope_id=str(cluster),
                                         tests=[e for u in group for e in user_tests(study, u)])
        cluster_users = json.loads((folder / "per_user.json").read_text())
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
    atomic_write_json(study.path("users", "clusters", "per_user.json"), rows)
    return {"clusters": len(members), "users": len(rows),
            **helped_and_hurt(rows, "lift_vs_cluster", "by_user_delta"),
            "macro_cluster_lift_vs_global": _macro_of(rows, "cluster_lift_vs_global"),
            "macro_lift_vs_global": _macro_of(rows, "lift_vs_global"),
            "drift_lift_spearman": drift_lift(rows, "lift_vs_cluster")}


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


# ---- phase E --------------------------------------------------------------------

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


def phase_persona(study: Study) -> dict:
    """Persona prediction with MiniLM and, when configured, the model's own states: base and each global LoRA
    adapter (phase C)."""
    from attune.orchestrator.study.hidden import ModelEmbedder

    ids, said, queries = persona_texts(study)
    embedders: dict[str, tuple[Callable, bool]] = {"minilm": (study.embedder().embed, False)}
    if study.config.persona_model_embeddings:
        embedders["smollm2 base"] = (ModelEmbedder(study.common.data_dir).embed, True)
        for arm in study.config.global_adapters:
            adapter = study.adapter_dir() / adapter_name(study, arm, "global")
            if arm.kind == "lora" and study.done("global"):
                embedders["smollm2 global lora"] = (ModelEmbedder(study.common.data_dir, str(adapter)).embed, True)
    results = {}
    for label, (embed, center) in embedders.items():
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


# ---- phase F: ablations ----------------------------------------------------------

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
    """Each factor's values trained alike and scored on the same users' test replies: LoRA target modules and
    prefix length (global adapters on phase C's rows), and the online budget of a per-user update."""
    cfg = study.config.ablations
    if cfg is None:
        return {"skipped": "the config names no ablations"}
    users = training_users(study)[:cfg.users]
    tests = [e for u in users for e in user_tests(study, u, cfg.eval_replies_per_user)]
    folder, rows = study.path("ablations"), []
    train, val = study.path("global", "train.jsonl"), study.path("global", "val.jsonl")
    for factor, value, arm in ablation_arms(study):
        name = f"{study.config.name}-ablation-{arm.kind}-{factor}-{value}"
        training = await train_arm(study, arm, name, train, val)
        replies = await generate_replies(study, tests, name, folder / factor / value / "replies.jsonl",
                                         f"{factor} {value} replies")
        rows.append({"factor": factor, "value": value, "users": len(users),
                     "macro": score(study, replies, folder / factor / value), "steps": training["steps"],
                     "seconds": training["seconds"], "best_val_rouge_l": training["best_rouge_l"]})
    for budget in cfg.online_budgets:
        updates = {}
        for user in users:
            examples = online_examples(study, [user])[:budget]
            updates[user.user_id] = await update_and_score(
                study, f"{study.config.name}-ablation-budget-{budget}-{user.user_id}", examples,
                folder / "online_budget" / str(budget) / user.user_id, init=global_adapter(study, "lora"),
                epochs=study.config.user_adapters.epochs, token_budget=0, scope="user", scope_id=user.user_id,
                tests=user_tests(study, user, cfg.eval_replies_per_user))
        rows.append({"factor": "online_budget", "value": str(budget), "users": len(updates),
                     "macro": evaluate.macro({u: r["scores"] for u, r in updates.items()}),
                     "steps": int(np.mean([r["steps"] for r in updates.values()])),
                     "seconds": float(np.mean([r["seconds"] for r in updates.values()])),
                     "examples": int(np.mean([r["examples"] for r in updates.values()]))})
    atomic_write_json(folder / "results.json", rows)
    return {"arms": len(rows), "users": len(users), "factors": sorted({r["factor"] for r in rows})}


# ---- the pipeline ---------------------------------------------------------------

async def _open_services(study: Study, stack: AsyncExitStack):
    from attune.orchestrator.memory import open_in_process

    services = await open_in_process(study.common, needs=("trainer",), state_dir=study.folder / "state")
    stack.push_async_callback(services.close)
    return services


def phase_analysis(study: Study) -> dict:
    from attune.orchestrator.study.analysis import phase_analysis as analyse

    summaries = {p: json.loads(study.path(p, DONE).read_text()) for p in PHASES if study.done(p)}
    return analyse(study.folder, summaries, study.held_out())


PHASE_RUNNERS: dict[str, Callable] = {"data": phase_data, "baseline": phase_baseline, "global": phase_global,
                                      "users": phase_users, "persona": phase_persona,
                                      "ablations": phase_ablations, "analysis": phase_analysis}
NEEDS_MODEL = frozenset({"baseline", "global", "users", "ablations"})
# phase -> the phases whose outputs it reads
REQUIRES = {"baseline": ("data",), "global": ("data", "baseline"), "users": ("data", "baseline", "global"),
            "persona": ("data",), "ablations": ("data", "global"), "analysis": ("data", "baseline")}
ALWAYS_RUN = frozenset({"analysis"})


async def run_study(config: StudyConfig, folder: Path, common: CommonSettings, phases: tuple[str, ...] = PHASES,
                    console: Console | None = None) -> dict:
    """Run the phases not yet done, in order; return each phase's summary."""
    unknown = [p for p in phases if p not in PHASES]
    if unknown:
        raise StudyDataError(f"unknown phase(s) {', '.join(unknown)}; the phases are {', '.join(PHASES)}")
    check_folder(config, folder)
    study = Study(config, folder, common, console)
    summaries = {}
    async with AsyncExitStack() as stack:
        for phase in [p for p in PHASES if p in phases]:
            if study.done(phase) and phase not in ALWAYS_RUN:
                summaries[phase] = json.loads(study.path(phase, DONE).read_text())
                continue
            missing = [p for p in REQUIRES.get(phase, ()) if not study.done(p)]
            if missing:
                raise StudyDataError(f"phase {phase} needs phase(s) {', '.join(missing)} first")
            study.console.print(f"[bold]phase {phase}[/]")
            if phase in NEEDS_MODEL and study.services is None:
                study.services = await _open_services(study, stack)
            result = PHASE_RUNNERS[phase](study)
            summary = await result if asyncio.iscoroutine(result) else result
            study.finish(phase, summary)
            summaries[phase] = summary
    return summaries
