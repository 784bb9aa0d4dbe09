"""The committed stubs in attune/v1 match protos/attune/v1 (`make protos` regenerates)."""

import importlib

from attune.services.common import protogen


def test_committed_stubs_match_protos():
    assert protogen.drift() == []


def test_drift_is_detected(tmp_path):
    (tmp_path / "attune" / "v1").mkdir(parents=True)
    generated = protogen.generate(tmp_path)
    victim = generated[0]
    victim.write_text(victim.read_text() + "\n# edited by hand\n")
    assert victim.name in protogen.drift(tmp_path)


def test_every_proto_imports_by_package_path():
    for proto in protogen.proto_files():
        module = importlib.import_module(f"attune.v1.{proto.stem}_pb2_grpc")
        assert module.__name__.endswith("_pb2_grpc")
