"""How a retry decodes: a retry that repeats the request repeats the answer.

The judge and the user simulator decode greedily (temperature 0) so that a run is reproducible; when
the output does not parse they ask again. Greedy decoding ignores the seed, so a retry with only a new
seed returns the same unparseable text. A retry therefore samples: at least ``retry_temperature``,
with a seed of its own that reaches the backend, so the same request and attempt give the same text
(runs stay reproducible) while two attempts can differ.
"""

from __future__ import annotations

# Odd and far from the seeds callers derive (session x 1000 + turn), so attempts never share one.
SEED_STEP = 7919


def attempt_sampling(attempt: int, temperature: float, seed: int, retry_temperature: float) -> tuple[float, int]:
    """(temperature, seed) of try ``attempt`` (0: the first, decoded as configured)."""
    if attempt == 0:
        return temperature, seed
    return max(temperature, retry_temperature), seed + SEED_STEP * attempt
