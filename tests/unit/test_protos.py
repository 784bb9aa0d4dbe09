"""The committed stubs in attune/v1 match protos/attune/v1 (`make protos` regenerates)."""

import importlib
import inspect
import sys

from scripts import protogen


def test_committed_stubs_match_protos():
    assert protogen.drift() == []


def test_drift_is_detected(tmp_path):
    (tmp_path / "attune" / "v1").mkdir(parents=True)
    generated = protogen.generate(tmp_path)
    victim = generated[0]
    victim.write_text(victim.read_text() + "\n# edited by hand\n")
    assert victim.name in protogen.drift(tmp_path)


def test_every_proto_imports_by_package_path():
    """Stubs register as attune/v1/<file>.proto in package attune.v1 and import each other by that path.

    A stub generated with ``-I protos/attune/v1`` would read ``import model_pb2`` and register a
    bare ``model.proto``: it imports only with the folder on sys.path, and twice under two names.
    """
    for proto in protogen.proto_files():
        pb2 = importlib.import_module(f"attune.v1.{proto.stem}_pb2")
        grpc_module = importlib.import_module(f"attune.v1.{proto.stem}_pb2_grpc")
        assert pb2.DESCRIPTOR.name == f"attune/v1/{proto.name}"
        assert pb2.DESCRIPTOR.package == "attune.v1"
        assert all(dep.name.startswith(("attune/v1/", "google/")) for dep in pb2.DESCRIPTOR.dependencies)
        if pb2.DESCRIPTOR.services_by_name:
            assert f"from attune.v1 import {proto.stem}_pb2 as" in inspect.getsource(grpc_module)
        for service in pb2.DESCRIPTOR.services_by_name:
            assert hasattr(grpc_module, f"{service}Stub")
            assert hasattr(grpc_module, f"{service}Servicer")
            assert hasattr(grpc_module, f"add_{service}Servicer_to_server")
        for module in (pb2, grpc_module):
            imports = [line for line in inspect.getsource(module).splitlines() if "_pb2" in line and "import" in line]
            assert all(line.startswith(("from attune.v1 import", "from google.protobuf")) for line in imports)
        assert f"{proto.stem}_pb2" not in sys.modules
        assert f"{proto.stem}_pb2_grpc" not in sys.modules
