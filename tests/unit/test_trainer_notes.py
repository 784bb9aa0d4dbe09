"""The note-update task: prompt bounds, note cleaning and the note-writer's reward (pure functions)."""

from __future__ import annotations

from attune.services.trainer.notes import (
    CONTEXT_TOKENS,
    NOTE_BUDGET_CHARS,
    NOTE_MAX_CHARS,
    NOTE_MAX_TOKENS,
    OMITTED,
    TEMPLATE_TOKENS,
    clean_note,
    estimate_tokens,
    note_reward,
    note_update_messages,
)

REVEALED = ["use bullet points for lists of steps", "keep answers under three sentences",
            "add type hints to Python code"]


def test_messages_are_a_system_and_a_user_turn_with_notes_and_transcript():
    messages = note_update_messages("- prefers metric units", [("user", "Solve 3x + 5 = 20."),
                                                               ("assistant", "x = 5")])
    assert [role for role, _ in messages] == ["system", "user"]
    prompt = messages[1][1]
    assert "- prefers metric units" in prompt
    assert "User: Solve 3x + 5 = 20." in prompt and "Assistant: x = 5" in prompt
    assert "(none yet)" in note_update_messages("", [("user", "hi")])[1][1]


def test_long_sessions_are_bounded_and_keep_the_latest_turns():
    transcript = [("user", f"turn {i} " + "word " * 400) for i in range(60)] + [("user", "the last turn")]
    notes = "\n".join(f"- note {i} " + "x1 " * 20 for i in range(100))
    messages = note_update_messages(notes, transcript)
    prompt = messages[1][1]
    assert estimate_tokens(messages[0][1] + prompt) <= CONTEXT_TOKENS - NOTE_MAX_TOKENS - TEMPLATE_TOKENS
    assert "the last turn" in prompt and OMITTED in prompt
    assert "turn 0 " not in prompt and "turn 50 " in prompt


def test_clean_note_drops_chatter_headers_echoes_and_repeats():
    raw = ("Sure! Here are the updated notes:\n\n```\n**Notes:**\n- Use bullet points for steps\n"
           "- use bullet points for steps\nUser: please be brief\n- Keep answers short\n```\n"
           "Let me know if you need anything else!")
    assert clean_note(raw) == "- Use bullet points for steps\n- Keep answers short"
    assert clean_note("  \n ") == ""


def test_clean_note_caps_length_at_a_line_boundary():
    note = clean_note("\n".join(f"- preference number {i} about something" for i in range(100)))
    assert len(note) <= NOTE_MAX_CHARS
    assert note.endswith("about something")


def test_reward_grows_with_coverage():
    none = note_reward("- Likes cats", REVEALED)
    one = note_reward("- Use bullet points for lists of steps", REVEALED)
    two = note_reward("- Use bullet points for lists of steps\n- Keep answers under three sentences", REVEALED)
    three = note_reward("- Use bullet points for steps\n- Answers under three sentences\n"
                        "- Type hints in Python code", REVEALED)
    assert none < one < two < three == 1.0


def test_reward_credits_reworded_preferences():
    assert note_reward("- The user wants bullet points when listing steps", ["use bullet points for lists of steps"]) \
        > note_reward("- The user wants answers", ["use bullet points for lists of steps"])


def test_empty_or_contentless_note_scores_zero():
    assert note_reward("", REVEALED) == 0.0
    assert note_reward("- the a of", REVEALED) == 0.0
    assert note_reward("", [], previous="") == 0.0


def test_long_note_is_penalized():
    concise = "- Use bullet points for lists of steps"
    padded = concise + "\n" + "- " + "and more words " * (3 * NOTE_BUDGET_CHARS // 15)
    assert note_reward(padded, REVEALED[:1]) < note_reward(concise, REVEALED[:1])
    assert note_reward(padded, REVEALED[:1]) >= 0.0


def test_reward_keeps_previous_notes():
    previous = "- Prefers metric units\n- Wants Python examples"
    kept = note_reward("- Prefers metric units\n- Wants Python examples\n- Use bullet points for steps",
                       REVEALED[:1], previous)
    dropped = note_reward("- Use bullet points for steps", REVEALED[:1], previous)
    assert dropped < kept == 1.0


def test_reward_is_deterministic_and_bounded():
    note = "- Use bullet points\n- brief answers please"
    scores = {note_reward(note, REVEALED, "- old note") for _ in range(5)}
    assert len(scores) == 1
    assert 0.0 <= scores.pop() <= 1.0
