"""Atomic file writes: a temporary file in the same folder, flushed to disk, then renamed over the target.

A kill at any point leaves either the old file or the new one, never half of one; a write that fails (a full
disk) leaves the old file and says which file it could not write.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from pathlib import Path
from typing import Any, TextIO


def atomic_write_text(path: str | Path, text: str) -> None:
    with atomic_open(path) as out:
        out.write(text)


@contextmanager
def atomic_open(path: str | Path) -> Iterator[TextIO]:
    """A text file to write ``path`` through: it replaces ``path`` only when the block ends without an error.

    Whatever the block raises (a full disk, a value that cannot be encoded halfway through) leaves the old
    file and no temporary one; an OSError is raised again naming ``path``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            yield out
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except OSError as err:
        Path(tmp).unlink(missing_ok=True)
        raise OSError(err.errno, f"cannot write {path} ({err.strerror or err}); it is left as it was") from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_json(path: str | Path, data: Any, indent: int | None = 2) -> None:
    atomic_write_text(path, json.dumps(data, indent=indent) + "\n")


def shipped_files(package: str, folder: str, suffix: str) -> dict[str, Path]:
    """The files attune ships in ``folder`` of ``package`` (package data), by name without ``suffix``."""
    root = resources.files(package) / folder
    return {f.name.removesuffix(suffix): Path(str(f)) for f in root.iterdir() if f.name.endswith(suffix)}


def user_or_shipped(value: str | Path, package: str, folder: str, suffix: str) -> Path:
    """A user's file at ``value`` if it exists, else the shipped file of that bare name (``demo`` or ``demo.yaml``).

    Shipped files are package data read through importlib.resources, so an installed wheel finds them
    as a checkout does; any other value comes back unchanged, for the caller to report as missing.
    """
    path = Path(value)
    if path.exists() or path.name != str(value):
        return path
    return shipped_files(package, folder, suffix).get(path.name.removesuffix(suffix), path)
