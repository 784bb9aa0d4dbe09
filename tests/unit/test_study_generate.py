"""The generator's difficulty knobs (generate.py's Difficulty): each does what docs/study.md says, seeded, and all
at 0 the corpus is the one the generator made before the knobs existed."""

from __future__ import annotations

import hashlib
import json
import re

import pytest
import yaml
from pydantic import ValidationError

from attune.orchestrator.study.config import DataConfig, StudyConfig
from attune.orchestrator.study.data import StudyDataError
from attune.orchestrator.study.folder import check_folder
from attune.orchestrator.study.generate import Difficulty, generate_corpus

# sha256 of generate_corpus(12, 20, seed=0) as the generator before the knobs (commit ed5ddfd) made it.
BEFORE_THE_KNOBS = "d796c36088d5d4fc74410e79ee942f94d907737fe2d2ebcba4bf5fa07aaca4fe"
# Every value a device setting can take, as a word (numbers are refused separately).
SETTING_WORDS = {"news", "sports", "movies", "music", "documentaries", "heat", "cool", "fan", "warm", "neutral",
                 "static", "dim", "balanced", "bass", "treble", "boost", "armed", "disarmed"}


def digest(users) -> str:
    return hashlib.sha256(json.dumps([u.model_dump() for u in users], sort_keys=True).encode()).hexdigest()


def texts(users, role: str) -> list[str]:
    return [m.text for u in users for s in u.sessions for m in s.messages if m.role == role]


def changed(a: list[str], b: list[str]) -> float:
    return sum(x != y for x, y in zip(a, b, strict=True)) / len(a)


def test_all_knobs_at_zero_make_the_corpus_of_before_the_knobs():
    assert digest(generate_corpus(12, 20, seed=0)) == BEFORE_THE_KNOBS
    assert digest(generate_corpus(12, 20, seed=0, difficulty=Difficulty())) == BEFORE_THE_KNOBS


def test_a_difficulty_is_seeded_and_each_knob_changes_the_corpus():
    hard = Difficulty(paraphrase=0.4, noise=0.2, drift=0.3, context_only=0.3)
    assert generate_corpus(6, 20, seed=3, difficulty=hard) == generate_corpus(6, 20, seed=3, difficulty=hard)
    assert generate_corpus(6, 20, seed=4, difficulty=hard) != generate_corpus(6, 20, seed=3, difficulty=hard)
    zero = generate_corpus(6, 20, seed=3)
    for knob in Difficulty.model_fields:
        assert generate_corpus(6, 20, seed=3, difficulty=Difficulty(**{knob: 0.5})) != zero, knob


@pytest.mark.parametrize("bad", [{"noise": 1.5}, {"drift": -0.1}, {"typo": 0.2}])
def test_a_knob_outside_0_to_1_or_unknown_is_refused(bad):
    with pytest.raises(ValidationError):
        Difficulty(**bad)


def test_paraphrase_rewords_requests_and_replies_but_keeps_what_is_asked():
    zero = generate_corpus(8, 20, seed=0)
    full = generate_corpus(8, 20, seed=0, difficulty=Difficulty(paraphrase=1.0))
    half = generate_corpus(8, 20, seed=0, difficulty=Difficulty(paraphrase=0.5))
    for role in ("user", "assistant"):
        assert changed(texts(full, role), texts(zero, role)) > 0.7
        assert 0.2 < changed(texts(half, role), texts(zero, role)) < changed(texts(full, role), texts(zero, role))
    # Same sessions, conditions and routines: only the wording moved.
    assert [(s.meta, s.applied_routines) for u in full for s in u.sessions] == \
        [(s.meta, s.applied_routines) for u in zero for s in u.sessions]
    # A reply no longer follows from the request: one user's replies come in several openings.
    openings = {t.split()[0] for t in texts(full[:1], "assistant")}
    assert len(openings) > 2


def test_noise_garbles_user_messages_and_turns_routine_sessions_spontaneous():
    zero = generate_corpus(8, 20, seed=0)
    noisy = generate_corpus(8, 20, seed=0, difficulty=Difficulty(noise=1.0))
    assert changed(texts(noisy, "user"), texts(zero, "user")) > 0.7
    spontaneous = [sum(not s.applied_routines for u in users for s in u.sessions) for users in (zero, noisy)]
    assert spontaneous[1] > spontaneous[0] * 1.5


def test_context_only_requests_name_no_setting_and_styles_are_shared():
    users = generate_corpus(8, 20, seed=0, difficulty=Difficulty(context_only=1.0))
    routine_sessions = [s for u in users for s in u.sessions if s.applied_routines]
    assert routine_sessions
    for session in routine_sessions:
        request, reply = session.messages[0].text, session.messages[1].text
        assert not re.search(r"\d", request), request
        assert not SETTING_WORDS & set(re.findall(r"[a-z]+", request.lower())), request
        assert re.search(r"\d|armed", reply), "the reply names the routine's settings"
    # Every user after the first copies an earlier user's style: they differ only in their routines.
    assert len({u.character.split("they are ", 1)[1] for u in users}) == 1
    assert len({json.dumps([r.model_dump() for r in u.routines]) for u in users}) == len(users)


def test_drift_changes_the_settings_of_late_sessions_only():
    n = 20
    zero = generate_corpus(8, n, seed=0)
    drifted = generate_corpus(8, n, seed=0, difficulty=Difficulty(drift=1.0))
    assert [u.routines for u in drifted] == [u.routines for u in zero], "routines.jsonl keeps the first routines"
    for a, b in zip(drifted, zero, strict=True):
        assert a.sessions[:n // 2] == b.sessions[:n // 2]
    late = [(s.messages[1].text, t.messages[1].text) for a, b in zip(drifted, zero, strict=True)
            for s, t in zip(a.sessions[n // 2:], b.sessions[n // 2:], strict=True) if s.applied_routines]
    assert late and sum(x != y for x, y in late) / len(late) > 0.6


def test_a_study_folder_from_before_the_knobs_resumes_only_at_difficulty_zero(tmp_path):
    stored = StudyConfig(name="old").model_dump(mode="json")
    del stored["data"]["difficulty"]  # written before the setting existed
    stored.pop("external_test", None)
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(stored))
    check_folder(StudyConfig(name="old"), tmp_path)
    harder = StudyConfig(name="old", data=DataConfig(difficulty=Difficulty(drift=0.3)))
    with pytest.raises(StudyDataError, match=r"another config \(differs in: data\)"):
        check_folder(harder, tmp_path)
