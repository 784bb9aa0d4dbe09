"""The report as a list of blocks, written as Markdown and as one self-contained HTML file.

The HTML file carries its style inline and its plots as base64 PNG data, and
names no URL, so it opens anywhere without a network. The Markdown file holds
the same text and tables; its plots are PNG files under ``plots/`` beside it.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from html import escape
from pathlib import Path


@dataclass(frozen=True)
class Heading:
    text: str
    level: int = 2


@dataclass(frozen=True)
class Text:
    text: str


@dataclass(frozen=True)
class Table:
    header: list[str]
    rows: list[list[str]]


@dataclass(frozen=True)
class Figure:
    title: str
    png: bytes

    @property
    def filename(self) -> str:
        """``plots/<title as a slug>.png``: where write_report puts the plot beside report.md."""
        return "plots/" + re.sub(r"[^a-z0-9]+", "-", self.title.lower()).strip("-") + ".png"


Block = Heading | Text | Table | Figure

STYLE = """
body { font-family: sans-serif; max-width: 1100px; margin: 2em auto; padding: 0 1em; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; font-size: 0.9em; }
th, td { border: 1px solid #bbb; padding: 0.25em 0.6em; text-align: left; }
th { background: #eee; }
img { max-width: 100%; display: block; margin: 0.5em 0 1.5em; }
"""


def to_markdown(blocks: list[Block]) -> str:
    out = []
    for block in blocks:
        if isinstance(block, Heading):
            out.append(f"{'#' * block.level} {block.text}")
        elif isinstance(block, Text):
            out.append(block.text)
        elif isinstance(block, Table):
            out.append("\n".join(["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in (
                block.header, ["---"] * len(block.header), *block.rows)]))
        else:
            out.append(f"![{_md_cell(block.title)}]({block.filename})")
    return "\n\n".join(out) + "\n"


def write_markdown(blocks: list[Block], path: Path) -> Path:
    """``path`` with the blocks as Markdown and each figure as a PNG file under ``plots/`` beside it."""
    for figure in (b for b in blocks if isinstance(b, Figure)):
        (path.parent / figure.filename).parent.mkdir(parents=True, exist_ok=True)
        (path.parent / figure.filename).write_bytes(figure.png)
    path.write_text(to_markdown(blocks))
    return path


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def to_html(blocks: list[Block], title: str) -> str:
    out = []
    for block in blocks:
        if isinstance(block, Heading):
            out.append(f"<h{block.level}>{escape(block.text)}</h{block.level}>")
        elif isinstance(block, Text):
            out.append(f"<p>{escape(block.text)}</p>")
        elif isinstance(block, Table):
            head = "".join(f"<th>{escape(c)}</th>" for c in block.header)
            rows = "".join("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in row) + "</tr>" for row in block.rows)
            out.append(f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>")
        else:
            data = base64.b64encode(block.png).decode()
            out.append(f'<img alt="{escape(block.title)}" src="data:image/png;base64,{data}">')
    body = "\n".join(out)
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>'
            f"<style>{STYLE}</style></head>\n<body>\n{body}\n</body></html>\n")
