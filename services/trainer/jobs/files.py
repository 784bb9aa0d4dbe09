"""What every job kind reads and writes: its JSONL rows, checked line by line, and the saved adapter folder."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, ValidationError

Row = TypeVar("Row", bound=BaseModel)


def load_rows(path: Path, row: type[Row]) -> list[Row]:
    """The rows of a JSONL file as ``row`` models; ValueError names the first bad line and field."""
    rows = []
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                rows.append(row.model_validate(json.loads(line)))
            except json.JSONDecodeError as err:
                raise ValueError(f"line {number} is not JSON: {err.msg}") from None
            except ValidationError as err:
                first = err.errors()[0]
                where = ".".join(str(p) for p in first["loc"]) or "row"
                raise ValueError(f"line {number}: {where}: {first['msg']}") from None
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
