"""Validation of a TrainJobSpec at submit: every bad field is refused by name, before a job exists."""

from __future__ import annotations

import json
import sys

import pytest

from attune.services.common.errors import FailedPrecondition, InvalidArgument, NotFound
from attune.services.trainer.jobs import grpo_notes
from attune.v1 import trainer_pb2
from tests.fixtures.trainer import start_trainer_core

ROW = {"notes": "", "transcript": [["user", "Please use bullet points."], ["assistant", "Understood."]],
       "revealed": ["use bullet points"]}


def quick_job(spec_file, out):
    """A job process that saves an empty adapter at once (no training: this file tests validation)."""
    return [sys.executable, "-c", "import os, sys; os.makedirs(sys.argv[1]); "
            "open(os.path.join(sys.argv[1], 'adapter_config.json'), 'w').write('{}')", str(out)]


@pytest.fixture()
async def core(tmp_path):
    core = await start_trainer_core(tmp_path / "data", quick_job)
    yield core
    await core.close()


@pytest.fixture()
def data(tmp_path):
    path = tmp_path / "rows.jsonl"
    path.write_text(json.dumps(ROW) + "\n")
    return path


def spec(data, **fields) -> trainer_pb2.TrainJobSpec:
    values = {"kind": "grpo_notes", "data_path": str(data), "adapter_name": "notes", "max_steps": 2} | fields
    return trainer_pb2.TrainJobSpec(**values)


@pytest.mark.parametrize(("fields", "field", "message"), [
    ({"kind": "sft"}, "kind", "unknown kind 'sft'; available: grpo_notes, lora, prefix"),
    ({"kind": ""}, "kind", "available: grpo_notes, lora, prefix"),
    ({"scope": "team"}, "scope", "one of global, user, cluster"),
    ({"scope": "user"}, "scope_id", "must not be empty"),
    ({"scope_id": "u1"}, "scope_id", "global"),
    ({"adapter_name": ""}, "adapter_name", "must not be empty"),
    ({"adapter_name": "../up"}, "adapter_name", "plain folder name"),
    ({"adapter_name": "a/b"}, "adapter_name", "plain folder name"),
    ({"adapter_name": ".staging"}, "adapter_name", "plain folder name"),
    ({"adapter_name": "notes-lr0.001"}, "adapter_name", "no '.'"),
    ({"adapter_name": "x" * 129}, "adapter_name", "plain folder name"),
    ({"max_steps": 0}, "max_steps", "out of range 1..100000"),
    ({"max_steps": 100_001}, "max_steps", "out of range"),
    ({"learning_rate": float("nan")}, "learning_rate", "out of range"),
    ({"learning_rate": 2.0}, "learning_rate", "out of range"),
    ({"seed": -1}, "seed", "out of range"),
    ({"params_json": "{"}, "params_json", "JSON"),
    ({"params_json": '{"rank": 4}'}, "params_json", "rank"),
    ({"params_json": '{"num_generations": 1}'}, "params_json", "num_generations"),
    ({"base_model": "/no/such/model"}, "base_model", "not a local model folder"),
    ({"data_path": ""}, "data_path", "must not be empty"),
    ({"data_path": "/no/such/file.jsonl"}, "data_path", "is not a file"),
])
async def test_bad_field_is_refused_by_name(core, data, fields, field, message):
    with pytest.raises(InvalidArgument, match=message) as err:
        await core.submit_job(spec(data, **fields))
    assert err.value.field == field
    assert (await core.list_jobs(trainer_pb2.ListJobsRequest())).jobs == []


SFT_ROW = {"messages": [{"role": "user", "content": "Lights on, please."}], "completion": "Done: lights on."}


@pytest.mark.parametrize("kind", ["lora", "prefix"])
async def test_adapter_kinds_check_their_rows_and_eval_file(core, tmp_path, kind):
    rows = tmp_path / "sft.jsonl"
    rows.write_text(json.dumps(SFT_ROW) + "\n")
    job = await core.submit_job(spec(rows, kind=kind, adapter_name=f"{kind}-ok", scope="user", scope_id="u1"))
    assert json.loads(job.spec.params_json)["batch_size"] == 4 and job.spec.scope_id == "u1"
    with pytest.raises(InvalidArgument, match="line 1: completion") as err:
        await core.submit_job(spec(data_file(tmp_path, {"messages": SFT_ROW["messages"]}), kind=kind))
    assert err.value.field == "data_path"
    with pytest.raises(InvalidArgument, match="line 1: messages.0.role") as err:
        await core.submit_job(spec(data_file(tmp_path, {**SFT_ROW, "messages": [{"role": "robot", "content": "x"}]}),
                                   kind=kind))
    with pytest.raises(InvalidArgument, match="init_adapter /no/adapter is not an adapter folder") as err:
        await core.submit_job(spec(rows, kind=kind, params_json=json.dumps({"init_adapter": "/no/adapter"})))
    with pytest.raises(InvalidArgument, match="eval_data /no/val.jsonl is not a file") as err:
        await core.submit_job(spec(rows, kind=kind, params_json=json.dumps({"eval_data": "/no/val.jsonl"})))
    assert err.value.field == "params_json"
    with pytest.raises(InvalidArgument, match="r: Input should be greater than or equal to 1" if kind == "lora"
                       else "num_virtual_tokens") as err:
        await core.submit_job(spec(rows, kind=kind, params_json=json.dumps(
            {"r": 0} if kind == "lora" else {"num_virtual_tokens": 0})))


def data_file(tmp_path, row: dict):
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps(row) + "\n")
    return path


@pytest.mark.parametrize(("line", "message"), [
    ("not json", "line 2 is not JSON"),
    (json.dumps({"transcript": [], "revealed": []}), "line 2: transcript"),
    (json.dumps({"transcript": [["robot", "hi"]], "revealed": []}), "line 2: transcript"),
    (json.dumps({"transcript": [["user", "hi"]]}), "line 2: revealed"),
])
async def test_bad_data_row_is_named(core, data, line, message):
    data.write_text(json.dumps(ROW) + "\n" + line + "\n")
    with pytest.raises(InvalidArgument, match=message) as err:
        await core.submit_job(spec(data))
    assert err.value.field == "data_path"


async def test_empty_data_is_refused(core, data):
    data.write_text("\n")
    with pytest.raises(InvalidArgument, match="has no rows"):
        await core.submit_job(spec(data))


async def test_defaults_are_filled_in(core, data, monkeypatch):
    monkeypatch.chdir(data.parent)
    job = await core.submit_job(spec("rows.jsonl"))
    assert job.state == "running"  # nothing else runs: started at once
    assert job.spec.scope == "global"
    assert job.spec.data_path == str(data.resolve())
    assert job.spec.learning_rate == pytest.approx(grpo_notes.DEFAULT_LEARNING_RATE)
    assert json.loads(job.spec.params_json) == grpo_notes.Params().model_dump()


async def test_adapter_name_in_use_is_a_failed_precondition(processes, core, data):
    (core.adapter_dir / "taken").mkdir(parents=True)
    with pytest.raises(FailedPrecondition, match="already exists"):
        await core.submit_job(spec(data, adapter_name="taken"))
    await core.submit_job(spec(data, adapter_name="busy"))
    with pytest.raises(FailedPrecondition, match="already"):
        await core.submit_job(spec(data, adapter_name="busy"))


async def test_unknown_job_is_not_found(core):
    request = trainer_pb2.GetJobRequest(job_id="job-none")
    for call in (core.get_job, core.cancel_job):
        with pytest.raises(NotFound, match="job-none"):
            await call(request)
    with pytest.raises(NotFound):
        async for _ in core.watch_job(request):
            pass
    with pytest.raises(InvalidArgument, match="job_id"):
        await core.get_job(trainer_pb2.GetJobRequest())
