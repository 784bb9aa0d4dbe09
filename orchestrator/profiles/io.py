"""Reading and writing profile files: attune JSONL/JSON, or MultiSessionCollab's user_profiles.json."""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import ValidationError

from attune.orchestrator.profiles.msc import is_msc, msc_profile
from attune.preferences.check import check_profile
from attune.preferences.model import Profile, ProfileError
from attune.services.common.jsonl import JsonLinesError, parse_jsonl, write_jsonl


def load_profiles(path: str | Path) -> list[Profile]:
    """Every profile in ``path``, validated; ProfileError names the file, the profile and the problem."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise ProfileError(f"cannot read ({err.strerror or err})", path=path) from None
    raw = _parse(text, path)
    profiles = [_msc(user, i, path) for i, user in enumerate(raw)] if is_msc(raw) else _attune(raw, path)
    _check_all(profiles, path)
    return profiles


def _parse(text: str, path: Path):
    """One JSON document, or JSON Lines (one profile per line)."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        pass
    try:
        return parse_jsonl(text, path)
    except JsonLinesError as err:
        raise ProfileError(f"line {err.line} is not valid JSON ({err.msg})", path=path) from None


def _attune(raw, path: Path) -> list[Profile]:
    rows = [raw] if isinstance(raw, dict) else raw
    if not isinstance(rows, list) or not rows:
        raise ProfileError("expected a list of profiles (JSON, JSON Lines or MultiSessionCollab format)", path=path)
    profiles = []
    for i, row in enumerate(rows):
        name = row.get("user_id") if isinstance(row, dict) else None
        try:
            profiles.append(Profile.model_validate(row))
        except ValidationError as err:
            first = err.errors()[0]
            field = ".".join(str(part) for part in first["loc"]) or "(profile)"
            raise ProfileError(first["msg"], path=path, profile=name or f"#{i}", field=field) from None
    return profiles


def _msc(user: dict, index: int, path: Path) -> Profile:
    try:
        return msc_profile(user, index)
    except (ValueError, TypeError, KeyError) as err:
        raise ProfileError(f"bad MultiSessionCollab user ({err})", path=path, profile=f"#{index}") from None


def _check_all(profiles: list[Profile], path: Path) -> None:
    seen = set()
    for profile in profiles:
        if profile.user_id in seen:
            raise ProfileError("duplicate user_id", path=path, profile=profile.user_id)
        seen.add(profile.user_id)
        problems = check_profile(profile)
        if problems:
            raise ProfileError("; ".join(problems), path=path, profile=profile.user_id or "(no user_id)")


def save_profiles(profiles: list[Profile], path: str | Path) -> None:
    """Write JSON Lines atomically (services/common/jsonl.py)."""
    write_jsonl(path, profiles)
