"""What every job kind reads and writes: its JSONL rows, checked line by line, and the saved adapter folder."""

from __future__ import annotations

import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from attune.services.common.jsonl import JsonLines, JsonLinesError

Row = TypeVar("Row", bound=BaseModel)


def load_rows(path: Path, row: type[Row]) -> list[Row]:
    """The rows of a JSONL file as ``row`` models; ValueError names the first bad line and field."""
    rows = []
    try:
        for line in JsonLines(path):
            try:
                rows.append(row.model_validate(line.data))
            except ValidationError as err:
                first = err.errors()[0]
                where = ".".join(str(p) for p in first["loc"]) or "row"
                raise ValueError(f"line {line.number}: {where}: {first['msg']}") from None
    except JsonLinesError as err:
        raise ValueError(f"line {err.line} is not JSON: {err.msg}") from None
    if not rows:
        raise ValueError("has no rows")
    return rows


def save_adapter(model, out: Path, keep: Iterable[str]) -> None:
    """Save the PEFT adapter into ``out`` and drop everything else PEFT writes (model card, folders) but ``keep``."""
    model.save_pretrained(out)
    keep = set(keep)
    for path in out.iterdir():
        if path.is_dir():
            shutil.rmtree(path)
        elif path.name not in keep:
            path.unlink()
