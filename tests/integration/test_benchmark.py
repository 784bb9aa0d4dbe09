"""The multi-session benchmark end to end with the real SmolLM2: all seven methods, in process and over gRPC.

Small on purpose (2 profiles x 2 sessions, 2 turns, short replies): the point is
that every method runs every session through the real services, the session log
holds what the issue promises, and a killed run resumes without repeating or
losing a session.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from attune.orchestrator.benchmark.experiment import parse_experiment
from attune.orchestrator.benchmark.records import SessionLog
from attune.orchestrator.benchmark.run import run_experiment
from attune.orchestrator.benchmark.summary import run_pairs, summarize
from attune.orchestrator.methods import METHODS
from attune.orchestrator.report import write_report
from attune.services.common.settings import CommonSettings

ROOT = Path(__file__).resolve().parents[2]
ALL_METHODS = ["vanilla", "contextual", "reflection", "reflection_grpo", "all_memory", "rag", "rag_vector",
               "lora_user"]
# Sessions of small_experiment: every method, one user, two sessions.
SESSIONS = len(ALL_METHODS) * 2
# The in-process run's seed: both of its queries state a preference ("Please don't list the reasons as
# bullets", "I'd like it explained"), so the methods that extract cards have some to keep.
CARD_SEED = 35


# Contrast pairs the judge is asked about (both replies of each), from the seeded sample.
CONTRAST_PAIRS = 6
GRPC_TOKEN = "benchmark-test-token"


@pytest.fixture()
async def grpc_stack(model_core, embedder, trainer_core, data_dir, tmp_path, monkeypatch):
    """Every service the methods use, each a real gRPC server on 127.0.0.1 with one auth token.

    The model is the session's loaded SmolLM2; stores are fresh; the trainer writes where the model reads.
    Returns the CommonSettings a client process would have (the targets are in the environment).
    """
    from attune.services.common.launch import serve_core
    from attune.services.extractor.core import ExtractorService
    from attune.services.extractor.gate import PreferenceGate
    from attune.services.extractor.settings import ExtractorSettings
    from attune.services.retrieval.core import RetrievalService
    from attune.services.retrieval.settings import RetrievalSettings
    from attune.services.retrieval.store import EdgeCardStore
    from attune.services.uservec.core import UserVectorService
    from attune.services.uservec.settings import UserVecSettings
    from tests.conftest import start_server

    uservec = UserVectorService(UserVecSettings(), tmp_path / "uservec")
    await uservec.start()
    extractor = ExtractorService(ExtractorSettings(), model_core, PreferenceGate(embedder))
    await extractor.start()
    retrieval = RetrievalService(RetrievalSettings(), embedder,
                                 EdgeCardStore(tmp_path / "retrieval", embedder.id, embedder.dim),
                                 model=model_core, uservec=uservec)
    servers = {"model": await start_server(model_core, token=GRPC_TOKEN)}
    cores = {"extractor": extractor, "retrieval": retrieval, "uservec": uservec, "trainer": trainer_core}
    for name, core in cores.items():
        servers[name] = await serve_core(name, core, token=GRPC_TOKEN)
    for name, server in servers.items():
        monkeypatch.setenv(f"ATTUNE_{name.upper()}_TARGET", server.address)
    yield CommonSettings(data_dir=data_dir, auth_token=GRPC_TOKEN)
    for server in servers.values():
        await server.stop()
    for core in (retrieval, extractor, uservec):
        await core.close()


def small_experiment(**overrides):
    # One user, two sessions (memory carries over), one turn each, both sessions conflict queries: small
    # enough for CI on two cores, and every method, the judge and each kind of verdict still run.
    return parse_experiment({
        "name": "e2e", "methods": ALL_METHODS, "datasets": ["math-500", "mmlu"], "n_profiles": 1, "n_sessions": 2,
        "max_turns": 1, "conflict_share": 1.0, "seed": 3, "concurrency": 8,
        "method_settings": {"max_reply_tokens": 32, "grpo_steps": 1, "grpo_rows": 2, "context_budget_tokens": 200,
                            "summary_max_tokens": 48},
        "simulator": {"max_tokens": 96}, "judge": {"contrast_pairs": CONTRAST_PAIRS},
        **overrides,
    }, "test")


def check_log(output_dir: Path, methods: list[str], n_sessions: int = 2) -> list[dict]:
    records = [r.model_dump(mode="json") for r in SessionLog(output_dir / "sessions.jsonl").load().values()]
    keys = [(r["method"], r["profile_id"], r["session"]) for r in records]
    assert len(keys) == len(set(keys)) == len(methods) * n_sessions
    assert {r["method"] for r in records} == set(methods)
    for r in records:
        assert len(r["turns"]) == 1
        assert r["tokens"]["agent"]["completion"] > 0 and r["tokens"]["user_simulator"]["prompt"] > 0
        assert r["total_tokens"] == sum(v["prompt"] + v["completion"] for v in r["tokens"].values())
        for turn in r["turns"]:
            assert turn["assistant"].strip(), "every agent turn has text"
            assert set(turn["verdict"]) >= {"satisfied", "enforce", "enforce_id", "draft_answer", "end_session"}
            assert set(turn["verdict"]["satisfied"]) <= set(r["applicable"])
        assert isinstance(r["task_success"], bool) and r["task_detail"]
        assert r["metrics"]["user_turns"] == len(r["turns"])
    # The same users meet the same problems and conflict queries whatever the method.
    by_slot = {}
    for r in records:
        by_slot.setdefault((r["profile_id"], r["session"]), set()).add((r["problem_id"], r["query"]))
    assert all(len(v) == 1 for v in by_slot.values())
    return records


async def test_all_methods_in_process(processes, model_core, adapter_dir, data_dir, tmp_path, monkeypatch):
    # One torch thread for the GRPO job: it shares the cores with the model in this process.
    monkeypatch.setenv("ATTUNE_TRAINER_JOB_THREADS", "1")
    out = tmp_path / "run"
    common = CommonSettings(data_dir=data_dir)
    answered_by, chat = [], model_core.chat

    async def spy(request):  # which adapter answered each lora_user request (the real model answers)
        if request.context.method == "lora_user" and request.context.caller_role == "agent":
            answered_by.append((request.context.session_id, request.adapter))
        return await chat(request)

    monkeypatch.setattr(model_core, "chat", spy)
    exp = small_experiment(seed=CARD_SEED)
    result = await run_experiment(exp, out, common, json_logs=True, model=model_core)
    assert result.failures == [] and result.finished == SESSIONS
    records = check_log(out, ALL_METHODS)
    by_method = {}
    for r in records:
        by_method.setdefault(r["method"], []).append(r)
    assert any(r["conflict"] for r in records), "conflict_share 0.5 yields conflict queries"
    second = [r for r in by_method["reflection"] if r["session"] == 2]
    assert all(r["memory"]["notes"] for r in by_method["reflection"]), "notes are written after each session"
    assert all(r["turns"][0]["memory_used"] for r in second), "session 2 starts from the notes of session 1"
    assert all(r["memory"]["sessions"] for r in by_method["contextual"])
    assert all("memory" in r["tokens"] for r in by_method["reflection_grpo"]), "the note-writer's tokens count"
    assert any(p.name.startswith("notes-grpo") for p in adapter_dir.iterdir()), "GRPO note-writer trained"
    cards = {r["session"]: {c["card_id"] for c in r["memory"]["cards"]} for r in by_method["all_memory"]}
    assert cards[1] and cards[1] <= cards[2], "the extractor's cards of session 1 are kept in session 2"
    assert all("extractor" in r["tokens"] for r in by_method["all_memory"]), "the extractor's tokens count"
    assert set(METHODS) >= set(ALL_METHODS)
    vectors = [r["memory"]["user_vector"] for r in sorted(by_method["rag_vector"], key=lambda r: r["session"])]
    assert all(len(v["z_long"]) == len(vectors[0]["z_long"]) > 0 for v in vectors), "z_long after each session"
    assert vectors[0]["updates"] <= vectors[-1]["updates"]
    assert "User vectors learned by rag_vector" in write_report([out]).markdown.read_text()
    check_lora_user(sorted(by_method["lora_user"], key=lambda r: r["session"]), answered_by, adapter_dir)
    split = json.loads((out / "work" / "training_split.json").read_text())
    assert split["training"] and not set(split["training"]) & set(split["evaluated"]), "GRPO never sees a test user"
    check_judged(out, result.judge)

    again = await run_experiment(exp, out, common, json_logs=True, model=model_core)
    assert again.finished == 0 and again.resumed == SESSIONS, "a finished run resumes to nothing"
    assert again.judge.judged == 0 and again.judge.resumed == SESSIONS, "and is judged once"


def check_lora_user(records: list[dict], answered_by: list[tuple[str, str]], adapter_dir: Path) -> None:
    """Session 1 trains the user's adapter (a real trainer job); session 2 is answered through it."""
    first, second = (r["memory"] for r in records)
    assert first["adapter"] and (adapter_dir / first["adapter"] / "adapter_model.safetensors").is_file()
    assert first["training"]["steps"] > 0 and first["training"]["tokens"] > 0
    assert records[0]["tokens"]["training"]["prompt"] == first["training"]["tokens"], "training tokens count"
    assert len(second["rows"]) == len(first["rows"]) + 1 and second["adapter"] != first["adapter"]
    assert answered_by == [("1", ""), ("2", first["adapter"])]


def check_judged(out: Path, judged) -> None:
    """Every session judged; the summary has every method; the planted wrong answers are refused."""
    assert judged is not None and judged.failures == [] and judged.judged == SESSIONS and judged.planted > 0
    pairs = run_pairs(out)
    assert len(pairs) == SESSIONS and all(j is not None for _, j in pairs)
    rows = {r["method"]: r for r in summarize(pairs)}
    assert set(rows) == set(ALL_METHODS)
    for row in rows.values():
        assert row["agent_tokens"] > 0 and row["user_tokens"] is not None and row["task_success"] is not None
    assert any(row["conflict_accuracy"] is not None for row in rows.values()), "conflict sessions are judged"
    audit = json.loads((out / "audit.json").read_text())
    wrong = audit["false_accepts"]["wrong_answer"]
    assert wrong["n"] > 0 and wrong["judge"] == 0.0, "the dataset's check decides and refuses a wrong answer"
    assert audit["judge"]["prompt_hash"]
    assert audit["agreement"]["task"]["n"] == 0, "the datasets' checks decide task success: the LLM is not asked"
    contrast = audit["contrast"]
    asked = sum(contrast[d][rate]["n"] for d in ("checker", "llm") for rate in ("false_accept", "false_reject"))
    assert asked + contrast["unjudged"] == 2 * CONTRAST_PAIRS, "both replies of every sampled pair"
    checker = contrast["checker"]
    assert checker["false_accept"]["k"] == checker["false_reject"]["k"] == 0, "the checkers decide their pairs"


async def test_all_methods_over_grpc(grpc_stack, tmp_path):
    out = tmp_path / "run"
    # Judged in process by test_all_methods_in_process and over gRPC by test_judge_service: not again here.
    result = await run_experiment(small_experiment(transport="grpc", n_sessions=1, judge={"enabled": False}), out,
                                  grpc_stack, json_logs=True)
    assert result.failures == [] and result.finished == len(ALL_METHODS)
    records = check_log(out, ALL_METHODS, n_sessions=1)
    assert all(r["user_id"].startswith("run.") for r in records)


def test_killed_run_resumes_without_repeating_or_losing(processes, tmp_path, data_dir):
    out, experiment = tmp_path / "killed", tmp_path / "killed.yaml"
    # Short turns (one per session, short replies, a short simulator): what is tested is the kill and the resume.
    experiment.write_text(json.dumps({"name": "killed", "simulator": {"max_tokens": 64}}))
    command = [sys.executable, "-m", "attune.orchestrator.cli", "run", str(experiment), "--methods", "vanilla,rag",
               "--datasets", "math-500", "--n-profiles", "2", "--n-sessions", "2", "--max-turns", "1",
               "--max-reply-tokens", "24", "--concurrency", "1", "--seed", "5", "--output-dir", str(out), "--json-logs",
               "--no-judge"]
    env = dict(os.environ, ATTUNE_DATA_DIR=str(data_dir))
    log = out / "sessions.jsonl"
    proc = subprocess.Popen(command, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 600
        while not (log.exists() and log.read_text().count("\n") >= 2):
            assert proc.poll() is None, "the run ended before it could be killed"
            assert time.monotonic() < deadline, "no session finished in time"
            time.sleep(0.5)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    before = log.read_text().splitlines()
    with log.open("a") as f:
        f.write('{"method": "vanilla", "profile_id": "torn')  # a write cut off by the kill
    resumed = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    after = log.read_text().splitlines()
    assert after[:len(before)] == before, "finished sessions are kept as written"
    records = [json.loads(line) for line in after]
    keys = [(r["method"], r["profile_id"], r["session"]) for r in records]
    assert len(keys) == len(set(keys)) == 8, "every session once, none repeated, none lost"
    for method in ("vanilla", "rag"):
        for profile in {r["profile_id"] for r in records}:
            sessions = [r["session"] for r in records if r["method"] == method and r["profile_id"] == profile]
            assert sorted(sessions) == [1, 2]


async def test_the_same_seed_gives_the_same_transcripts_and_verdicts(model_core, data_dir, tmp_path):
    """Every model call is seeded: two runs of one experiment agree turn for turn and verdict for verdict
    (one chain at a time, so that the batches, and with them the float sums, are the same too)."""
    exp = small_experiment(methods=["rag"], n_profiles=1, n_sessions=1, concurrency=1, seed=11,
                           method_settings={"max_reply_tokens": 24}, simulator={"max_tokens": 96},
                           judge={"concurrency": 1, "contrast_pairs": 2})
    common = CommonSettings(data_dir=data_dir)
    runs = []
    for name in ("first", "second"):
        result = await run_experiment(exp, tmp_path / name, common, json_logs=True, model=model_core)
        assert result.failures == [] and result.judge.failures == []
        runs.append(run_pairs(tmp_path / name))
    for (rec_a, judged_a), (rec_b, judged_b) in zip(*runs, strict=True):
        assert [t.model_dump() for t in rec_a.turns] == [t.model_dump() for t in rec_b.turns]
        assert judged_a.model_dump() == judged_b.model_dump()
    seeds = json.loads((tmp_path / "first" / "provenance.json").read_text())[0]["seeds"]
    assert seeds["experiment"] == 11 and "judge_calls" in seeds and "user_simulator_calls" in seeds
