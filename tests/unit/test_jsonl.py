"""JSON Lines files (services/common/jsonl.py), on real files: a round trip, a bad line named by file and
number, a torn last line skipped only where asked, whole writes that leave the old file when they fail."""

from __future__ import annotations

import errno
import os

import pytest
from pydantic import BaseModel

from attune.services.common.jsonl import (
    JsonLines,
    JsonLinesError,
    append_jsonl,
    append_line,
    parse_jsonl,
    read_jsonl,
    write_jsonl,
)


class Row(BaseModel):
    name: str
    n: int


def test_a_round_trip_keeps_every_value_on_its_own_line(tmp_path):
    path = tmp_path / "sub" / "rows.jsonl"
    rows = [{"text": "café\u2028next\x0cpage", "n": 1}, [1, 2], "plain", None]
    write_jsonl(path, rows)
    assert read_jsonl(path) == rows
    assert path.read_text(encoding="utf-8").count("\n") == 4
    assert "café" in path.read_text(encoding="utf-8"), "non-ASCII is kept as it is"
    append_jsonl(path, Row(name="model", n=2))
    append_jsonl(path, {"n": 3})
    assert read_jsonl(path)[-2:] == [{"name": "model", "n": 2}, {"n": 3}]
    assert list(tmp_path.joinpath("sub").iterdir()) == [path], "no temporary file left behind"


def test_lines_carry_their_number_offset_and_whether_they_end_in_a_newline(tmp_path):
    path = tmp_path / "rows.jsonl"
    path.write_bytes(b'{"a": 1}\n\n  \n{"b": 2}')
    lines = list(JsonLines(path))
    assert [(line.number, line.offset, line.data, line.terminated) for line in lines] == [
        (1, 0, {"a": 1}, True), (4, 13, {"b": 2}, False)]


def test_a_bad_line_is_named_by_file_and_number(tmp_path):
    path = tmp_path / "rows.jsonl"
    path.write_text('{"a": 1}\n\n{"b": \n{"c": 3}\n')
    with pytest.raises(JsonLinesError, match=rf"^{path}: line 3 is not valid JSON \(Expecting value") as caught:
        read_jsonl(path)
    err = caught.value
    assert isinstance(err, ValueError)
    assert (err.path, err.line, err.offset, err.msg) == (path, 3, 10, "Expecting value")


def test_blank_lines_are_refused_where_asked(tmp_path):
    path = tmp_path / "aligned.jsonl"
    path.write_text('{"a": 1}\n\n{"b": 2}\n')
    assert read_jsonl(path) == [{"a": 1}, {"b": 2}]
    with pytest.raises(JsonLinesError, match=rf"^{path}: line 2 is empty$") as caught:
        read_jsonl(path, allow_blank=False)
    assert caught.value.error is None


def test_a_torn_last_line_is_skipped_only_where_asked(tmp_path):
    path = tmp_path / "log.jsonl"
    finished = b'{"a": 1}\n{"b": 2}\n'
    path.write_bytes(finished + b'{"to')
    with pytest.raises(JsonLinesError, match="line 3 is not valid JSON"):
        read_jsonl(path)
    lines = JsonLines(path, torn_tail=True)
    assert [line.data for line in lines] == [{"a": 1}, {"b": 2}]
    assert (lines.torn.line, lines.torn.offset) == (3, len(finished)), "where a writer cuts the file back to"
    assert path.read_bytes() == finished + b'{"to', "reading never changes the file"

    path.write_bytes(finished + b'{"to\n\n  \n')  # blank lines after it: still the last line
    assert read_jsonl(path, torn_tail=True) == [{"a": 1}, {"b": 2}]

    path.write_bytes(b'{"a": 1}\n{"to\n\n{"b": 2}\n')  # a line after it: not torn, corrupt
    with pytest.raises(JsonLinesError, match=rf"{path}: line 2 is not valid JSON"):
        read_jsonl(path, torn_tail=True)

    path.write_bytes(finished)
    lines = JsonLines(path, torn_tail=True)
    assert len(list(lines)) == 2 and lines.torn is None


def test_text_already_read_is_parsed_the_same_way(tmp_path):
    assert parse_jsonl('{"a": 1}\r\n\n[2]') == [{"a": 1}, [2]]
    with pytest.raises(JsonLinesError, match=r"^line 2 is not valid JSON \("):
        parse_jsonl('{"a": 1}\nnot json\n')
    with pytest.raises(JsonLinesError, match=r"^profiles.jsonl: line 1 is not valid JSON"):
        parse_jsonl("{\n", "profiles.jsonl")


def test_a_whole_write_that_fails_midway_leaves_the_old_file(tmp_path):
    path = tmp_path / "rows.jsonl"
    write_jsonl(path, [{"old": 1}])
    with pytest.raises(TypeError, match="not JSON serializable"):
        write_jsonl(path, [{"new": 1}, {"new": object()}])
    assert read_jsonl(path) == [{"old": 1}]
    assert list(tmp_path.iterdir()) == [path], "no temporary file left behind"


def test_a_failed_append_is_cut_back(tmp_path, monkeypatch):
    path = tmp_path / "log.jsonl"
    append_line(path, '{"a": 1}\n')

    def full_disk(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr("attune.services.common.jsonl.os.fsync", full_disk)
    with pytest.raises(OSError, match="No space left on device") as caught:
        append_jsonl(path, {"b": 2})
    assert caught.value.errno == errno.ENOSPC
    assert path.read_bytes() == b'{"a": 1}\n', "the half-written line is cut back"
