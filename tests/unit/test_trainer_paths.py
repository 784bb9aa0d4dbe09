"""Paths in a TrainJobSpec that no file system can hold are refused by name, not answered with INTERNAL.

Found by fuzzing SubmitJob (tests/integration/test_fuzz.py): pathlib raises RuntimeError for an unknown
``~user``, ValueError for a NUL byte and OSError (ENAMETOOLONG) for a name past the system's limit.
"""

from __future__ import annotations

import json
import sys

import pytest

from attune.services.common.errors import InvalidArgument
from attune.v1 import trainer_pb2
from tests.fixtures.trainer import start_trainer_core

ROW = {"messages": [{"role": "user", "content": "Say hi."}], "completion": "Hi."}
BAD_PATHS = ["~no-such-user-here/rows.jsonl", "rows\x00.jsonl", "x" * 5_000, "/tmp/" + "d/" * 3_000 + "rows"]


@pytest.fixture()
async def core(tmp_path):
    # No job is meant to run: every spec here is refused at submit.
    core = await start_trainer_core(tmp_path / "data", lambda spec, out: [sys.executable, "-c", "pass"])
    yield core
    await core.close()


@pytest.fixture()
def rows(tmp_path):
    path = tmp_path / "rows.jsonl"
    path.write_text(json.dumps(ROW) + "\n")
    return path


def spec(rows, **fields) -> trainer_pb2.TrainJobSpec:
    values = {"kind": "lora", "data_path": str(rows), "adapter_name": "paths", "max_steps": 1} | fields
    return trainer_pb2.TrainJobSpec(**values)


@pytest.mark.parametrize("bad", BAD_PATHS)
@pytest.mark.parametrize("field", ["data_path", "base_model"])
async def test_an_impossible_path_is_an_invalid_argument(core, rows, field, bad):
    with pytest.raises(InvalidArgument) as caught:
        await core.submit_job(spec(rows, **{field: bad}))
    assert caught.value.field == field
    assert not core.jobs, "nothing was queued"


@pytest.mark.parametrize("bad", BAD_PATHS)
@pytest.mark.parametrize("key", ["init_adapter", "eval_data"])
async def test_an_impossible_path_in_the_params_is_an_invalid_argument(core, rows, key, bad):
    with pytest.raises(InvalidArgument) as caught:
        await core.submit_job(spec(rows, params_json=json.dumps({key: bad})))
    assert caught.value.field == "params_json"
