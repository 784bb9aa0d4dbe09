"""reflection_grpo: reflection whose note-writer is a LoRA adapter trained with GRPO.

Before the first session, ``prepare`` builds note-update examples from the run's
profiles (a short session in which the user states some of their preferences;
the reward is how many of them the new notes keep: services/trainer/notes.py),
submits a ``grpo_notes`` job to the trainer (TRL's GRPOTrainer on the base
model) and waits for it. The adapter lands in the model service's adapter
directory and writes every note of the run. An adapter of the same name that
already exists (a resumed run) is used as is.
"""

from __future__ import annotations

import json
import random

from attune.orchestrator.methods.base import Ledger, register_method, train_adapter
from attune.orchestrator.methods.reflection import Reflection

OPENERS = (
    "Can you help me with a math problem? Solve 3x + 5 = 20.",
    "I need help writing a Python function that reverses a string.",
    "Why does ice float on water?",
    "How should I approach a logic puzzle about who sits where?",
)


def note_examples(profiles: list, rows: int, seed: int) -> list[dict]:
    """Note-update examples: a session where the user states 2-3 of their preferences."""
    rng = random.Random(seed)
    examples = []
    for i in range(rows):
        profile = profiles[i % len(profiles)]
        stated = rng.sample(profile.preferences, k=min(len(profile.preferences), rng.choice((2, 3))))
        transcript = [("user", rng.choice(OPENERS)), ("assistant", "Sure, here is how to do it.")]
        for pref in stated:
            when = "" if pref.condition == "always" else f" {pref.condition}"
            transcript += [("user", f"Please {pref.preference}{when}."), ("assistant", "Understood.")]
        examples.append({"notes": "", "transcript": [list(t) for t in transcript],
                         "revealed": [p.preference for p in stated]})
    return examples


@register_method
class ReflectionGRPO(Reflection):
    name = "reflection_grpo"
    needs = ("trainer",)

    async def prepare(self, profiles: list, ledger: Ledger) -> None:
        s = self.settings
        self.note_adapter = (f"notes-grpo-s{self.seed}-steps{s.grpo_steps}-rows{s.grpo_rows}"
                             f"-lr{s.grpo_learning_rate:.0e}")
        params = {"num_generations": s.grpo_num_generations, "max_completion_length": s.grpo_max_completion_tokens}
        await train_adapter(self, "GRPO note-writer", self.note_adapter,
                            note_examples(profiles, s.grpo_rows, self.seed), s.grpo_timeout_s, kind="grpo_notes",
                            scope="global", max_steps=s.grpo_steps, learning_rate=s.grpo_learning_rate,
                            params_json=json.dumps(params))
