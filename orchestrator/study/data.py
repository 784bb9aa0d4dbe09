"""The EdgeWisePersona format: three line-aligned JSONL files, one line per user.

- ``characters.jsonl``: ``{"character": "<persona description>"}``
- ``routines.jsonl``: ``{"routines": [{"triggers": {...}, "actions": {...}}]}``; the
  triggers are ``time_of_day, day_of_week, sun_phase, weather, outdoor_temp``,
  the actions are settings of ``tv, ac, lights, speaker, security`` (a device
  left alone is ``null`` or absent).
- ``sessions.jsonl``: ``{"sessions": [{"session_id", "meta": {the five trigger
  fields}, "messages": [{"role", "text"}], "applied_routines": [routine index],
  "session_summarization"}]}``

Line *i* of each file is user *i*. A folder is read in full and checked before
anything trains: a missing file, files of different lengths or a record that
does not validate is refused with the file, line and field. The public dataset
(CC BY 4.0) loads through ``datasets`` where a network exists
(``load_hub``); this machine has none, so attune ships a generator of the same
format (generate.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from attune.services.common.jsonl import JsonLines, JsonLinesError, write_jsonl

TRIGGERS = ("time_of_day", "day_of_week", "sun_phase", "weather", "outdoor_temp")
FILES = ("characters.jsonl", "routines.jsonl", "sessions.jsonl")
HUB_DATASET = "TCLResearchEurope/EdgeWisePersona"


class StudyDataError(ValueError):
    """Data the study cannot use; the message names the file, the line and the field."""


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Triggers(Model):
    time_of_day: str
    day_of_week: str
    sun_phase: str
    weather: str
    outdoor_temp: str


class Routine(Model):
    triggers: Triggers
    # device -> its settings (None: left alone); only the five devices
    actions: dict[Literal["tv", "ac", "lights", "speaker", "security"], dict | None]


class Message(Model):
    role: Literal["user", "assistant"]
    text: str = Field(min_length=1)


class Session(Model):
    session_id: int = Field(ge=0)
    meta: Triggers
    messages: list[Message] = Field(min_length=1)
    applied_routines: list[int] = []
    session_summarization: str = ""


class User(Model):
    """One line of the three files: the persona, its routines and its sessions in order."""

    user_id: str
    character: str = Field(min_length=1)
    routines: list[Routine]
    sessions: list[Session]


class _CharacterLine(Model):
    character: str = Field(min_length=1)


class _RoutinesLine(Model):
    routines: list[Routine]


class _SessionsLine(Model):
    sessions: list[Session]


def user_id(index: int) -> str:
    """The id of line ``index`` (0-based), as the shared split files name personas."""
    return f"persona_{index:03d}"


def _lines(path: Path) -> Iterator[tuple[int, dict]]:
    try:
        for line in JsonLines(path, allow_blank=False):
            yield line.number, line.data
    except JsonLinesError as err:
        if err.error is None:
            raise StudyDataError(f"{path}: line {err.line} is empty (one line per user; lines must align)") from None
        raise StudyDataError(f"{path}: line {err.line} is not JSON: {err.msg}") from None


def _parse(model: type[Model], data, path: Path, number: int):
    try:
        return model.model_validate(data)
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "record"
        raise StudyDataError(f"{path}: line {number}: {where}: {first['msg']}") from None


def load_folder(folder: str | Path) -> list[User]:
    """Every user of an EdgeWisePersona folder, checked; sessions sorted by ``session_id``."""
    folder = Path(folder)
    missing = [name for name in FILES if not (folder / name).is_file()]
    if missing:
        raise StudyDataError(f"{folder}: missing {', '.join(missing)} (an EdgeWisePersona folder holds "
                             f"{', '.join(FILES)})")
    characters = [_parse(_CharacterLine, d, folder / FILES[0], n) for n, d in _lines(folder / FILES[0])]
    routines = [_parse(_RoutinesLine, d, folder / FILES[1], n) for n, d in _lines(folder / FILES[1])]
    sessions = [_parse(_SessionsLine, d, folder / FILES[2], n) for n, d in _lines(folder / FILES[2])]
    counts = dict(zip(FILES, (len(characters), len(routines), len(sessions)), strict=True))
    if len(set(counts.values())) != 1:
        raise StudyDataError(f"{folder}: the files are not line-aligned: " +
                             ", ".join(f"{name} has {n} lines" for name, n in counts.items()))
    if not characters:
        raise StudyDataError(f"{folder}: the files hold no user")
    users = []
    for i, (c, r, s) in enumerate(zip(characters, routines, sessions, strict=True)):
        _check_sessions(s.sessions, r.routines, folder / FILES[2], i + 1)
        users.append(User(user_id=user_id(i), character=c.character, routines=r.routines,
                          sessions=sorted(s.sessions, key=lambda x: x.session_id)))
    return users


def _check_sessions(sessions: list[Session], routines: list[Routine], path: Path, number: int) -> None:
    ids = [s.session_id for s in sessions]
    if len(set(ids)) != len(ids):
        raise StudyDataError(f"{path}: line {number}: sessions: session_id repeats")
    for k, session in enumerate(sessions):
        bad = [i for i in session.applied_routines if not 0 <= i < len(routines)]
        if bad:
            raise StudyDataError(f"{path}: line {number}: sessions.{k}.applied_routines: {bad} is not a routine "
                                 f"index (the user has {len(routines)})")


def write_folder(users: list[User], folder: str | Path) -> Path:
    """Write users in the format (the generator's output, or a cleaned copy)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rows = {"characters.jsonl": [{"character": u.character} for u in users],
            "routines.jsonl": [{"routines": [r.model_dump() for r in u.routines]} for u in users],
            "sessions.jsonl": [{"sessions": [s.model_dump() for s in u.sessions]} for u in users]}
    for name, lines in rows.items():
        write_jsonl(folder / name, lines)
    return folder


def load_hub(cache_dir: str | Path | None = None) -> list[User]:
    """The public EdgeWisePersona dataset through ``datasets``; needs a network, refused clearly without one."""
    try:
        from datasets import load_dataset

        parts = [load_dataset(HUB_DATASET, data_files=name, split="train", cache_dir=cache_dir) for name in FILES]
    except Exception as err:  # noqa: BLE001 - any failure to reach the hub means the same to the user
        raise StudyDataError(f"could not load {HUB_DATASET} through datasets ({type(err).__name__}: {err}); "
                             f"without a network, download the three files elsewhere and pass the folder, or "
                             f"generate a corpus with `attune study generate`") from None
    folder = Path(cache_dir or ".") / "edgewisepersona"
    folder.mkdir(parents=True, exist_ok=True)
    for name, part in zip(FILES, parts, strict=True):
        part.to_json(folder / name, lines=True, force_ascii=False)
    return load_folder(folder)
