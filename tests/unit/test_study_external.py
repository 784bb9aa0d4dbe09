"""The external cold-start test (external.py): the shipped EdgeWisePersona dialogues, the loader's refusals, the
examples a study scores."""

from __future__ import annotations

import json
from importlib import resources

import pytest

from attune.orchestrator.study.config import ExternalTest
from attune.orchestrator.study.data import StudyDataError
from attune.orchestrator.study.examples import Baseline
from attune.orchestrator.study.external import external_examples, load_cold_start, study_examples, usual_lengths

BASELINE = Baseline(version="t", system_prompt="You run a home.", max_new_tokens=8, temperature=0.0)
DIALOGUE = {"persona_id": "persona_007", "dialogue_idx": 390, "messages": [
    {"role": "user", "text": "Lights to 40, please."}, {"role": "assistant", "text": "Lights at 40 percent."},
    {"role": "user", "text": "And the TV on news."}, {"role": "assistant", "text": "News is on."}]}


def test_the_shipped_cold_start_dialogues_load_with_their_licence():
    dialogues = load_cold_start("edgewise_cold_start")
    assert len(dialogues) == 200 and len({d.persona_id for d in dialogues}) == 200
    examples = external_examples(dialogues, BASELINE)
    assert len(examples) == 400
    first = examples[0]
    assert first.messages[0] == {"role": "system", "content": "You run a home."}, "no conditions: no meta"
    assert [m["role"] for m in first.messages] == ["system", "user"] and first.reference.startswith("Certainly")
    licence = (resources.files("attune.orchestrator.study") / "corpora" / "edgewise_cold_start.LICENSE").read_text()
    assert "CC BY 4.0" in licence and "TCLResearchEurope/EdgeWisePersona" in licence


def test_each_reply_is_an_example_with_the_messages_before_it(tmp_path):
    path = tmp_path / "cold.jsonl"
    path.write_text(json.dumps(DIALOGUE) + "\n")
    examples = external_examples(load_cold_start(path), BASELINE)
    assert [(e.key, e.reference, len(e.messages)) for e in examples] == [
        ("persona_007:390:1", "Lights at 40 percent.", 2), ("persona_007:390:3", "News is on.", 4)]
    assert usual_lengths(examples) == {"persona_007": 3.5}
    one = study_examples(ExternalTest(file=str(path), replies_per_dialogue=1), BASELINE)
    assert [e.key for e in one] == ["persona_007:390:1"]
    assert len(study_examples(ExternalTest(dialogues=3), BASELINE)) == 6


@pytest.mark.parametrize(("line", "message"), [
    ("{not json", "line 2 is not JSON"),
    (json.dumps({**DIALOGUE, "persona_id": ""}), "line 2: persona_id"),
    (json.dumps({**DIALOGUE, "messages": [{"role": "robot", "text": "hi"}]}), "line 2: messages.0.role"),
    (json.dumps({k: v for k, v in DIALOGUE.items() if k != "dialogue_idx"}), "line 2: dialogue_idx: Field required"),
    (json.dumps(DIALOGUE), "line 2: dialogue 390 of persona_007 repeats"),
])
def test_a_bad_cold_start_line_is_refused_with_its_line_and_field(tmp_path, line, message):
    path = tmp_path / "cold.jsonl"
    path.write_text(json.dumps(DIALOGUE) + "\n" + line + "\n")
    with pytest.raises(StudyDataError, match=message):
        load_cold_start(path)


def test_a_missing_cold_start_file_is_named(tmp_path):
    with pytest.raises(StudyDataError, match="does not exist"):
        load_cold_start(tmp_path / "none.jsonl")
