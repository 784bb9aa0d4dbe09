"""What ``pip install`` of attune puts into site-packages: one top-level package, ``attune``.

The folders services/ and orchestrator/ install as attune.services and
attune.orchestrator (setup.py, pyproject.toml's package-dir), never as the generic
top-level names ``services`` and ``orchestrator`` that would collide with other
projects. The wheel is built as pip would, from a copy of this checkout's files
(so no stale build/ folder can add or hide anything).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> zipfile.ZipFile:
    source, out = tmp_path_factory.mktemp("source"), tmp_path_factory.mktemp("wheel")
    files = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=ROOT, check=True,
                           capture_output=True, text=True).stdout.splitlines()
    for name in files:
        if (ROOT / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, source / name)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out),
                    str(source)], check=True, capture_output=True, timeout=300)
    (path,) = out.glob("attune-*.whl")
    with zipfile.ZipFile(path) as zf:
        yield zf


@pytest.fixture(scope="module")
def wheel_names(wheel) -> list[str]:
    return wheel.namelist()


def test_the_only_top_level_package_is_attune(wheel, wheel_names):
    top = {name.split("/")[0] for name in wheel_names if not name.split("/")[0].endswith(".dist-info")}
    assert top == {"attune"}
    top_level = next(n for n in wheel_names if n.endswith(".dist-info/top_level.txt"))
    assert wheel.read(top_level).decode().split() == ["attune"]


def test_services_orchestrator_and_data_files_are_under_attune(wheel_names):
    for expected in ("attune/services/model/core.py", "attune/services/common/registry.py",
                     "attune/orchestrator/cli.py", "attune/orchestrator/conflicts/data/templates.yaml",
                     "attune/orchestrator/profiles/data/schema.yaml", "attune/v1/model_pb2.py"):
        assert expected in wheel_names, expected
    assert not any(n.startswith(("services/", "orchestrator/", "tests/")) for n in wheel_names)
