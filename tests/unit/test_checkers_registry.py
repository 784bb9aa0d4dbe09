"""The checker registry (lookups, ``register``, the neutral reply, no network) and the sentence
reading the checkers share."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import pytest

from attune.orchestrator.profiles import load_schema
from attune.preferences import checkers
from attune.preferences.checkers import CHECKERS, CheckResult, check, checker_for, is_checkable, sentences
from tests.fixtures.checker_replies import CASES, NUMBERED, TABLE

# Checkers that a reply applying no preference passes: they forbid something. The others need a mark
# (a list, LaTeX, a closing question), which is how the judge tells that a preference was applied.
NEUTRAL = "The answer is 4."
PASS_NEUTRAL = {
    "format_structure.prose_why", "verbosity_level.concise_quick", "notation.plain_math", "notation.plain_phone",
    "notation.words_logic", "checking_questions.no_questions_medicine", "units.us_cooking",
    "units.metric_medicine", "units.dual_travel", "markup.no_markdown_plain", "markup.minimal_markup_code",
    *(pid for pid in CHECKERS if pid.startswith(("code_naming.", "code_comments."))),
}


def test_every_checker_has_cases_both_ways():
    assert set(CASES) == set(CHECKERS)
    assert all(good and bad for good, bad in CASES.values())


@pytest.mark.parametrize("pid", sorted(CHECKERS))
def test_neutral_reply_passes_only_what_it_cannot_break(pid):
    assert check(pid, NEUTRAL).passed == (pid in PASS_NEUTRAL)


def test_registered_ids_exist_in_the_schema():
    schema = load_schema()
    ids = {schema.preference(group, key).id for group, g in schema.groups.items() for key in g.options}
    assert CHECKERS and set(CHECKERS) <= ids


@pytest.mark.parametrize("pid", ["tone.casual_general", "answer_order.answer_first_math", "no.such_id", ""])
def test_uncheckable_and_unknown_ids_return_none(pid):
    assert check(pid, NUMBERED) is None
    assert checker_for(pid) is None
    assert not is_checkable(pid)


def test_lookup_of_a_checkable_id():
    assert is_checkable("format_structure.table_compare")
    assert checker_for("format_structure.table_compare")(TABLE) == CheckResult(True, "has a markdown table")


def test_register_refuses_unknown_and_duplicate_ids():
    with pytest.raises(ValueError, match="not_an_option"):
        checkers.register("format_structure.not_an_option")(lambda reply: CheckResult(True, ""))
    with pytest.raises(ValueError, match="already has a checker"):
        checkers.register("format_structure.table_compare")(lambda reply: CheckResult(True, ""))
    assert "format_structure.not_an_option" not in CHECKERS
    assert checker_for("format_structure.table_compare") is checkers.table


def test_check_result_is_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        CheckResult(True, "ok").passed = False


@pytest.mark.parametrize(("text", "count"), [
    ("Save it to config.yaml and call numpy.array on it. Done.", 2),
    ("Use a set, e.g. for lookups. It costs 3.5 ms vs. 40 ms for a list!", 2),
    ("Is it sorted? Yes.\n\n- first item\n- second item", 4),
    ("Intro line\n\n```python\nx = 1. \ny = 2. \n```\n\nOutro line", 2),
    ("", 0),
])
def test_sentences(text, count):
    assert len(sentences(text)) == count


def test_import_and_checks_use_no_network(processes):
    """Nothing is downloaded: the module imports and every checker runs with sockets disabled."""
    script = (
        "import socket\n"
        "def refuse(*args, **kwargs):\n"
        "    raise OSError('network used')\n"
        "socket.socket.connect = socket.getaddrinfo = socket.create_connection = refuse\n"
        "from attune.preferences.checkers import CHECKERS\n"
        "for checker in CHECKERS.values():\n"
        "    checker('Preheat to 350°F.\\n\\n```python\\nx = 1  # one\\n```\\n\\n$x^2$?')\n"
        "print(len(CHECKERS))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(len(CHECKERS))
