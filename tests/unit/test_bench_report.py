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


def test_memory_quality_rewrites_the_parts_it_ran_and_keeps_the_others(tmp_path):
    from bench import memory_quality as mq

    doc = tmp_path / "memory.md"
    doc.write_text("<!-- memory-quality-train:start -->\nold header\n\n**retrieval** (2026-01-01)\n\n| a |\n\n"
                   "**gate** (2026-01-01)\n\n| kept gate row |\n<!-- memory-quality-train:end -->\n")
    figures = mq.Figures({"stale-card rate": 0.25, "revisions": 4}, [])
    mq.write_docs(doc, "train", {"retrieval": {"hybrid": figures}}, 60)
    text = block(doc, "memory-quality-train")
    assert "| kept gate row |" in text and "**gate** (2026-01-01)" in text
    assert "| a |" not in text and "| hybrid | 0.25 | 4 | – | – |" in text
    assert text.index("**retrieval**") < text.index("**gate**")
