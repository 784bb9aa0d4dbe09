"""JSON Lines files: one JSON value per line, read with a bad line named, written whole atomically or appended.

Reading streams the file (it is never held whole) and splits on "\\n" only, so a value holding U+2028 or a
form feed stays one line. A line that is not JSON raises JsonLinesError (a ValueError) naming the file and
the line, counted from 1. With ``torn_tail=True`` a bad line that only blank lines follow is skipped instead:
it is a torn last line, what a process killed in the middle of an append leaves; a bad line anywhere else is
still an error.

Writing a whole file goes through files.atomic_open (a temporary file in the same folder, fsynced, renamed
over the target): a failure halfway, a full disk or a value JSON cannot encode, leaves the old file. An
append writes its line unbuffered and fsyncs it; one that fails is cut back, so the file still ends on a
whole line.
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Generator, Iterable, Iterator
from pathlib import Path
from typing import Any, NamedTuple

from pydantic import BaseModel

from attune.services.common.files import atomic_open


class JsonLinesError(ValueError):
    """A line that is not JSON (or a blank line where they are refused), named by file and line (from 1).

    ``error`` is the decoder's exception (None for a blank line), ``msg`` its message without the position,
    ``offset`` where the line starts (bytes into a file, characters into a text).
    """

    def __init__(self, path: Path | None, line: int, offset: int, error: ValueError | None):
        self.path, self.line, self.offset, self.error = path, line, offset, error
        self.msg = "the line is empty" if error is None else getattr(error, "msg", str(error))
        where = f"line {line}" if path is None else f"{path}: line {line}"
        super().__init__(f"{where} is empty" if error is None else f"{where} is not valid JSON ({error})")


class JsonLine(NamedTuple):
    number: int  # from 1
    offset: int  # where the line starts: bytes into a file, characters into a text
    data: Any
    terminated: bool  # it ends with "\n" (a file's last line may not)


class JsonLines:
    """The lines of a JSON-lines file, decoded as they are iterated; blank lines are skipped, or with
    ``allow_blank=False`` refused. After a full pass, ``torn`` is the JsonLinesError of the torn last line that
    ``torn_tail=True`` skipped (its ``offset`` is where a writer cuts the file back to), else None."""

    def __init__(self, path: str | Path, *, torn_tail: bool = False, allow_blank: bool = True):
        self.path = Path(path)
        self.torn_tail = torn_tail
        self.allow_blank = allow_blank
        self.torn: JsonLinesError | None = None

    def __iter__(self) -> Iterator[JsonLine]:
        self.torn = None
        with self.path.open("rb") as f:
            self.torn = yield from _decode(f, self.path, self.torn_tail, self.allow_blank)


def read_jsonl(path: str | Path, *, torn_tail: bool = False, allow_blank: bool = True) -> list[Any]:
    """Every value of a JSON-lines file, in order."""
    return [line.data for line in JsonLines(path, torn_tail=torn_tail, allow_blank=allow_blank)]


def parse_jsonl(text: str, path: str | Path | None = None, *, allow_blank: bool = True) -> list[Any]:
    """Every value of JSON-lines ``text`` already read (a gzipped file, one that may be a single JSON document);
    errors name ``path`` when it is given."""
    lines = io.StringIO(text, newline="\n")
    return [line.data for line in _decode(lines, None if path is None else Path(path), False, allow_blank)]


def _decode(lines: Iterable[bytes | str], path: Path | None, torn_tail: bool,
            allow_blank: bool) -> Generator[JsonLine, None, JsonLinesError | None]:
    """The decoded lines; returns the torn last line skipped (torn_tail), if any."""
    bad, offset = None, 0
    for number, line in enumerate(lines, 1):
        start, offset = offset, offset + len(line)
        if not line.strip():
            if allow_blank:
                continue
            raise JsonLinesError(path, number, start, None)
        if bad is not None:  # a line follows the bad one: it was not torn, the file is corrupt
            raise bad
        try:
            data = json.loads(line)
        except ValueError as err:
            bad = JsonLinesError(path, number, start, err)
            if not torn_tail:
                raise bad from None
            continue
        yield JsonLine(number, start, data, line.endswith(b"\n" if isinstance(line, bytes) else "\n"))
    return bad


def dumps_line(row: Any) -> str:
    """One value as its line: a pydantic model by its own JSON, anything else by json.dumps (non-ASCII kept)."""
    text = row.model_dump_json() if isinstance(row, BaseModel) else json.dumps(row, ensure_ascii=False)
    return text + "\n"


def write_jsonl(path: str | Path, rows: Iterable[Any]) -> None:
    """Write ``rows`` as the whole of ``path``, one line each, atomically (files.atomic_open)."""
    with atomic_open(path) as out:
        for row in rows:
            out.write(dumps_line(row))


def append_jsonl(path: str | Path, row: Any) -> None:
    """Append ``row`` as one line and fsync it (append_line)."""
    append_line(path, dumps_line(row))


def append_line(path: str | Path, line: str | bytes) -> None:
    """Append one whole line (ending in "\\n") and fsync it. Unbuffered, so a failed write is seen here: what it
    wrote is cut back and its OSError raised as it came, the file left as it was."""
    path = Path(path)
    data = line.encode() if isinstance(line, str) else line
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        before = os.lseek(fd, 0, os.SEEK_END)
        try:
            rest = memoryview(data)
            while rest:
                rest = rest[os.write(fd, rest):]
            os.fsync(fd)
        except OSError:
            _cut_back(fd, before)
            raise
    finally:
        os.close(fd)


def _cut_back(fd: int, size: int) -> None:
    """Drop what a failed write left of its line, so the file ends on a whole line."""
    try:
        os.ftruncate(fd, size)
    except OSError:
        pass  # a reader with torn_tail=True skips a torn last line as well
