"""Generate the Python stubs of protos/attune/v1 into the package attune.v1.

Protos are compiled with ``-I protos`` so the generated imports read
``from attune.v1 import common_pb2``, which resolves because the stubs live in
the repository's ``attune/v1`` package. ``--check`` fails when the committed
stubs differ from what the .proto files give (the drift check of the tests).

A build tool of the checkout (it reads protos/), not part of the installed package: grpcio-tools is a
development dependency only.
"""

from __future__ import annotations

import argparse
import filecmp
import sys
import tempfile
from pathlib import Path

import grpc_tools
from grpc_tools import protoc

ROOT = Path(__file__).resolve().parents[1]
PROTO_ROOT = ROOT / "protos"
PACKAGE_DIR = Path("attune") / "v1"
GENERATED_SUFFIXES = ("_pb2.py", "_pb2.pyi", "_pb2_grpc.py")


def proto_files() -> list[Path]:
    return sorted((PROTO_ROOT / PACKAGE_DIR).glob("*.proto"))


def generate(out_dir: Path) -> list[Path]:
    """Compile every .proto into ``out_dir``; returns the generated files."""
    include = Path(grpc_tools.__file__).parent / "_proto"
    args = [
        "grpc_tools.protoc",
        f"-I{PROTO_ROOT}",
        f"-I{include}",
        f"--python_out={out_dir}",
        f"--pyi_out={out_dir}",
        f"--grpc_python_out={out_dir}",
        *[str(p) for p in proto_files()],
    ]
    if protoc.main(args) != 0:
        raise RuntimeError("protoc failed on protos/attune/v1")
    return sorted(p for p in (out_dir / PACKAGE_DIR).iterdir() if p.name.endswith(GENERATED_SUFFIXES))


def drift(committed_root: Path = ROOT) -> list[str]:
    """Names of generated files that differ from, or are missing in, the committed tree."""
    with tempfile.TemporaryDirectory() as tmp:
        fresh = generate(Path(tmp))
        committed = {p.name for p in (committed_root / PACKAGE_DIR).glob("*") if p.name.endswith(GENERATED_SUFFIXES)}
        changed = [p.name for p in fresh if not (committed_root / PACKAGE_DIR / p.name).exists()
                   or not filecmp.cmp(p, committed_root / PACKAGE_DIR / p.name, shallow=False)]
        stale = sorted(committed - {p.name for p in fresh})
        return changed + stale


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail if committed stubs drifted")
    args = parser.parse_args(argv)
    if args.check:
        bad = drift()
        if bad:
            print("generated stubs out of date (run `make protos`): " + ", ".join(bad), file=sys.stderr)
            return 1
        print("generated stubs match protos/")
        return 0
    out = ROOT / PACKAGE_DIR
    for stale in out.glob("*"):
        if stale.name.endswith(GENERATED_SUFFIXES):
            stale.unlink()
    generate(ROOT)
    print(f"generated stubs in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
