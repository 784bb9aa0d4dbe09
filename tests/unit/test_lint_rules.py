"""The lint rules that catch a check which cannot fail are on, and `ruff check .` (make lint) keeps the tree free
of them: a test file with one of each is refused, rule by rule."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RUFF = Path(sys.executable).with_name("ruff")

CHECKS_THAT_CANNOT_FAIL = '''import pytest


def test_checks(value):
    assert (value, "a tuple is always true")
    assert "a string is always true"
    value == 1
    assert value == value
    assert 1 == 1
    with pytest.raises(Exception):
        int("x")
    with pytest.raises(ValueError):
        int("x")
'''
EXPECTED = {"F631", "PLW0129", "B015", "PLR0124", "PLR0133", "B017", "PT011"}


def ruff(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(RUFF), "check", "--no-cache", "--config", str(ROOT / "pyproject.toml"),
                           "--output-format", "concise", *args], capture_output=True, text=True, cwd=ROOT, timeout=120)


def test_each_check_that_cannot_fail_is_refused(tmp_path):
    test_file = tmp_path / "test_cannot_fail.py"
    test_file.write_text(CHECKS_THAT_CANNOT_FAIL)
    result = ruff(str(test_file))
    assert result.returncode == 1
    found = {line.split()[1] for line in result.stdout.splitlines() if line.startswith(str(test_file))}
    assert found == EXPECTED


def test_the_tree_has_none():
    result = ruff(".")
    assert result.returncode == 0, result.stdout[-3000:]
