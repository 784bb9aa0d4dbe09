"""What ``pip install`` of attune puts into site-packages: every file of the package trees, under ``attune``.

The folders services/ and orchestrator/ install as attune.services and attune.orchestrator (setup.py),
never as the generic top-level names ``services`` and ``orchestrator`` that would collide with other
projects. The expected contents are derived from the tree, never listed by hand: a module or data file
that the wheel lacks (a folder without ``__init__.py``, a data file no glob names) fails here, not in a
user's ``attune demo``.
"""

from __future__ import annotations

import ast
import zipfile
from pathlib import Path

import pytest

from tests.fixtures.imports import TREES
from tests.fixtures.wheel import ROOT, checkout_files

# Modules that may read their own location: provenance asks git for the commit only when the installed
# package is the top of a checkout (an installed copy reports "unknown").
MAY_USE_FILE = {"orchestrator/benchmark/provenance.py"}


@pytest.fixture(scope="module")
def wheel_names(wheel_path) -> set[str]:
    with zipfile.ZipFile(wheel_path) as zf:
        return set(zf.namelist())


def tree_files() -> dict[str, str]:
    """Every file of the package trees in the checkout -> its path in the wheel."""
    expected = {}
    for name in checkout_files():
        folder, _, rest = name.partition("/")
        if folder in TREES and rest and "__pycache__" not in name:
            expected[name] = "/".join((*TREES[folder].split("."), rest))
    return expected


def test_every_file_of_the_package_trees_is_in_the_wheel(wheel_names):
    expected = tree_files()
    assert len(expected) > 200, "the tree listing found too few files"
    missing = sorted(source for source, installed in expected.items() if installed not in wheel_names)
    assert missing == []


def test_the_wheel_holds_nothing_the_trees_do_not(wheel_names):
    shipped = {n for n in wheel_names if not n.split("/")[0].endswith(".dist-info")}
    assert shipped - set(tree_files().values()) == set()


def test_the_only_top_level_package_is_attune(wheel_path, wheel_names):
    top = {name.split("/")[0] for name in wheel_names if not name.split("/")[0].endswith(".dist-info")}
    assert top == {"attune"}
    with zipfile.ZipFile(wheel_path) as zf:
        top_level = next(n for n in wheel_names if n.endswith(".dist-info/top_level.txt"))
        assert zf.read(top_level).decode().split() == ["attune"]


def test_every_folder_with_python_code_is_a_package():
    folders = {(ROOT / name).parent for name in tree_files() if name.endswith(".py")}
    assert sorted(str(f.relative_to(ROOT)) for f in folders if not (f / "__init__.py").exists()) == []


def test_the_console_script_and_the_extras_are_in_the_metadata(wheel_path, wheel_names):
    with zipfile.ZipFile(wheel_path) as zf:
        entry_points = zf.read(next(n for n in wheel_names if n.endswith("entry_points.txt"))).decode()
        metadata = zf.read(next(n for n in wheel_names if n.endswith(".dist-info/METADATA"))).decode()
    assert "attune = attune.orchestrator.entry:main" in entry_points
    extras = {line.split(":", 1)[1].strip() for line in metadata.splitlines() if line.startswith("Provides-Extra:")}
    assert {"model", "extractor", "retrieval", "uservec", "judge", "trainer", "orchestrator", "gpu"} <= extras


def _uses_own_location(path: Path) -> bool:
    return any(isinstance(node, ast.Name) and node.id == "__file__" for node in ast.walk(ast.parse(path.read_text())))


def test_runtime_files_are_read_as_package_data_not_beside_the_source():
    """``Path(__file__).parents[1] / "experiments"`` finds a file in a checkout and nothing in a wheel."""
    offenders = sorted(name for name in tree_files() if name.endswith(".py") and name not in MAY_USE_FILE
                       and _uses_own_location(ROOT / name))
    assert offenders == []
