"""Which arms the study's tests separate, and which are tied.

The arms (the baseline included) are sorted by their headline score, macro
ROUGE-L (the score the recommendation rule ranks by), and each is compared
with the next one down over the users both were scored on, with the benchmark
report's statistics (orchestrator/report/stats.py): the per-user difference,
its mean with a 95% percentile bootstrap interval, and a sign test whose
p-values are Holm-corrected over the adjacent pairs. A pair is *separated*
when the interval excludes 0 and the corrected p is below 0.05 (the same rule
as an arm against the baseline); otherwise the two are *tied*: the study
cannot tell them apart, whatever their macro scores say.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from itertools import pairwise

import numpy as np

from attune.orchestrator.report.render import Block, Table, Text
from attune.orchestrator.report.stats import RESAMPLES, Comparison, compare, holm
from attune.orchestrator.study.evaluate import LOWER_IS_BETTER

HEADLINE = "rouge_l"


@dataclass(frozen=True)
class Step:
    """One arm against the next one down the ranking."""

    upper: str
    lower: str
    comparison: Comparison

    @property
    def separated(self) -> bool:
        return self.comparison.told_apart


@dataclass(frozen=True)
class Ranking:
    metric: str
    macro: dict[str, float]  # arm -> macro score, best first
    steps: list[Step]

    def chain(self) -> str:
        """``a 0.712 > b 0.700 = c 0.690``: ``>`` where the tests separate neighbours, ``=`` where tied."""
        names = list(self.macro)
        text = f"{names[0]} {self.macro[names[0]]:.3f}"
        for step in self.steps:
            text += f" {'>' if step.separated else '='} {step.lower} {self.macro[step.lower]:.3f}"
        return text

    @property
    def separated(self) -> list[Step]:
        return [s for s in self.steps if s.separated]

    @property
    def tied(self) -> list[Step]:
        return [s for s in self.steps if not s.separated]


def rank(scores: dict[str, dict[str, dict[str, float]]], metric: str = HEADLINE, resamples: int = RESAMPLES,
         seed: int = 0) -> Ranking:
    """Arms sorted by their macro ``metric`` (best first), each compared with the next over their common users,
    the sign tests Holm-corrected over the adjacent pairs."""
    macro = {arm: float(np.mean([v[metric] for v in users.values()])) for arm, users in scores.items() if users}
    order = sorted(macro, key=macro.__getitem__, reverse=metric not in LOWER_IS_BETTER)
    found = [compare(a, b, {u: v[metric] for u, v in scores[a].items()},
                     {u: v[metric] for u, v in scores[b].items()}, resamples, seed) for a, b in pairwise(order)]
    adjusted = holm([c.p for c in found])
    steps = [Step(c.first, c.second, replace(c, holm=h)) for c, h in zip(found, adjusted, strict=True)]
    return Ranking(metric, {arm: macro[arm] for arm in order}, steps)


def summary(ranking: Ranking, where: str) -> str:
    """One sentence: the ranking with its separations, then which neighbours are separated and which tied."""
    if len(ranking.macro) < 2:
        return f"{where}: one arm only ({ranking.chain()}), nothing to separate."
    told = "; ".join(f"{s.upper} from {s.lower}" for s in ranking.separated) or "no neighbouring arms"
    tied = "; ".join(f"{s.upper} and {s.lower}" for s in ranking.tied) or "none"
    return (f"{where}, by macro {ranking.metric} ('>': the paired tests separate an arm from the next, '=': tied): "
            f"{ranking.chain()}. Separated: {told}. Tied (cannot be told apart): {tied}.")


def blocks(ranking: Ranking) -> list[Block]:
    """The adjacent comparisons as a table."""
    rows = []
    for step in ranking.steps:
        c, d = step.comparison, step.comparison.difference
        cell = "-" if d.value is None else (f"{d.value:+.3f}" if d.low is None else
                                             f"{d.value:+.3f} [{d.low:+.3f}, {d.high:+.3f}]")
        rows.append([step.upper, step.lower, str(d.users), cell, f"{c.positive} / {c.nonzero - c.positive}",
                     f"{c.holm:.3g}", "separated" if step.separated else "tied"])
    return [Text(f"Each arm against the next one down by macro {ranking.metric}, over the users both were scored "
                 f"on: the mean per-user difference with its 95% bootstrap interval, users above / below, the sign "
                 f"test's p Holm-corrected over the pairs. Separated: the interval excludes 0 and the corrected p "
                 f"is below 0.05; otherwise tied."),
            Table(["arm", "next arm", "users", "mean difference [interval]", "above / below", "sign test Holm p",
                   "verdict"], rows)]
