"""Tables every benchmark prints, and the figure blocks benchmarks rewrite in docs/."""

from __future__ import annotations

import os
import platform
import re
from pathlib import Path

from rich.console import Console
from rich.table import Table


def print_ratios(ratios: dict[str, float]) -> None:
    """The ratios of one run, the figures the targets are stated in."""
    table = Table("ratio", "value", title="ratios (same run)")
    for name, value in ratios.items():
        table.add_row(name, f"{value:.2f}")
    Console().print(table)


def markdown_table(columns: list[str], rows: list[list[str]]) -> list[str]:
    """A GitHub Markdown table, one line per row."""
    lines = [columns, ["---"] * len(columns), *rows]
    return ["| " + " | ".join(cells) + " |" for cells in lines]


def block(path: Path, name: str) -> str:
    """The text between ``<!-- name:start -->`` and ``<!-- name:end -->`` in ``path``."""
    start, end = _markers(path, name)
    return path.read_text().split(start, 1)[1].split(end, 1)[0]


def replace_block(path: Path, name: str, body: str) -> None:
    """Write ``body`` between the block's markers; the rest of the document stays as it is."""
    start, end = _markers(path, name)
    head, rest = path.read_text().split(start, 1)
    path.write_text(head + start + "\n" + body.strip("\n") + "\n" + end + rest.split(end, 1)[1])


def sections(text: str, names) -> dict[str, list[str]]:
    """A figures block's lines by section, each from its ``**name**`` heading (``names`` only) to the next."""
    found: dict[str, list[str]] = {}
    name = None
    for line in text.splitlines():
        heading = re.match(r"\*\*(.+?)\*\*", line)
        if heading and heading.group(1) in names:
            name = heading.group(1)
            found[name] = []
        if name:
            found[name].append(line)
    return found


def _markers(path: Path, name: str) -> tuple[str, str]:
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    text = path.read_text()
    if start not in text or end not in text:
        raise SystemExit(f"{path}: no {start} ... {end} block to write the figures into")
    return start, end


def machine() -> str:
    """The CPU, core count, OS and Python of this machine, for the line above a figure table."""
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor() or "unknown CPU")
    return f"{cpu}, {os.cpu_count()} cores, {platform.system()}, Python {platform.python_version()}"
