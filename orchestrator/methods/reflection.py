"""reflection: the agent keeps notes about the user and rewrites them after each session.

As in MultiSessionCollab: at the end of a session the agent reads its previous
notes and the session's transcript and writes new notes; the notes go into the
system prompt of every later session. ``reflection_grpo`` is the same method
whose note-writer is a LoRA adapter trained with GRPO (see reflection_grpo.py).
"""

from __future__ import annotations

from attune.orchestrator.methods.base import Ledger, Method, register_method
from attune.services.trainer.notes import NOTE_MAX_TOKENS, clean_note, note_update_messages


@register_method
class Reflection(Method):
    name = "reflection"
    # LoRA adapter that writes the notes; empty = the base model.
    note_adapter = ""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.notes: dict[str, str] = {}

    def memory(self, user_id: str) -> list[str]:
        notes = self.notes.get(user_id, "")
        return [line.strip("-* ").strip() for line in notes.splitlines() if line.strip("-* ").strip()]

    async def end_session(self, user_id: str, ledger: Ledger) -> None:
        previous = self.notes.get(user_id, "")
        text = await self.chat(user_id, note_update_messages(previous, self.transcript(user_id)), ledger,
                               ledger_role="memory", max_tokens=NOTE_MAX_TOKENS, adapter=self.note_adapter)
        self.notes[user_id] = clean_note(text) or previous

    def snapshot(self, user_id: str) -> dict:
        return {"notes": self.notes.get(user_id, "")}

    async def restore(self, user_id: str, state: dict) -> None:
        self.notes[user_id] = state.get("notes", "")
