"""Power: the smallest difference a run of a given size can tell apart, from a pilot's spread.

The report's test of two methods is paired per user (stats.py): per user the mean over sessions of the
difference of the two values, a sign test over users, Holm across a metric's comparisons. For a plan,
the pilot's differences (each method minus vanilla, session by session on the same slot) give two
variance components: between users (sigma_b^2, how much users differ in the true difference) and within
a user (sigma_w^2, session-to-session noise). A user's mean difference over S sessions then varies as
sigma_b^2 + sigma_w^2 / S, and over N users the mean difference has standard error
sqrt((sigma_b^2 + sigma_w^2 / S) / N).

The minimum detectable effect (MDE) is the true difference found with probability POWER at two-sided
level ALPHA / K, K being the number of comparisons the report makes for the metric (Bonferroni: Holm's
first step, so the bound is a little conservative): (z_{1 - ALPHA/2K} + z_POWER) times that standard
error, for a paired t-test. The report's sign test needs about pi/2 times the users of a t-test on
normal differences (its asymptotic relative efficiency is 2/pi), so MDEs are widened by sqrt(pi/2) and
user counts multiplied by pi/2. These are normal approximations: with under about 10 users they are
optimistic, and with fewer than 6 users no sign test reaches p < 0.05 at all.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

from attune.orchestrator.report.bounds import BASELINE, upper_bound
from attune.orchestrator.report.collect import Run
from attune.orchestrator.report.stats import ALPHA

POWER = 0.8
SIGN_TEST_COST = math.pi / 2  # users a sign test needs per user of a t-test (normal differences)
MIN_SIGN_TEST_USERS = 6  # 5 of 5 gives p = 0.0625


@dataclass(frozen=True)
class Spread:
    """Variance components of one metric's paired differences in a pilot."""

    users: int
    sessions: float  # mean sessions per user with a difference
    between: float  # sigma_b^2
    within: float  # sigma_w^2

    def user_sd(self, sessions: float) -> float:
        """The standard deviation of a user's mean difference over ``sessions`` sessions."""
        return math.sqrt(self.between + self.within / sessions)


def z_total(comparisons: int) -> float:
    return float(stats.norm.ppf(1 - ALPHA / (2 * max(1, comparisons))) + stats.norm.ppf(POWER))


def mde(user_sd: float, users: int, comparisons: int) -> float | None:
    """The smallest true mean difference the sign test finds with probability POWER; None under 6 users."""
    if users < MIN_SIGN_TEST_USERS:
        return None
    return z_total(comparisons) * user_sd / math.sqrt(users) * math.sqrt(SIGN_TEST_COST)


def users_needed(user_sd: float, effect: float, comparisons: int) -> int | None:
    """Users for the sign test to find ``effect`` with probability POWER (None for a zero effect)."""
    if effect == 0:
        return None
    needed = (z_total(comparisons) * user_sd / abs(effect)) ** 2 * SIGN_TEST_COST
    return max(MIN_SIGN_TEST_USERS, math.ceil(needed))


def differences(run: Run, index: int, method: str) -> dict[str, list[float]]:
    """profile -> the session-by-session differences ``method`` minus vanilla of metric ``index``."""
    values = {(s.method, s.profile_id, s.session): s.values[index] for s in run.sessions}
    out: dict[str, list[float]] = {}
    for (name, profile, session), value in values.items():
        base = values.get((BASELINE, profile, session))
        if name == method and value is not None and base is not None:
            out.setdefault(profile, []).append(value - base)
    return out


def spread(run: Run, index: int, methods: list[str]) -> Spread | None:
    """The pooled variance components of ``methods`` minus vanilla (one-way random effects, per method
    centred, so a method's own mean difference is not counted as spread); None under 2 users."""
    within_sum, within_df, between, users, sessions = 0.0, 0, [], 0, []
    for method in methods:
        per_user = [np.asarray(d) for d in differences(run, index, method).values()]
        if len(per_user) < 2:
            continue
        within_sum += sum(float(((d - d.mean()) ** 2).sum()) for d in per_user)
        within_df += sum(len(d) - 1 for d in per_user)
        means = [float(d.mean()) for d in per_user]
        between.append((float(np.var(means, ddof=1)), float(np.mean([1 / len(d) for d in per_user]))))
        users, sessions = max(users, len(per_user)), sessions + [len(d) for d in per_user]
    if not between:
        return None
    within = within_sum / within_df if within_df else 0.0
    between_var = float(np.mean([max(0.0, var - within * inverse_n) for var, inverse_n in between]))
    return Spread(users, float(np.mean(sessions)), between_var, within)


@dataclass(frozen=True)
class PowerRow:
    metric: str
    spread: Spread | None
    mde: float | None
    observed: float | None  # the pilot's oracle minus vanilla (None without an oracle)
    users_for_observed: int | None
    users_for_effect: int | None


def power_table(pilot: Run, users: int, sessions: int, comparisons: int, effect: float | None = None
                ) -> list[PowerRow]:
    """Per metric of the pilot: the MDE at ``users`` x ``sessions``, and the users needed to find the pilot's
    oracle gap and ``effect``."""
    contenders = [m for m in pilot.methods if m != BASELINE]
    oracle = upper_bound(pilot.methods)
    rows = []
    for index, name in enumerate(pilot.names):
        found = spread(pilot, index, contenders)
        if found is None:
            rows.append(PowerRow(name, None, None, None, None, None))
            continue
        sd = found.user_sd(sessions)
        observed = _mean_difference(pilot, index, oracle) if oracle else None
        rows.append(PowerRow(
            name, found, mde(sd, users, comparisons), observed,
            users_needed(sd, observed, comparisons) if observed is not None else None,
            users_needed(sd, effect, comparisons) if effect is not None else None))
    return rows


def _mean_difference(run: Run, index: int, method: str) -> float | None:
    per_user = [float(np.mean(d)) for d in differences(run, index, method).values()]
    return float(np.mean(per_user)) if per_user else None


def achieved_mde(first: dict[str, float], second: dict[str, float], comparisons: int) -> float | None:
    """The MDE of a finished comparison: the spread of its own per-user differences, at its own users."""
    users = sorted(first.keys() & second.keys())
    if len(users) < 2:
        return None
    sd = float(np.std([first[u] - second[u] for u in users], ddof=1))
    return mde(sd, len(users), comparisons)
