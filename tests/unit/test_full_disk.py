"""A full disk, as the kernel reports it (/dev/full answers every write with ENOSPC): an append to a session
log and an atomic write fail with a message that names the file and says nothing written before is lost."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest

from attune.orchestrator.benchmark.records import LogWriteError, SessionLog
from attune.services.common.files import atomic_write_text

FULL = Path("/dev/full")


def test_an_append_to_a_full_disk_is_a_clear_error():
    log = SessionLog(FULL)
    with pytest.raises(LogWriteError, match=r"cannot append to /dev/full \(No space left on device\); the records "
                                            r"written before are kept") as caught:
        log._write(b'{"a": 1}\n')
    assert caught.value.errno == errno.ENOSPC


def test_an_atomic_write_that_cannot_finish_leaves_the_old_file(tmp_path, monkeypatch):
    target = tmp_path / "state.json"
    target.write_text("old")
    real_fdopen = __import__("os").fdopen

    def onto_a_full_disk(fd, *args, **kwargs):
        """The temporary file's writes go to /dev/full (a real ENOSPC), the rest is the real code."""
        import os

        full = os.open(FULL, os.O_WRONLY)
        os.dup2(full, fd)
        os.close(full)
        return real_fdopen(fd, *args, **kwargs)

    monkeypatch.setattr("attune.services.common.files.os.fdopen", onto_a_full_disk)
    with pytest.raises(OSError, match=rf"cannot write {target} \(No space left on device\); it is left as it was"):
        atomic_write_text(target, "new")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"], "no temporary file left behind"
