"""Check the layers of attune with import-linter (the contracts in pyproject.toml), on the package as it installs.

The source folders services/ and orchestrator/ install as attune.services and attune.orchestrator
(setup.py), a layout an editable install maps with an import hook that import-linter's graph builder
cannot walk. So the check runs over a tree of links shaped as the wheel is (attune/ with services/
and orchestrator/ inside), put first on PYTHONPATH. ``--tree NAME=PATH`` links another folder in place
of one of the three (the test that a crossing import fails uses it).

    python scripts/lint_imports.py            # exit 0: every contract kept
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = ("attune", "services", "orchestrator")


def link_tree(dest: Path, folders: dict[str, Path]) -> Path:
    """``dest/attune``: the entries of attune/ linked, with services and orchestrator linked inside."""
    package = dest / "attune"
    package.mkdir()
    for entry in folders["attune"].iterdir():
        (package / entry.name).symlink_to(entry)
    for name in ("services", "orchestrator"):
        (package / name).symlink_to(folders[name])
    return dest


def lint(folders: dict[str, Path]) -> subprocess.CompletedProcess:
    lint_imports = Path(sysconfig.get_path("scripts")) / "lint-imports"
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "PYTHONPATH": str(link_tree(Path(tmp), folders))}
        return subprocess.run([str(lint_imports), "--no-cache", str(ROOT / "pyproject.toml")],
                              cwd=tmp, env=env, capture_output=True, text=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tree", action="append", default=[], metavar="NAME=PATH",
                        help=f"use PATH for one of {', '.join(FOLDERS)}")
    args = parser.parse_args(argv)
    folders = {name: ROOT / name for name in FOLDERS}
    for item in args.tree:
        name, _, path = item.partition("=")
        if name not in FOLDERS or not Path(path).is_dir():
            parser.error(f"--tree {item}: expected NAME=FOLDER with NAME one of {', '.join(FOLDERS)}")
        folders[name] = Path(path).resolve()
    done = lint(folders)
    print(done.stdout, end="")
    print(done.stderr, end="", file=sys.stderr)
    return done.returncode


if __name__ == "__main__":
    sys.exit(main())
