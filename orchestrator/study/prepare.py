"""Phase A (``data``): the corpus loaded or generated, cleaned and split, with what the later phases read.

Each user's sessions are split in time order (splits.py), the split validated
and described, held-out users set aside (the cold-start set), and users'
style features clustered with k-means (features.py); all of it is written
under the phase's folder.
"""

from __future__ import annotations

import random
from pathlib import Path

from attune.orchestrator.study import features, splits
from attune.orchestrator.study.config import StudyConfig
from attune.orchestrator.study.data import StudyDataError, User, load_folder, load_hub, write_folder
from attune.orchestrator.study.folder import Study
from attune.orchestrator.study.generate import generate_corpus
from attune.services.common.files import atomic_write_json
from attune.services.common.jsonl import write_jsonl
from attune.services.common.logging import get_logger

log = get_logger(__name__)


def load_corpus(config: StudyConfig) -> list[User]:
    data = config.data
    if data.source == "generate":
        return generate_corpus(data.users, data.sessions, config.seed, data.difficulty)
    if data.source == "hub":
        return load_hub()
    return load_folder(data.folder)


def phase_data(study: Study) -> dict:
    config = study.config
    users, cleaning = splits.clean(load_corpus(config), config.split.min_sessions)
    log.info("study.cleaned", **cleaning)
    users, user_splits = split_users(config, users)
    validation = splits.validate(user_splits, config.split.minimum_per_split)
    bad = {check: result["errors"] for check, result in validation.items() if not result["valid"]}
    if bad:
        raise StudyDataError(f"the split fails its checks: {bad}")
    held_out = held_out_users(config, users)
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
    write_jsonl(out / "cold_start.jsonl", cold)
    return {"users": len(users), "held_out": len(held_out), "cleaning": cleaning}


def split_users(config: StudyConfig, users: list[User]) -> tuple[list[User], dict[str, splits.UserSplit]]:
    """The split file's splits (and only the users it names), or each user's sessions split in time order."""
    if config.data.splits_file:
        user_splits = splits.load_split_file(Path(config.data.splits_file), users, config.data.sessions_per_user)
        return [u for u in users if u.user_id in user_splits], user_splits
    return users, splits.split_users(users, config.split.train, config.split.val, config.split.online)


def held_out_users(config: StudyConfig, users: list[User]) -> list[str]:
    """A seeded share of the users, set aside for the cold-start set."""
    order = sorted(u.user_id for u in users)
    random.Random(config.seed).shuffle(order)
    return sorted(order[:int(len(order) * config.split.held_out_users)])
