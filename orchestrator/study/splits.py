"""Phase A's splits: cleaning, per-user time-aware splits, their validation and statistics, the cold-start set.

Sessions are split per user in session order, never shuffled: the first 60%
train, the next 20% validation, the last 20% test, so every model is evaluated
on sessions later than any it learned from. The online slice, the sessions a
per-user adapter is updated on, is the last ``online`` (8-12) training sessions.
A split file in the shape of ../shared/data/edgewisepersona/ (per persona index
lists over ``sessions_per_user * persona + session``) loads as well.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from attune.orchestrator.study.data import Session, StudyDataError, User

SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class UserSplit:
    """Session ids of one user per split, in order; ``online`` is a tail of ``train``."""

    train: list[int]
    val: list[int]
    test: list[int]
    online: list[int]


def clean(users: list[User], min_sessions: int) -> tuple[list[User], dict]:
    """Users with their usable sessions, and the counts of what was dropped and why.

    A session is usable when it has a user message followed by an assistant reply;
    an exact repeat of an earlier session's messages is dropped; a user left with
    fewer than ``min_sessions`` sessions is dropped."""
    counts = {"users_in": len(users), "sessions_in": sum(len(u.sessions) for u in users),
              "sessions_without_reply": 0, "sessions_repeated": 0, "users_too_few_sessions": 0}
    kept = []
    for user in users:
        seen, sessions = set(), []
        for session in user.sessions:
            key = tuple((m.role, m.text.strip()) for m in session.messages)
            if not _has_reply(session):
                counts["sessions_without_reply"] += 1
            elif key in seen:
                counts["sessions_repeated"] += 1
            else:
                seen.add(key)
                sessions.append(session)
        if len(sessions) < min_sessions:
            counts["users_too_few_sessions"] += 1
            continue
        kept.append(user.model_copy(update={"sessions": sessions}))
    counts |= {"users_out": len(kept), "sessions_out": sum(len(u.sessions) for u in kept)}
    return kept, counts


def _has_reply(session: Session) -> bool:
    roles = [m.role for m in session.messages]
    return any(a == "user" and b == "assistant" for a, b in zip(roles, roles[1:], strict=False))


def time_split(session_ids: list[int], train: float = 0.6, val: float = 0.2, online: int = 10) -> UserSplit:
    """60/20/20 by session order (rounded, each split at least one session); the online slice is the last
    ``online`` training sessions (all of them when there are fewer)."""
    n = len(session_ids)
    if n < 3:
        raise StudyDataError(f"a user needs at least 3 sessions to split, has {n}")
    n_val = max(1, round(n * val))
    n_train = min(max(1, round(n * train)), n - n_val - 1)
    ids = list(session_ids)
    train_ids = ids[:n_train]
    return UserSplit(train_ids, ids[n_train:n_train + n_val], ids[n_train + n_val:], train_ids[-online:])


def validate(splits: dict[str, UserSplit], minimum: int = 1) -> dict:
    """The checks of a split, each with its errors: no overlap, order kept, a minimum per split."""
    report = {"no_overlap": [], "temporal_order": [], "minimum_coverage": [], "online_in_train": []}
    for user, split in splits.items():
        parts = {name: getattr(split, name) for name in SPLITS}
        for a, b in (("train", "val"), ("train", "test"), ("val", "test")):
            if set(parts[a]) & set(parts[b]):
                report["no_overlap"].append(f"{user}: {a} and {b} share sessions")
        if parts["train"] and parts["val"] and max(parts["train"]) >= min(parts["val"]) or \
                parts["val"] and parts["test"] and max(parts["val"]) >= min(parts["test"]):
            report["temporal_order"].append(f"{user}: a later split holds an earlier session")
        report["minimum_coverage"] += [f"{user}: {name} has {len(ids)} sessions (minimum {minimum})"
                                       for name, ids in parts.items() if len(ids) < minimum]
        if not set(split.online) <= set(split.train):
            report["online_in_train"].append(f"{user}: the online slice is not inside train")
    return {check: {"valid": not errors, "errors": errors} for check, errors in report.items()}


def statistics(splits: dict[str, UserSplit]) -> dict:
    """Coverage and balance: sessions per split in total and per user, the largest user's share."""
    totals = {name: sum(len(getattr(s, name)) for s in splits.values()) for name in (*SPLITS, "online")}
    per_user = [sum(len(getattr(s, name)) for name in SPLITS) for s in splits.values()]
    everything = sum(per_user)
    return {"users": len(splits), "sessions": everything, "per_split": totals,
            "proportions": {name: round(totals[name] / everything, 4) for name in SPLITS} if everything else {},
            "sessions_per_user": {"min": min(per_user, default=0), "max": max(per_user, default=0),
                                  "mean": round(everything / len(per_user), 2) if per_user else 0},
            "largest_user_share": round(max(per_user, default=0) / everything, 4) if everything else 0}


def split_users(users: list[User], train: float, val: float, online: int) -> dict[str, UserSplit]:
    return {u.user_id: time_split([s.session_id for s in u.sessions], train, val, online) for u in users}


def load_split_file(path: Path, users: list[User], sessions_per_user: int = 50) -> dict[str, UserSplit]:
    """A shared split file: ``{"persona_000": {"train": [...], "val", "test", "online"}}`` over global indexes
    ``sessions_per_user * persona + session``; only the users present in both are kept."""
    raw = json.loads(path.read_text())
    known = {u.user_id: u for u in users}
    splits = {}
    for persona, parts in raw.items():
        if persona not in known:
            continue
        base = sessions_per_user * int(persona.rsplit("_", 1)[1])
        try:
            splits[persona] = UserSplit(*([i - base for i in parts[name]] for name in (*SPLITS, "online")))
        except KeyError as err:
            raise StudyDataError(f"{path}: {persona}: missing split {err}") from None
    if not splits:
        raise StudyDataError(f"{path}: names none of the corpus's users")
    return splits


def cold_start(users: list[User], splits: dict[str, UserSplit], held_out: list[str], messages: int = 5) -> list[dict]:
    """The first test session of each held-out user, cut to its first ``messages`` messages (the shape of
    adaptcommand_cold_start_test.jsonl)."""
    by_id = {u.user_id: u for u in users}
    rows = []
    for user_id in held_out:
        first = splits[user_id].test[0]
        session = next(s for s in by_id[user_id].sessions if s.session_id == first)
        rows.append({"persona_id": user_id, "dialogue_idx": first,
                     "messages": [m.model_dump() for m in session.messages[:messages]]})
    return rows


def as_json(splits: dict[str, UserSplit]) -> dict:
    return {user: asdict(split) for user, split in splits.items()}
