"""The adapter study's phase A pieces: the EdgeWisePersona format, the generator, cleaning, splits, features."""

from __future__ import annotations

import json

import numpy as np
import pytest

from attune.orchestrator.study import features, splits
from attune.orchestrator.study.data import StudyDataError, load_folder, write_folder
from attune.orchestrator.study.examples import Baseline, session_examples
from attune.orchestrator.study.generate import generate_corpus
from attune.orchestrator.study.persona import persona_scores


@pytest.fixture()
def corpus_dir(tmp_path):
    return write_folder(generate_corpus(3, 10, seed=1), tmp_path / "corpus")


def test_the_generator_is_seeded_and_round_trips_through_the_format(corpus_dir):
    again = generate_corpus(3, 10, seed=1)
    assert load_folder(corpus_dir) == again
    assert generate_corpus(3, 10, seed=2) != again
    lines = (corpus_dir / "sessions.jsonl").read_text().splitlines()
    first = json.loads(lines[0])["sessions"][0]
    assert set(first) == {"session_id", "meta", "messages", "applied_routines", "session_summarization"}
    assert set(first["meta"]) == {"time_of_day", "day_of_week", "sun_phase", "weather", "outdoor_temp"}
    routines = json.loads((corpus_dir / "routines.jsonl").read_text().splitlines()[0])["routines"]
    assert routines and set(routines[0]["actions"]) <= {"tv", "ac", "lights", "speaker", "security"}
    users = load_folder(corpus_dir)
    assert any(s.applied_routines for u in users for s in u.sessions), "routines drive sessions"
    assert any(not s.applied_routines for u in users for s in u.sessions), "and some sessions are spontaneous"


def test_a_missing_file_is_named(corpus_dir):
    (corpus_dir / "routines.jsonl").unlink()
    with pytest.raises(StudyDataError, match="missing routines.jsonl"):
        load_folder(corpus_dir)


def test_files_that_do_not_align_are_refused(corpus_dir):
    path = corpus_dir / "characters.jsonl"
    path.write_text("".join(path.read_text().splitlines(keepends=True)[:2]))
    with pytest.raises(StudyDataError, match="not line-aligned: characters.jsonl has 2 lines, routines.jsonl has 3"):
        load_folder(corpus_dir)


@pytest.mark.parametrize(("edit", "message"), [
    (lambda s: s[0].update(messages=[]), "sessions.jsonl: line 2: sessions.0.messages"),
    (lambda s: s[0]["messages"][0].update(role="robot"), "line 2: sessions.0.messages.0.role"),
    (lambda s: s[0]["meta"].pop("weather"), "line 2: sessions.0.meta.weather"),
    (lambda s: s[0].update(applied_routines=[99]), "line 2: sessions.0.applied_routines: [99] is not a routine"),
    (lambda s: s[1].update(session_id=s[0]["session_id"]), "line 2: sessions: session_id repeats"),
])
def test_a_bad_record_is_refused_with_file_line_and_field(corpus_dir, edit, message):
    path = corpus_dir / "sessions.jsonl"
    lines = path.read_text().splitlines()
    second = json.loads(lines[1])
    edit(second["sessions"])
    lines[1] = json.dumps(second)
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(StudyDataError, match=message.replace("[", r"\[").replace("]", r"\]")):
        load_folder(corpus_dir)


def test_cleaning_counts_what_it_drops(corpus_dir):
    users = load_folder(corpus_dir)
    first = users[0]
    repeated = first.sessions[0].model_copy(update={"session_id": 100})
    no_reply = first.sessions[1].model_copy(update={"session_id": 101, "messages": first.sessions[1].messages[:1]})
    users[0] = first.model_copy(update={"sessions": [*first.sessions, repeated, no_reply]})
    kept, counts = splits.clean(users, min_sessions=5)
    assert counts["sessions_repeated"] >= 1 and counts["sessions_without_reply"] == 1
    assert counts["sessions_out"] == counts["sessions_in"] - counts["sessions_repeated"] - 1
    _, strict = splits.clean(users, min_sessions=50)
    assert strict["users_too_few_sessions"] == 3 and strict["users_out"] == 0


def test_time_split_is_60_20_20_in_order_with_an_online_tail():
    split = splits.time_split(list(range(20)), online=8)
    assert (split.train, split.val, split.test) == (list(range(12)), list(range(12, 16)), list(range(16, 20)))
    assert split.online == list(range(4, 12))
    small = splits.time_split([3, 5, 9])
    assert (small.train, small.val, small.test) == ([3], [5], [9])
    with pytest.raises(StudyDataError, match="at least 3 sessions"):
        splits.time_split([1, 2])
    assert all(r["valid"] for r in splits.validate({"u": split}).values())


def test_validation_catches_overlap_order_and_coverage():
    bad = {"u": splits.UserSplit(train=[0, 5], val=[5], test=[], online=[9])}
    report = splits.validate(bad)
    assert report["no_overlap"]["errors"] == ["u: train and val share sessions"]
    assert report["temporal_order"]["errors"] and report["online_in_train"]["errors"]
    assert report["minimum_coverage"]["errors"] == ["u: test has 0 sessions (minimum 1)"]


def test_a_shared_split_file_maps_global_indexes_to_sessions(corpus_dir, tmp_path):
    users = load_folder(corpus_dir)
    shared = {"persona_001": {"train": [10, 11, 12, 13, 14, 15], "val": [16, 17], "test": [18, 19],
                              "online": [14, 15]}, "persona_777": {"train": [], "val": [], "test": [], "online": []}}
    path = tmp_path / "splits.json"
    path.write_text(json.dumps(shared))
    loaded = splits.load_split_file(path, users, sessions_per_user=10)
    assert list(loaded) == ["persona_001"]
    assert loaded["persona_001"].test == [8, 9] and loaded["persona_001"].online == [4, 5]


def test_statistics_and_the_cold_start_set(corpus_dir):
    users = load_folder(corpus_dir)
    user_splits = splits.split_users(users, 0.6, 0.2, 4)
    stats = splits.statistics(user_splits)
    assert stats["users"] == 3 and stats["sessions"] == sum(len(u.sessions) for u in users)
    assert sum(stats["per_split"][s] for s in splits.SPLITS) == stats["sessions"]
    cold = splits.cold_start(users, user_splits, ["persona_002"], messages=1)
    assert cold == [{"persona_id": "persona_002", "dialogue_idx": user_splits["persona_002"].test[0],
                     "messages": [cold[0]["messages"][0]]}] and cold[0]["messages"][0]["role"] == "user"


def test_style_features_and_clusters():
    formal = features.style(["Good evening. Would you kindly set the lights, please? Thank you, that is lovely."])
    casual = features.style(["yo set lights ugh"])
    assert formal["formality"] > 0 > casual["formality"]
    assert formal["sentiment"] > 0 > casual["sentiment"] and formal["verbosity"] > casual["verbosity"]
    styles = {f"f{i}": formal for i in range(3)} | {f"c{i}": casual for i in range(3)}
    labels, _ = features.clusters(styles, 2)
    assert len({labels[f"f{i}"] for i in range(3)}) == 1 and labels["f0"] != labels["c0"]


def test_examples_are_the_assistant_replies_with_their_context():
    session = generate_corpus(1, 5, seed=0)[0].sessions[0]
    baseline = Baseline(version="t", system_prompt="Be brief.", max_new_tokens=8, temperature=0)
    examples = session_examples("persona_000", session, baseline)
    replies = [m for m in session.messages if m.role == "assistant"]
    assert [e.reference for e in examples] == [m.text for m in replies]
    assert examples[0].messages[0]["role"] == "system" and session.meta.weather in examples[0].messages[0]["content"]
    assert examples[0].messages[-1] == {"role": "user", "content": session.messages[0].text}


def test_persona_scores_by_hand():
    # three users; query 0 (user 0) is right, query 1 (user 1) is taken for user 2, query 2 (user 2) is right
    scores = np.array([[0.9, 0.1, 0.2], [0.1, 0.3, 0.8], [0.0, 0.2, 0.7]])
    result = persona_scores([0, 1, 2], scores, ["a", "b", "c"])
    assert result["accuracy_at_1"] == pytest.approx(2 / 3) and result["accuracy_at_5"] == 1.0
    assert result["confusion"] == [[1, 0, 0], [0, 0, 1], [0, 0, 1]]
    assert result["hardest_pairs"] == [{"user": "b", "taken_for": "c", "times": 1}]


def test_a_study_config_that_cannot_run_is_refused_before_any_phase(tmp_path):
    from attune.orchestrator.study.config import load_config

    path = tmp_path / "study.yaml"
    path.write_text("name: s\nuser_adapters: {kind: prefix, start: global}\n")
    with pytest.raises(StudyDataError, match="use start: base"):
        load_config(path)
    path.write_text("name: s\nglobal_adapters: [{kind: prefix}]\n")
    with pytest.raises(StudyDataError, match="global lora adapter, which global_adapters does not train"):
        load_config(path)
    path.write_text("name: ../up\n")
    with pytest.raises(StudyDataError, match="name"):
        load_config(path)
