"""The bounds in the report: can a metric rank methods at all, and how much of the oracle gap does each close.

``oracle`` is told the session's applicable preferences and ``anti_oracle`` their rivals
(orchestrator/methods/bounds.py). Per metric the report says whether the run separates oracle from
vanilla (the paired comparison of the report, Holm-corrected); where it does not, the metric cannot
rank methods at this size, whatever the contenders' numbers say. Each method's share of the oracle gap
is (m - vanilla) / (oracle - vanilla) over the users that played all three, with a percentile
bootstrap interval over users (the three values of a user move together); 1 is the oracle, 0 vanilla,
below 0 worse than no memory.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from attune.orchestrator.methods import METHODS
from attune.orchestrator.report.stats import CONFIDENCE, Comparison, Estimate

BASELINE = "vanilla"


def bound_kinds(methods: list[str]) -> dict[str, str]:
    """method -> "upper" or "lower" for the bounds among ``methods`` (a name no longer registered is a contender)."""
    return {m: METHODS[m].bound for m in methods if m in METHODS and METHODS[m].bound}


def upper_bound(methods: list[str]) -> str | None:
    return next((m for m, kind in bound_kinds(methods).items() if kind == "upper"), None)


def gap_share(method: dict[str, float], vanilla: dict[str, float], oracle: dict[str, float], resamples: int,
              seed: int) -> Estimate:
    """(m - vanilla) / (oracle - vanilla) of the means over the users in all three, with its bootstrap interval.

    Resamples whose oracle and vanilla means are equal have no share and are left out; the note says how many.
    """
    users = sorted(method.keys() & vanilla.keys() & oracle.keys())
    if not users:
        return Estimate(None, note="no user played all three")
    values = np.array([[d[u] for u in users] for d in (method, vanilla, oracle)])
    gap = values[2].mean() - values[1].mean()
    if gap == 0:
        return Estimate(None, users=len(users), note="oracle equals vanilla")
    share = float((values[0].mean() - values[1].mean()) / gap)
    if len(users) < 2:
        return Estimate(share, users=1, note="one user")
    picks = np.random.default_rng(seed).integers(0, len(users), size=(resamples, len(users)))
    means = values[:, picks].mean(axis=2)
    gaps = means[2] - means[1]
    kept = gaps != 0
    if not kept.any():
        return Estimate(share, users=len(users), note="no resample separates oracle from vanilla")
    shares = (means[0][kept] - means[1][kept]) / gaps[kept]
    tail = (1 - CONFIDENCE) / 2 * 100
    low, high = np.percentile(shares, [tail, 100 - tail])
    dropped = int((~kept).sum())
    note = f"{dropped} of {resamples} resamples had oracle = vanilla" if dropped else ""
    return Estimate(share, float(low), float(high), len(users), note)


@dataclass(frozen=True)
class Gap:
    """One metric: oracle against vanilla, and every other method's share of the gap between them."""

    metric: str
    separation: Comparison | None
    shares: dict[str, Estimate]

    @property
    def can_rank(self) -> bool:
        return self.separation is not None and self.separation.told_apart


def gaps(methods: list[str], per_user: dict, comparisons: dict[str, list[Comparison]], resamples: int,
         seed: int) -> list[Gap]:
    """Per metric, the oracle gap; empty when the run has no oracle or no vanilla."""
    oracle = upper_bound(methods)
    if oracle is None or BASELINE not in methods:
        return []
    found = []
    for name, by_method in per_user.items():
        separation = next((c for c in comparisons[name] if (c.first, c.second) == (oracle, BASELINE)), None)
        shares = {m: gap_share(by_method.get(m, {}), by_method.get(BASELINE, {}), by_method.get(oracle, {}),
                               resamples, seed) for m in methods if m not in (oracle, BASELINE)}
        found.append(Gap(name, separation, shares))
    return found


def headline(gaps: list[Gap], users: int) -> str:
    """The run in one line: on which metrics it tells oracle from vanilla, so can rank methods, and on which not."""
    if not gaps:
        return ("This run has no oracle and vanilla, so nothing says whether its metrics can rank methods: add "
                "both (docs/benchmark.md, Bounds).")
    told = [g.metric for g in gaps if g.can_rank]
    blind = [g.metric for g in gaps if not g.can_rank and g.separation is not None]
    if not told:
        return (f"With {users} users this run tells oracle from vanilla on no metric, so it cannot rank methods; "
                f"attune plan --from this run says how many users would.")
    line = f"With {users} users this run tells oracle from vanilla on {', '.join(told)}: only these can rank methods"
    return line + (f"; it cannot tell them apart on {', '.join(blind)}." if blind else ".")
