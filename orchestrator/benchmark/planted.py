"""Planted cases: questions whose right verdict is known, put to the judge beside a run's own.

Users of memory benchmarks report the same answers scoring very differently
depending on the judge prompt, and judges that accept most deliberately wrong
answers. So every judged run also asks the judge about cases that must fail:

- ``wrong_answer``: a final answer that the dataset's own check rejects;
- ``rival_preference``: in a conflict session, a reply that follows the losing
  preference and not the one the context calls for.

A verdict that passes one of them is a false accept. The judge's rate is
reported beside the LLM's alone (where a checker decides, the judge's final
verdict follows the checker). Whether a preference is followed is audited by the
contrast pairs (contrast.py), which can fail whoever decides.
"""

from __future__ import annotations

import random
import re

from attune.preferences import checkers

# Replies in distinct styles; a planted reply is one that a checker says breaks (or follows) a preference.
REPLY_BANK = (
    "The result follows from the definition. We compare the two quantities and find that the first is larger, "
    "so the answer is the first option.",
    "1. Read the problem carefully.\n2. Write down what is given.\n3. Solve for the unknown.\n4. Check the result.",
    "- The first point matters most.\n- The second point follows from it.\n- The third point is a detail.",
    "| option | cost | speed |\n| --- | --- | --- |\n| A | low | slow |\n| B | high | fast |",
    "The area is $A = \\pi r^2$, so with $r = 2$ we get $A = 4\\pi$.",
    "The area is A = pi * r^2, so with r = 2 we get A = 4 * pi.",
    "## Answer\n\nThe **key idea** is conservation of energy.\n\n## Why\n\nEnergy is neither created nor destroyed.",
    "The answer is 12. Does that match what you expected?",
    "We add the two numbers and get 12.\n\nTL;DR: the answer is 12.",
    "```python\n# add two numbers\ndef add_numbers(first_value, second_value):\n    # return the sum\n"
    "    return first_value + second_value\n```",
    "```python\ndef addNumbers(firstValue, secondValue):\n    return firstValue + secondValue\n```",
    "```python\ndef add_numbers(a, b):\n    \"\"\"Return the sum of a and b.\"\"\"\n    return a + b\n```",
    "p ∧ q → r, and ¬r, so ¬(p ∧ q).",
    "If p and q then r; r is false, so p and q are not both true.",
)


def reply_following_rival(expected: str, rival: str, rng: random.Random) -> str | None:
    """A reply that follows ``rival`` and breaks ``expected``, by their checkers."""
    found = []
    for reply in REPLY_BANK:
        won, lost = checkers.check(expected, reply), checkers.check(rival, reply)
        if won is not None and lost is not None and lost.passed and not won.passed:
            found.append(reply)
    return rng.choice(found) if found else None


def wrong_answer(problem, rng: random.Random) -> str:
    """An answer that differs from the reference: another choice letter, a shifted number, or a wrong stub."""
    reference = problem.reference.strip()
    if problem.kind == "choice" and re.fullmatch(r"[A-J]", reference):
        return f"The answer is {rng.choice([c for c in 'ABCD' if c != reference])}."
    if problem.kind == "code":
        return "```python\ndef solution(*args, **kwargs):\n    return None\n```"
    numbers = re.findall(r"-?\d+", reference)
    if numbers:
        return f"The final answer is {int(numbers[-1]) + 7}."
    return "The final answer is 0."
