"""Pure logic of the benchmark: experiment validation, the simulator's rules, the summary.

The session log and its records are tested in test_records.py.
"""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from attune.orchestrator.benchmark.experiment import ExperimentError, load_experiment, parse_experiment
from attune.orchestrator.benchmark.runner import check_output_dir
from attune.orchestrator.benchmark.simulator import UserSimulator, Verdict, parse_verdict, verdict_schema
from attune.orchestrator.methods import METHODS, Ledger, UnknownMethod, method_class
from attune.services.common.files import shipped_files

BASE = {"methods": ["vanilla"], "datasets": ["math-500"]}
SHIPPED = shipped_files("attune.orchestrator", "experiments", ".yaml")


def test_the_shipped_experiments_load_by_name_and_by_path():
    assert {"demo", "small", "full", "memory_conflicts"} <= set(SHIPPED)
    names = {load_experiment(name).name for name in SHIPPED}
    assert {"demo", "small", "full", "memory-conflicts"} <= names
    assert {load_experiment(path).name for path in SHIPPED.values()} == names
    assert load_experiment("demo.yaml").name == "demo"


def test_a_file_of_the_users_wins_over_a_shipped_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "demo").write_text("name: mine\nmethods: [vanilla]\ndatasets: [math-500]\n")
    assert load_experiment("demo").name == "mine"
    with pytest.raises(ExperimentError, match="attune ships: demo, full, memory_conflicts, small, validity"):
        load_experiment("nope")


def test_the_eight_methods_and_the_two_bounds_are_registered_and_unknown_names_raise():
    contenders = {name for name, cls in METHODS.items() if not cls.bound}
    assert contenders == {"vanilla", "contextual", "reflection", "reflection_grpo", "all_memory", "rag",
                          "rag_vector", "lora_user"}
    assert {name: cls.bound for name, cls in METHODS.items() if cls.bound} == {"oracle": "upper",
                                                                                 "anti_oracle": "lower"}
    with pytest.raises(UnknownMethod, match="unknown method 'memgpt'; known: all_memory"):
        method_class("memgpt")


@pytest.mark.parametrize("change, message", [
    ({"methods": ["vanilla", "telepathy"]}, "methods: .*unknown method\\(s\\) telepathy; known: all_memory"),
    ({"datasets": ["math-5000"]}, "datasets: .*unknown dataset\\(s\\) math-5000; known: .*math-500"),
    ({"n_sesions": 2}, "n_sesions: Extra inputs are not permitted"),
    ({"dataset_sources": {"math-500": "/no/such/file.jsonl"}}, "/no/such/file.jsonl does not exist"),
    ({"dataset_sources": {"mmlu": "x"}}, "names 'mmlu', which is not in datasets"),
    ({"profiles": "/no/profiles.jsonl"}, "profiles: /no/profiles.jsonl does not exist"),
    ({"conflict_share": 1.5}, "conflict_share: Input should be less than or equal to 1"),
    ({"method_settings": {"max_reply_token": 5}}, "method_settings.max_reply_token: Extra inputs"),
    ({"transport": "carrier-pigeon"}, "transport: Input should be 'in_process' or 'grpc'"),
])
def test_bad_experiments_are_refused_naming_the_key(change, message):
    with pytest.raises(ExperimentError, match=message):
        parse_experiment({**BASE, **change}, "test")


def test_hub_sources_are_not_checked_as_paths():
    exp = parse_experiment({**BASE, "dataset_sources": {"math-500": "hub"}})
    assert exp.dataset_sources == {"math-500": "hub"}


def test_experiment_file_and_overrides(tmp_path):
    path = tmp_path / "exp.yaml"
    path.write_text("methods: [vanilla, rag]\ndatasets: [mmlu]\nn_profiles: 3\n")
    exp = load_experiment(path, {"n_profiles": 5})
    assert exp.methods == ["vanilla", "rag"] and exp.n_profiles == 5
    path.write_text("- just\n- a list\n")
    with pytest.raises(ExperimentError, match="expected a mapping"):
        load_experiment(path)
    with pytest.raises(ExperimentError, match="does not exist"):
        load_experiment(tmp_path / "missing.yaml")


def test_output_dir_refuses_another_experiment(tmp_path):
    check_output_dir(parse_experiment(BASE), tmp_path)
    check_output_dir(parse_experiment({**BASE, "concurrency": 16}), tmp_path)  # concurrency may change
    with pytest.raises(ExperimentError, match="differs in: n_sessions"):
        check_output_dir(parse_experiment({**BASE, "n_sessions": 9}), tmp_path)


IDS = ["format.bullets", "verbosity.concise"]
PREFS = [SimpleNamespace(id="format.bullets", preference="use bullet points", condition="when listing",
                         enforce_if="no bullets"),
         SimpleNamespace(id="verbosity.concise", preference="keep answers short", condition="when I say quick",
                         enforce_if="long reply")]


def verdict_json(**fields) -> str:
    base = {"satisfied": {}, "asked_clarifying_question": False, "enforce": False, "enforce_id": "",
            "draft_answer": "", "end_session": False, "message": "ok"}
    return json.dumps({**base, **fields})


def test_verdict_parsing_keeps_known_ids_only():
    v = parse_verdict(verdict_json(satisfied={"format.bullets": True, "made.up": True, "verbosity.concise": False},
                                   enforce=True, enforce_id="made.up"), IDS)
    assert v.satisfied == ["format.bullets"]
    assert parse_verdict(verdict_json(satisfied=["verbosity.concise", "x"]), IDS).satisfied == ["verbosity.concise"]
    assert v.enforce is False, "an enforcement must name an applicable preference"
    assert parse_verdict("[1, 2]", IDS) is None
    assert parse_verdict('{"message": "hi", "enforce": true, "enforce_id": "format.bullets"', IDS).enforce


def test_verdict_schema_lists_the_applicable_ids():
    schema = verdict_schema(IDS)
    assert schema["properties"]["enforce_id"]["enum"] == [*IDS, ""]
    assert schema["properties"]["satisfied"]["required"] == IDS
    assert verdict_schema([])["properties"]["satisfied"]["properties"] == {}


def rules(verdict: Verdict, reply: str = "Here is the answer.", draft: str = "x = 3") -> Verdict:
    return UserSimulator(model=None)._apply_rules(verdict, reply, PREFS, draft)


def test_no_enforcement_while_the_agent_asks_a_clarifying_question():
    v = rules(Verdict(enforce=True, enforce_id="format.bullets", message="bullets!"), reply="Which method?")
    assert v.clarifying and not v.enforce and v.enforce_id == ""


def test_a_reply_without_a_question_is_not_a_clarifying_question():
    v = rules(Verdict(clarifying=True, enforce=True, enforce_id="format.bullets", message="bullets please"))
    assert not v.clarifying and v.enforce


def test_enforcement_names_the_preference_and_keeps_the_draft():
    v = rules(Verdict(enforce=True, enforce_id="verbosity.concise", satisfied=["verbosity.concise"],
                      draft_answer="x = 4", end_session=True, message="Hmm."))
    assert v.message.startswith("Please keep answers short.")
    assert v.draft_answer == "x = 3", "the draft changes only after a compliant reply"
    assert v.satisfied == [] and not v.end_session


def test_compliant_reply_updates_the_draft():
    assert rules(Verdict(draft_answer="x = 4")).draft_answer == "x = 4"
    assert rules(Verdict(draft_answer="")).draft_answer == "x = 3"


def test_ledger_merges_and_totals():
    from attune.v1 import common_pb2

    a, b = Ledger(), Ledger()
    a.add("agent", common_pb2.TokenUsage(prompt_tokens=10, completion_tokens=5))
    b.add("agent", common_pb2.TokenUsage(prompt_tokens=1, completion_tokens=1))
    b.add("user_simulator", common_pb2.TokenUsage(prompt_tokens=7, completion_tokens=3))
    a.merge(b)
    assert a.tokens["agent"] == {"prompt": 11, "completion": 6, "calls": 2}
    assert a.total() == 27


def test_grpo_note_examples_reveal_profile_preferences():
    from attune.orchestrator.methods.reflection_grpo import note_examples

    profile = SimpleNamespace(preferences=PREFS)
    rows = note_examples([profile], rows=3, seed=1)
    assert len(rows) == 3 and rows == note_examples([profile], rows=3, seed=1)
    for row in rows:
        assert row["revealed"] and all(any(p in turn[1] for turn in row["transcript"]) for p in row["revealed"])


class EchoModel:
    """Answers every chat with a numbered reply (the row logic of lora_user is pure; the e2e test trains)."""

    def __init__(self):
        self.adapters: list[str] = []

    async def chat(self, request):
        from attune.v1 import common_pb2, model_pb2

        self.adapters.append(request.adapter)
        return model_pb2.ChatResponse(text=f"reply {len(self.adapters)}", usage=common_pb2.TokenUsage())


async def test_lora_user_learns_accepted_replies_and_corrected_ones_against_the_first_request():
    from attune.orchestrator.methods import Context, MethodSettings
    from attune.orchestrator.methods.lora_user import LoraUser

    method = LoraUser(SimpleNamespace(model=EchoModel()), MethodSettings())
    await method.start_session(Context("run", "u1", 1))
    ledger = Ledger()
    await method.respond("u1", "Solve 2x = 4.", ledger)
    await method.respond("u1", "Thanks, that helps. Now 3x = 9?", ledger)  # accepts reply 1
    await method.respond("u1", "No, I said use bullet points.", ledger)  # corrects reply 2
    await method.respond("u1", "Still wrong, don't number them.", ledger)  # corrects reply 3 too
    rows = method.rows["u1"]
    assert [r["completion"] for r in rows] == ["reply 1"]
    assert rows[0]["messages"][-1] == {"role": "user", "content": "Solve 2x = 4."}
    pending = method.pending["u1"]
    # Reply 4 answers the second correction; it waits to be judged against the request it finally answers.
    assert pending.reply == "reply 4" and pending.prompt[-1] == ("user", "Thanks, that helps. Now 3x = 9?")
    assert method.services.model.adapters == ["", "", "", ""], "no adapter before the first session ends"


async def test_lora_user_snapshot_restores_the_adapter_and_rows():
    from attune.orchestrator.methods import MethodSettings
    from attune.orchestrator.methods.lora_user import LoraUser, adapter_name

    state = {"adapter": adapter_name("run", "u1", 1), "rows": [{"messages": [{"role": "user", "content": "hi"}],
                                                                "completion": "hello"}], "training": {"steps": 3}}
    method = LoraUser(SimpleNamespace(model=EchoModel()), MethodSettings())
    await method.restore("u1", state)
    assert method.snapshot("u1") == state
    assert adapter_name("run", "u1", 1) != adapter_name("run", "u2", 1) != adapter_name("run", "u1", 2)
    assert len(adapter_name("r" * 500, "u" * 500, 10**6)) < 128


def test_shard_ranges_cover_the_profiles_in_order_balanced_to_one():
    from attune.orchestrator.benchmark.shards import shard_ranges

    assert shard_ranges(60, 12) == [(5 * i, 5 * i + 5) for i in range(12)]
    ranges = shard_ranges(10, 4)
    assert ranges == [(0, 3), (3, 6), (6, 8), (8, 10)]
    for count in range(1, 11):
        got = shard_ranges(10, count)
        assert [a for a, _ in got[1:]] == [b for _, b in got[:-1]] and got[0][0] == 0 and got[-1][1] == 10
        assert max(b - a for a, b in got) - min(b - a for a, b in got) <= 1
    with pytest.raises(ExperimentError, match="11 shards for 10 profiles"):
        shard_ranges(10, 11)


def test_a_shard_plan_is_fixed_and_one_caller_takes_the_merge_lock(tmp_path):
    from attune.orchestrator.benchmark.shards import Shard, all_done, mark_done, record_plan, take_merge_lock

    assert record_plan(tmp_path, 5, 2) == [(0, 3), (3, 5)]
    assert record_plan(tmp_path, 5, 2) == [(0, 3), (3, 5)], "the same plan again is fine"
    with pytest.raises(ExperimentError, match="planned with other shards"):
        record_plan(tmp_path, 5, 3)
    with pytest.raises(ExperimentError, match="index must be in 0..1"):
        Shard(2, 2)
    mark_done(tmp_path, Shard(0, 2), 3)
    assert not all_done(tmp_path, 2)
    mark_done(tmp_path, Shard(1, 2), 2)
    assert all_done(tmp_path, 2)
    assert [take_merge_lock(tmp_path) for _ in range(3)] == [True, False, False]
