"""The figure blocks benchmarks rewrite in docs/: only the block changes, and a missing block is an error."""

from pathlib import Path

import pytest

from bench.report import block, markdown_table, replace_block


def test_replace_block_rewrites_only_its_block(tmp_path):
    doc = tmp_path / "doc.md"
    doc.write_text("# Title\n\n<!-- a:start -->\nold\n<!-- a:end -->\n\ntext\n<!-- b:start -->\nkept\n<!-- b:end -->\n")
    replace_block(doc, "a", "\n".join(markdown_table(["figure", "value"], [["lost", "0"]])))
    assert doc.read_text() == ("# Title\n\n<!-- a:start -->\n| figure | value |\n| --- | --- |\n| lost | 0 |\n"
                               "<!-- a:end -->\n\ntext\n<!-- b:start -->\nkept\n<!-- b:end -->\n")
    assert block(doc, "b") == "\nkept\n"


def test_a_document_without_the_block_is_refused(tmp_path):
    doc = tmp_path / "doc.md"
    doc.write_text("# Title\n<!-- a:start -->\n")
    with pytest.raises(SystemExit, match="no <!-- a:start --> ... <!-- a:end --> block"):
        replace_block(doc, "a", "x")
    assert doc.read_text() == "# Title\n<!-- a:start -->\n"


def test_the_reliability_doc_has_every_block_the_benchmarks_write():
    doc = Path(__file__).resolve().parents[2] / "docs" / "reliability.md"
    for name in ("fuzz", "chaos-restarts", "chaos-kills"):
        assert block(doc, name).strip()
