"""The report's statistics. Users are the unit: a user's sessions are not independent draws, so they move together.

- A method's value is the mean over users of each user's mean over the sessions
  where the metric applies (each user weighs the same).
- Its interval is a 95% percentile bootstrap over users (``scipy.stats.bootstrap``,
  profile ids resampled with replacement, a fixed seed); percentile rather than
  BCa, since BCa is undefined for the few-valued samples small runs give.
- Two methods are compared on the users both played: per user the difference of
  their values, a bootstrap interval of the mean difference, and a two-sided sign
  test (``scipy.stats.binomtest``) on the users with a positive difference among
  those with a non-zero one. The p-values of one metric's comparisons are
  corrected together with Holm's method.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from itertools import combinations
from typing import TYPE_CHECKING

import numpy as np
from scipy import stats

if TYPE_CHECKING:  # collect reads the run; stats needs only the shape of its sessions
    from attune.orchestrator.report.collect import Session

CONFIDENCE = 0.95
INTERVAL_METHOD = "percentile"
ALPHA = 0.05
RESAMPLES = 2000


@dataclass(frozen=True)
class Estimate:
    value: float | None
    low: float | None = None
    high: float | None = None
    users: int = 0
    note: str = ""  # why there is no interval (or no value)

    @property
    def excludes_zero(self) -> bool:
        """The interval lies on one side of 0; for 2+ users with one value (no interval), that value does."""
        if self.low is None:
            return self.users >= 2 and self.value != 0
        return self.low > 0 or self.high < 0


@dataclass(frozen=True)
class Comparison:
    """``first`` minus ``second`` over the users both played."""

    first: str
    second: str
    difference: Estimate
    positive: int
    nonzero: int
    p: float
    holm: float = 1.0

    @property
    def told_apart(self) -> bool:
        return self.difference.excludes_zero and self.holm < ALPHA


def user_means(sessions: Iterable[Session], index: int, key: Callable[[Session], object]) -> dict:
    """key -> {profile id: that user's mean of the values (metric ``index``) that apply}, users in id order."""
    sums: dict = {}
    for session in sessions:
        value = session.values[index]
        if value is not None:
            cell = sums.setdefault(key(session), {}).setdefault(session.profile_id, [0.0, 0])
            cell[0] += value
            cell[1] += 1
    return {k: {user: total / n for user, (total, n) in sorted(users.items())} for k, users in sums.items()}


def mean_interval(values: list[float], resamples: int = RESAMPLES, seed: int = 0) -> Estimate:
    """The mean of per-user values and its bootstrap interval (none for fewer than 2 users or one value)."""
    if not values:
        return Estimate(None, note="no session applies")
    value = float(np.mean(values))
    if len(values) < 2:
        return Estimate(value, users=1, note="one user")
    if min(values) == max(values):
        return Estimate(value, users=len(values), note="all users equal")
    result = stats.bootstrap((np.asarray(values),), np.mean, n_resamples=resamples, confidence_level=CONFIDENCE,
                             method=INTERVAL_METHOD, random_state=seed)
    interval = result.confidence_interval
    return Estimate(value, float(interval.low), float(interval.high), len(values))


def sign_test(positive: int, nonzero: int) -> float:
    """Two-sided p of ``positive`` successes in ``nonzero`` fair coin flips; 1.0 when every difference is zero."""
    return float(stats.binomtest(positive, nonzero, 0.5).pvalue) if nonzero else 1.0


def compare(first: str, second: str, a: dict[str, float], b: dict[str, float], resamples: int = RESAMPLES,
            seed: int = 0) -> Comparison:
    users = sorted(a.keys() & b.keys())
    differences = [a[u] - b[u] for u in users]
    positive, nonzero = sum(d > 0 for d in differences), sum(d != 0 for d in differences)
    return Comparison(first, second, mean_interval(differences, resamples, seed), positive, nonzero,
                      sign_test(positive, nonzero))


def holm(pvalues: list[float]) -> list[float]:
    """Holm's step-down correction: the k-th smallest p times (m - k + 1), kept monotone, capped at 1."""
    adjusted, running = [1.0] * len(pvalues), 0.0
    for rank, i in enumerate(sorted(range(len(pvalues)), key=pvalues.__getitem__)):
        running = max(running, min(1.0, (len(pvalues) - rank) * pvalues[i]))
        adjusted[i] = running
    return adjusted


def direction_agreement(run: dict[str, float], reference: dict[str, float]) -> tuple[int, int]:
    """Of the pairs of methods in both, how many the run orders as the reference does: (agreeing, pairs).

    A tie agrees only with a tie.
    """
    pairs = list(combinations([m for m in reference if m in run], 2))
    agreeing = sum(np.sign(run[a] - run[b]) == np.sign(reference[a] - reference[b]) for a, b in pairs)
    return int(agreeing), len(pairs)
