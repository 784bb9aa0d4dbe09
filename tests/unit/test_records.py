"""The typed session record and its log (versions, repair, refusals), and the run's provenance file."""

from __future__ import annotations

import hashlib
import json
from types import SimpleNamespace

import pytest

from attune.orchestrator.benchmark import provenance
from attune.orchestrator.benchmark.experiment import ExperimentError
from attune.orchestrator.benchmark.records import (
    SCHEMA_VERSION,
    ConflictRecord,
    LogCorrupt,
    NewerSchema,
    SessionLog,
    SessionMetrics,
    SessionRecord,
    TokenCount,
    TurnRecord,
    VerdictRecord,
)
from attune.orchestrator.benchmark.session import session_metrics
from attune.orchestrator.benchmark.simulator import Verdict
from attune.services.model.settings import ModelSettings
from attune.v1 import model_pb2


def sample_record(session: int = 1, method: str = "vanilla", profile: str = "u1") -> SessionRecord:
    verdict = VerdictRecord(satisfied=["format.bullets"], enforce=False, enforce_id="", clarifying=False,
                            draft_answer="x = 3", end_session=True, message="Thanks.", parse_failed=False)
    turn = TurnRecord(turn=1, user="Solve x + 1 = 4.", assistant="- x = 3 ✓", memory_used=["likes bullets"],
                      reward=0.5, tokens={"agent": TokenCount(prompt=20, completion=5, calls=1)}, verdict=verdict)
    return SessionRecord(
        run_id="run", method=method, profile_id=profile, user_id=f"run.{method}.{profile}", session=session,
        dataset="math-500", problem_id="p1", step_by_step=False, query="Solve x + 1 = 4.",
        conflict=ConflictRecord(template_id="t1", group="format", triggered=["format.bullets", "format.prose"],
                                expected="format.bullets"),
        applicable=["format.bullets"], turns=[turn], upkeep_tokens={"memory": TokenCount(prompt=9, completion=3,
                                                                                         calls=1)},
        tokens={"agent": TokenCount(prompt=20, completion=5, calls=1),
                "memory": TokenCount(prompt=9, completion=3, calls=1)},
        total_tokens=37, draft_answer="x = 3", task_success=True, task_detail="matched", agent_answer_correct=True,
        metrics=SessionMetrics(user_turns=1, enforcements=0, enforced=[], clarifying_questions=0,
                               parse_failures=0, simulator_compliance=1.0, simulator_conflict_resolved=True,
                               ended_by="simulator"),
        memory={"notes": "Use bullet points."}, seconds=1.5, finished_at=1_700_000_000.0)


def line(data: dict) -> str:
    return json.dumps(data, ensure_ascii=False) + "\n"


def v1(record: SessionRecord) -> dict:
    """The same record as version 1 wrote it: the simulator's verdicts named compliance, conflict_resolved."""
    data = record.model_dump(mode="json")
    metrics = data["metrics"]
    metrics["compliance"] = metrics.pop("simulator_compliance")
    metrics["conflict_resolved"] = metrics.pop("simulator_conflict_resolved")
    metrics.pop("user_tokens")
    return {**data, "schema_version": 1}


def v0(record: SessionRecord) -> dict:
    """The same record as written before records were typed: version 1's fields, no schema_version."""
    data = v1(record)
    del data["schema_version"]
    return data


# ---- the record -------------------------------------------------------------------


def test_the_verdict_record_has_the_simulators_verdict_fields():
    assert VerdictRecord(**Verdict(satisfied=["a"], enforce=True).to_dict()).satisfied == ["a"]


def test_session_metrics_from_typed_turns():
    turns = sample_record().turns * 2
    plan = SimpleNamespace(applicable=("format.bullets", "verbosity.concise"),
                           conflict=SimpleNamespace(expected="format.bullets"))
    metrics = session_metrics(turns, plan, user_tokens=12)
    assert metrics.user_turns == 2 and metrics.simulator_compliance == 0.5
    assert metrics.simulator_conflict_resolved is True and metrics.user_tokens == 12
    assert metrics.ended_by == "simulator"


def test_unknown_fields_are_refused():
    with pytest.raises(ValueError, match="Extra inputs"):
        SessionRecord.model_validate({**sample_record().model_dump(), "notes": "x"})


# ---- the log ----------------------------------------------------------------------


async def test_a_record_round_trips_through_the_log(tmp_path):
    log = SessionLog(tmp_path / "sessions.jsonl")
    assert log.load() == {}
    records = [sample_record(session=1), sample_record(session=2, method="rag")]
    for record in records:
        await log.append(record)
    loaded = log.load()
    assert list(loaded) == [("vanilla", "u1", 1), ("rag", "u1", 2)]
    assert list(loaded.values()) == records
    assert json.loads(log.path.read_text().splitlines()[0])["schema_version"] == SCHEMA_VERSION


def test_a_version_0_line_loads_and_is_not_rewritten(tmp_path):
    record = sample_record()
    path = tmp_path / "sessions.jsonl"
    path.write_text(line(v0(record)))
    before = path.read_bytes()
    assert SessionLog(path).load() == {record.key: record}
    assert path.read_bytes() == before


def test_a_version_1_line_is_migrated_to_the_simulators_names(tmp_path):
    record = sample_record()
    path = tmp_path / "sessions.jsonl"
    path.write_text(line(v1(record)))
    (loaded,) = SessionLog(path).load().values()
    assert loaded == record and loaded.metrics.simulator_compliance == 1.0


@pytest.mark.parametrize("change, field", [
    (lambda d: d["turns"][0]["verdict"].update(enforce="sometimes"), "turns.0.verdict.enforce"),
    (lambda d: d["metrics"].pop("ended_by"), "metrics.ended_by"),
    (lambda d: d.update(mood="happy"), "mood"),
])
def test_a_bad_field_in_the_middle_is_refused_naming_line_and_field(tmp_path, change, field):
    bad = v0(sample_record(session=2))
    change(bad)
    path = tmp_path / "sessions.jsonl"
    path.write_text(line(v0(sample_record(session=1))) + line(bad) + line(v0(sample_record(session=3))))
    with pytest.raises(LogCorrupt, match=f"{path}: line 2 .*field {field}:"):
        SessionLog(path).load()


def test_a_complete_bad_last_line_is_refused_not_dropped_as_torn(tmp_path):
    bad = sample_record().model_dump(mode="json")
    bad["task_success"] = "maybe"
    path = tmp_path / "sessions.jsonl"
    path.write_text(line(bad))
    with pytest.raises(LogCorrupt, match="line 1 .*field task_success"):
        SessionLog(path).load()
    assert path.read_text() == line(bad)


def test_a_non_json_line_in_the_middle_is_refused(tmp_path):
    path = tmp_path / "sessions.jsonl"
    path.write_text(line(v0(sample_record())) + "not json\n" + line(v0(sample_record(session=2))))
    with pytest.raises(LogCorrupt, match="line 2 is not a session record"):
        SessionLog(path).load()


def test_a_newer_schema_version_is_refused(tmp_path):
    newer = {**sample_record(session=2).model_dump(mode="json"), "schema_version": SCHEMA_VERSION + 1}
    path = tmp_path / "sessions.jsonl"
    path.write_text(line(v0(sample_record())) + line(newer))
    before = path.read_bytes()
    with pytest.raises(NewerSchema, match=f"line 2: schema_version {SCHEMA_VERSION + 1} was written by a newer "
                                          "attune"):
        SessionLog(path).load()
    assert path.read_bytes() == before


async def test_a_torn_last_line_is_cut(tmp_path):
    log = SessionLog(tmp_path / "sessions.jsonl")
    await log.append(sample_record(session=1))
    await log.append(sample_record(session=2))
    with log.path.open("a") as f:
        f.write('{"schema_version": 1, "method": "vanilla", "prof')
    assert set(log.load()) == {("vanilla", "u1", 1), ("vanilla", "u1", 2)}
    assert log.path.read_text().endswith("}\n"), "the torn line is cut off"
    await log.append(sample_record(session=3))
    assert len(log.load()) == 3 and len(log.path.read_text().splitlines()) == 3


def test_loading_leaves_finished_lines_byte_identical(tmp_path):
    # Spaced, key-reordered and old-version lines: none is normalized to what append would write.
    spaced = json.dumps(sample_record(session=1).model_dump(mode="json"), indent=None, separators=(" , ", " : "))
    reordered = json.dumps(dict(reversed(list(v0(sample_record(session=2)).items()))))
    finished = f"{spaced}\n{reordered}\n".encode()
    path = tmp_path / "sessions.jsonl"
    path.write_bytes(finished + b'{"torn')
    assert len(SessionLog(path).load()) == 2
    assert path.read_bytes() == finished


def test_an_unterminated_good_line_is_completed(tmp_path):
    path = tmp_path / "sessions.jsonl"
    path.write_text(line(v0(sample_record())).rstrip("\n"))
    assert list(SessionLog(path).load()) == [("vanilla", "u1", 1)]
    assert path.read_text() == line(v0(sample_record()))


# ---- provenance -----------------------------------------------------------------


def test_git_commit_of_this_checkout_and_of_no_checkout(tmp_path):
    commit = provenance.git_commit()
    assert len(commit) == 40 and all(c in "0123456789abcdef" for c in commit)
    assert isinstance(provenance.git_dirty(), bool)
    assert provenance.git_commit(tmp_path) == "unknown" and provenance.git_dirty(tmp_path) == "unknown"


def test_package_versions_are_read_without_importing():
    versions = provenance.package_versions()
    assert set(versions) == set(provenance.PACKAGES)
    assert versions["torch"] and versions["torch"][0].isdigit()
    assert provenance.package_version("no-such-package-attune") is None


async def test_the_gguf_hash_is_computed_once(tmp_path, monkeypatch):
    gguf = tmp_path / "model.gguf"
    gguf.write_bytes(b"weights" * 1000)
    monkeypatch.setattr(provenance, "smollm2_gguf", lambda: gguf)
    settings = ModelSettings(backend="transformers", model="")
    data_dir = tmp_path / "data"
    expected = hashlib.sha256(gguf.read_bytes()).hexdigest()
    assert await provenance.weights_sha256(settings, data_dir) == {str(gguf): expected}
    cache = json.loads((data_dir / "models" / provenance.HASH_CACHE_FILE).read_text())
    assert cache[str(gguf)] == {"size": 7000, "mtime_ns": gguf.stat().st_mtime_ns, "sha256": expected}

    def no_reading(path):
        raise AssertionError(f"{path} hashed again")

    real_sha256 = provenance.sha256_file
    monkeypatch.setattr(provenance, "sha256_file", no_reading)
    assert await provenance.weights_sha256(settings, data_dir) == {str(gguf): expected}
    gguf.write_bytes(b"other weights")
    monkeypatch.setattr(provenance, "sha256_file", real_sha256)
    changed = await provenance.weights_sha256(settings, data_dir)
    assert changed == {str(gguf): hashlib.sha256(b"other weights").hexdigest()}, "a changed file is hashed anew"


async def test_weights_of_a_local_folder_and_of_a_remote_endpoint(tmp_path):
    folder = tmp_path / "model"
    folder.mkdir()
    for name in ("model-1.safetensors", "model-2.safetensors", "config.json"):
        (folder / name).write_bytes(name.encode())
    hashes = await provenance.weights_sha256(ModelSettings(model=str(folder)), tmp_path / "data")
    assert hashes == {str(folder / n): hashlib.sha256(n.encode()).hexdigest()
                      for n in ("model-1.safetensors", "model-2.safetensors")}
    assert await provenance.weights_sha256(None, tmp_path) == provenance.REMOTE
    openai = ModelSettings(backend="openai", model="served-name")
    assert await provenance.weights_sha256(openai, tmp_path) == provenance.REMOTE


class RemoteModel:
    target = "model.example:50051"

    def __init__(self, name: str):
        self.name = name

    async def get_info(self):
        return model_pb2.ModelInfo(model=self.name, backend="vllm", max_context=4096, adapters=["notes"])


async def test_every_start_is_kept_in_provenance_json(tmp_path):
    models = {"agent": RemoteModel("big"), "user_simulator": RemoteModel("bigger")}
    await provenance.record_start(tmp_path, "grpc", models, tmp_path / "data")
    await provenance.record_start(tmp_path, "grpc", {**models, "agent": RemoteModel("other")}, tmp_path / "data")
    starts = json.loads((tmp_path / provenance.PROVENANCE_FILE).read_text())
    assert [s["models"]["agent"]["info"]["model"] for s in starts] == ["big", "other"]
    simulator = starts[0]["models"]["user_simulator"]
    assert simulator == {"served_by": "model.example:50051", "weights_sha256": provenance.REMOTE,
                         "info": {"model": "bigger", "backend": "vllm", "max_context": 4096, "adapters": ["notes"],
                                  "dtype": ""}}
    assert starts[0]["code"]["commit"] == provenance.git_commit() and starts[0]["packages"]["torch"]
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == [], "no temporary file left"


async def test_a_provenance_file_that_is_not_a_list_is_refused_not_overwritten(tmp_path):
    path = tmp_path / provenance.PROVENANCE_FILE
    path.write_text('{"hand": "edited"}')
    with pytest.raises(ExperimentError, match="not a list of run starts"):
        await provenance.record_start(tmp_path, "grpc", {"agent": RemoteModel("m")}, tmp_path)
    assert path.read_text() == '{"hand": "edited"}'


def test_a_reader_skips_a_torn_last_line_without_cutting_it(tmp_path):
    """The judge only reads a run: the torn tail is left for the runner's own repair."""
    path = tmp_path / "sessions.jsonl"
    record = sample_record()
    path.write_text(line(record.model_dump(mode="json")) + '{"method": "vanilla", "prof')
    before = path.read_bytes()
    assert SessionLog(path).load(repair=False) == {record.key: record}
    assert path.read_bytes() == before
