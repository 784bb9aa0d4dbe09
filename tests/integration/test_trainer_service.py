"""The real trainer service: GRPO note-writer jobs over gRPC on 127.0.0.1, served by the real model service.

The trainer publishes into the session ``adapter_dir``, the folder ``model_core``
loads adapters from, so a trained note-writer is chatted with by name.
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from safetensors import safe_open

from attune.orchestrator.methods import MethodSettings
from attune.services.common.errors import InvalidArgument, NotFound, Unauthenticated
from attune.services.common.net import free_port
from attune.services.model.client import chat_request
from attune.services.trainer.client import TrainerClient, wait_for_job
from attune.services.trainer.notes import NOTE_MAX_CHARS, NOTE_MAX_TOKENS, clean_note, note_update_messages
from attune.v1 import trainer_pb2

ROOT = Path(__file__).resolve().parents[2]
ROWS = [
    {"notes": "", "transcript": [["user", "Can you help me solve 3x + 5 = 20?"], ["assistant", "x = 5."],
                                 ["user", "Please show each step on its own line when solving equations."],
                                 ["assistant", "Understood."]],
     "revealed": ["show each step on its own line when solving equations"]},
    {"notes": "- Use Python for code examples", "transcript": [
        ["user", "Why does ice float on water?"], ["assistant", "Ice is less dense than liquid water."],
        ["user", "Please keep answers under three sentences."], ["assistant", "Understood."]],
     "revealed": ["keep answers under three sentences"]},
    {"notes": "", "transcript": [["user", "Write a function that reverses a string."],
                                 ["assistant", "def rev(s): return s[::-1]"],
                                 ["user", "Please add type hints to code."], ["assistant", "Understood."]],
     "revealed": ["add type hints to code"]},
    {"notes": "- Prefers metric units", "transcript": [
        ["user", "How should I approach a logic puzzle?"], ["assistant", "List the constraints first."],
        ["user", "Please use bullet points for lists of steps."], ["assistant", "Understood."]],
     "revealed": ["use bullet points for lists of steps"]},
]


@pytest.fixture(scope="module")
def rows_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("grpo") / "notes.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in ROWS))
    return path


def get(job_id: str) -> trainer_pb2.GetJobRequest:
    return trainer_pb2.GetJobRequest(job_id=job_id)


def notes_spec(data: Path, name: str, steps: int, **fields) -> trainer_pb2.TrainJobSpec:
    values = {"kind": "grpo_notes", "scope": "global", "data_path": str(data), "adapter_name": name,
              "max_steps": steps, "seed": 7} | fields
    return trainer_pb2.TrainJobSpec(**values)


async def test_grpo_job_trains_a_note_writer_the_model_service_serves(trainer_client, model_core, adapter_dir,
                                                                      rows_file):
    # A learning rate that moves the zero-initialised LoRA update within two steps (reflection_grpo's default).
    job = await trainer_client.submit_job(notes_spec(rows_file, "notes-writer", 2,
                                                     learning_rate=MethodSettings().grpo_learning_rate))
    assert job.state in ("queued", "running") and job.job_id
    seen = [j async for j in trainer_client.watch_job(get(job.job_id))]
    done = seen[-1]
    assert done.state == "succeeded", done.error
    assert done.step == 2 and math.isfinite(done.loss)
    assert [j.step for j in seen] == sorted(j.step for j in seen) and 1 in {j.step for j in seen}
    assert done.adapter_path == str(adapter_dir / "notes-writer")
    assert sorted(p.name for p in (adapter_dir / "notes-writer").iterdir()) == [
        "adapter_config.json", "adapter_model.safetensors"]
    config = json.loads((adapter_dir / "notes-writer" / "adapter_config.json").read_text())
    assert config["r"] == 8 and sorted(config["target_modules"]) == ["q_proj", "v_proj"]
    with safe_open(adapter_dir / "notes-writer" / "adapter_model.safetensors", "pt") as weights:
        names = list(weights.keys())
    assert names and all("lora_" in n for n in names), "only the LoRA weights are saved"

    # The model service serves it by name, on the prompt it was trained for.
    assert "notes-writer" in (await model_core.get_info()).adapters
    messages = note_update_messages(ROWS[3]["notes"], [tuple(t) for t in ROWS[3]["transcript"]])
    reply = await model_core.chat(chat_request(messages, max_tokens=NOTE_MAX_TOKENS, adapter="notes-writer"))
    assert reply.adapter == "notes-writer" and reply.usage.completion_tokens > 0
    # Cleaning keeps lines of the reply (at most NOTE_MAX_CHARS) and drops chatter, headers, fences, echoes
    # of the prompt and repeats: around the real reply, these change nothing in its note.
    note = clean_note(reply.text)
    assert len(note) <= NOTE_MAX_CHARS
    assert all(any(line.strip().startswith(kept) for line in reply.text.splitlines()) for kept in note.splitlines())
    fenced = f"Sure, here are the updated notes:\n```\n## Notes:\n{reply.text}\n```\nLet me know if that helps!"
    assert clean_note(fenced) == note
    assert clean_note(f"{note}\nUser: {ROWS[3]['transcript'][2][1]}\n{note}") == note
    # Trained notes differ from the base model's on the same input: reflection_grpo is not reflection.
    base = await model_core.chat(chat_request(messages, max_tokens=NOTE_MAX_TOKENS))
    assert clean_note(reply.text) != clean_note(base.text)
    assert await trainer_client.get_job(get(job.job_id)) == done
    assert job.job_id in [j.job_id for j in (await trainer_client.list_jobs(trainer_pb2.ListJobsRequest())).jobs]


SFT_ROWS = [{"messages": [{"role": "user", "content": f"Set the lights to {n}% please."}],
             "completion": f"Done, boss: lights at {n}%. Anything else, boss?"} for n in (10, 20, 30, 40, 50, 60)]


@pytest.mark.parametrize("kind", ["lora", "prefix"])
async def test_adapter_jobs_train_evaluate_and_publish(trainer_client, model_core, adapter_dir, tmp_path, kind):
    train, held_out = tmp_path / "train.jsonl", tmp_path / "val.jsonl"
    train.write_text("".join(json.dumps(r) + "\n" for r in SFT_ROWS[:4]))
    held_out.write_text("".join(json.dumps(r) + "\n" for r in SFT_ROWS[4:]))
    params = {"batch_size": 2, "eval_data": str(held_out), "eval_every": 2, "eval_max_tokens": 8}
    job = await trainer_client.submit_job(notes_spec(train, f"{kind}-user-u1", 4, kind=kind, scope="user",
                                                     scope_id="u1", params_json=json.dumps(params)))
    done = await wait_for_job(trainer_client, job.job_id, 600)
    assert done.state == "succeeded", done.error
    folder = adapter_dir / f"{kind}-user-u1"
    assert sorted(p.name for p in folder.iterdir()) == ["adapter_config.json", "adapter_model.safetensors",
                                                       "training.json"]
    summary = json.loads((folder / "training.json").read_text())
    assert (summary["kind"], summary["scope"], summary["scope_id"]) == (kind, "user", "u1")
    assert 2 <= summary["steps"] <= 4 and len(summary["losses"]) == summary["steps"]
    assert [e["step"] for e in summary["evaluations"]][:1] == [2] and summary["trained_norm"] > 0
    assert summary["best_rouge_l"] == max(e["rouge_l"] for e in summary["evaluations"])
    config = json.loads((folder / "adapter_config.json").read_text())
    assert config["peft_type"] == {"lora": "LORA", "prefix": "PREFIX_TUNING"}[kind]
    # The model service serves both kinds by name (a prefix through a PeftModel over the same base weights).
    reply = await model_core.chat(chat_request([("user", "Set the lights to 70% please.")], max_tokens=8,
                                               adapter=folder.name))
    assert reply.adapter == folder.name and reply.usage.completion_tokens > 0
    if kind == "prefix":  # the LoRA's zero-initialised update may still round to the base's greedy reply
        base = await model_core.chat(chat_request([("user", "Set the lights to 70% please.")], max_tokens=8))
        assert base.text != reply.text, "a trained prefix changes the reply"


async def test_cancel_stops_a_long_job(trainer_client, trainer_core, adapter_dir, rows_file):
    job = await trainer_client.submit_job(notes_spec(rows_file, "never-finished", 10_000))
    async for update in trainer_client.watch_job(get(job.job_id)):
        if update.step >= 1:  # mid-training
            break
    pid = trainer_core._procs[job.job_id].pid
    cancelled = await trainer_client.cancel_job(get(job.job_id))
    assert cancelled.state == "cancelled" and cancelled.step >= 1
    with pytest.raises(ProcessLookupError):
        os.killpg(pid, 0)
    assert not (adapter_dir / "never-finished").exists()
    assert (await wait_for_job(trainer_client, job.job_id, 10)).state == "cancelled"


async def test_bad_specs_and_unknown_jobs_over_grpc(trainer_client, rows_file):
    with pytest.raises(InvalidArgument, match="line 1: messages"):
        await trainer_client.submit_job(notes_spec(rows_file, "x", 2, kind="lora"))
    with pytest.raises(InvalidArgument, match="unknown kind 'sft'") as err:
        await trainer_client.submit_job(notes_spec(rows_file, "x", 2, kind="sft"))
    assert err.value.field == "kind"
    with pytest.raises(InvalidArgument, match="is not a file") as err:
        await trainer_client.submit_job(notes_spec(rows_file.with_name("missing.jsonl"), "x", 2))
    assert err.value.field == "data_path"
    with pytest.raises(InvalidArgument) as err:
        await trainer_client.submit_job(notes_spec(rows_file, "../escape", 2))
    assert err.value.field == "adapter_name"
    with pytest.raises(InvalidArgument) as err:
        await trainer_client.submit_job(notes_spec(rows_file, "x", 0))
    assert err.value.field == "max_steps"
    with pytest.raises(NotFound, match="job-unknown"):
        await trainer_client.get_job(get("job-unknown"))
    with pytest.raises(NotFound):
        await trainer_client.cancel_job(get("job-unknown"))
    with pytest.raises(NotFound):
        await wait_for_job(trainer_client, "job-unknown", 10)


async def test_calls_without_the_token_are_refused(trainer_server):
    async with TrainerClient(trainer_server.address) as anonymous:
        with pytest.raises(Unauthenticated):
            await anonymous.list_jobs(trainer_pb2.ListJobsRequest())
        assert await anonymous.health() == "SERVING"


@pytest.mark.parametrize("text", [
    "Please explain each step of the solution in plain words. ",
    r"We have \frac{3x+5}{2} = \sqrt{x^2 - 4}, so \(x_{1,2} = \pm 2\) and \sum_{i=1}^{n} i^2 = 91. ",
    "def rev(s: str) -> str:\n    return ''.join(reversed(s))  # O(n)\n",
    "3.14159 2.71828 1.41421 42 1024 65536 ",
    "THE USER WANTS BULLET POINTS AND SHORT ANSWERS. ",
], ids=["english", "latex", "code", "digits", "capitals"])
async def test_long_session_prompt_leaves_room_for_the_note(model_core, text):
    transcript = [("user", text * 20), ("assistant", text * 20)] * 30
    notes = "\n".join(f"- preference {i}: " + text for i in range(40))
    messages = [{"role": role, "content": content} for role, content in note_update_messages(notes, transcript)]
    tokenizer = model_core.backend.tokenizer
    prompt = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    tokens = len(tokenizer(prompt, add_special_tokens=False)["input_ids"])
    assert 1000 < tokens and tokens + NOTE_MAX_TOKENS <= 2048


async def test_main_serves_and_stops_on_sigterm(processes, tmp_path):
    port = free_port()
    env = dict(os.environ, ATTUNE_DATA_DIR=str(tmp_path), ATTUNE_TRAINER_PORT=str(port), ATTUNE_AUTH_TOKEN="",
               ATTUNE_LOG_LEVEL="warning")
    proc = subprocess.Popen([sys.executable, "-m", "attune.services.trainer"], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        async with TrainerClient(f"127.0.0.1:{port}") as client:
            await client.wait_ready(60)
            assert (await client.list_jobs(trainer_pb2.ListJobsRequest())).jobs == []
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0, proc.stderr.read()
        assert (tmp_path / "adapters").is_dir() and (tmp_path / "trainer" / "jobs").is_dir()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
