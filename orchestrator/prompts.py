"""The one agent prompt builder: every method contributes only its memory lines.

Methods differ in what they remember (notes, cards, earlier sessions), never in
the wording around it, so a difference in results is the memory's and not the
prompt's. A method with nothing to show the agent sends the base prompt alone.
"""

from __future__ import annotations

BASE_SYSTEM = "You are a helpful assistant. Help the user solve their problem."
MEMORY_INTRO = "What you know about this user (follow their preferences where they apply):"


def system_prompt(memory: list[str]) -> str:
    """The base system prompt plus one line per memory item."""
    lines = [line.strip() for line in memory if line.strip()]
    if not lines:
        return BASE_SYSTEM
    return f"{BASE_SYSTEM}\n{MEMORY_INTRO}\n" + "\n".join(f"- {line}" for line in lines)


def agent_messages(memory: list[str], history: list[tuple[str, str]], max_turns: int) -> list[tuple[str, str]]:
    """The agent's chat: the system prompt, then the last ``max_turns`` messages of the history."""
    return [("system", system_prompt(memory)), *history[-max_turns:]]


def card_line(preference: str, condition: str) -> str:
    """A preference card as one memory line."""
    return preference + ("" if condition in ("", "always") else f" ({condition})")
