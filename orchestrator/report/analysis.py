"""A run's numbers for the report: per-user values, estimates with intervals, and the paired comparisons."""

from __future__ import annotations

from dataclasses import dataclass, replace
from itertools import combinations

from attune.orchestrator.report.bounds import BASELINE, Gap, bound_kinds, gaps
from attune.orchestrator.report.collect import GROUPS, Run
from attune.orchestrator.report.stats import Comparison, Estimate, compare, holm, mean_interval, user_means
from attune.orchestrator.report.vectors import VectorAnalysis, analyze_vectors


@dataclass
class Analysis:
    run: Run
    methods: list[str]
    # metric -> method -> {profile id: the user's value}
    per_user: dict[str, dict[str, dict[str, float]]]
    # metric -> method -> estimate
    by_method: dict[str, dict[str, Estimate]]
    # breakdown -> metric -> (group, method) -> estimate, groups in order
    breakdowns: dict[str, dict[str, dict[tuple[str, str], Estimate]]]
    # metric -> every pair of methods (against vanilla first, as method - vanilla), Holm-corrected together;
    # a bound is compared with vanilla and the other bound only, never ranked with the contenders
    comparisons: dict[str, list[Comparison]]
    resamples: int
    seed: int
    # one per method that stored user vectors
    vectors: list[VectorAnalysis]
    # method -> "upper" / "lower" for the bounds the run played (oracle, anti_oracle)
    bounds: dict[str, str]
    # per metric: does the run separate oracle from vanilla, and each method's share of the gap
    gaps: list[Gap]


def analyze(run: Run, resamples: int, seed: int) -> Analysis:
    methods = run.methods
    per_user, by_method, comparisons = {}, {}, {}
    breakdowns: dict = {by: {} for by in GROUPS}
    for index, name in enumerate(run.names):
        per_user[name] = user_means(run.sessions, index, key=lambda s: s.method)
        by_method[name] = {m: mean_interval(list(per_user[name].get(m, {}).values()), resamples, seed)
                           for m in methods}
        for by in GROUPS:
            cells = user_means(run.sessions, index, key=_cell(by))
            breakdowns[by][name] = {cell: mean_interval(list(cells[cell].values()), resamples, seed)
                                    for cell in sorted(cells, key=cell_order(by, methods))}
        comparisons[name] = corrected([compare(a, b, per_user[name].get(a, {}), per_user[name].get(b, {}),
                                               resamples, seed) for a, b in method_pairs(methods)])
    vectors = analyze_vectors(run.vectors, run.truth, run.truth_missing, resamples, seed)
    return Analysis(run, methods, per_user, by_method, breakdowns, comparisons, resamples, seed, vectors,
                    bound_kinds(methods), gaps(methods, per_user, comparisons, resamples, seed))


def _cell(by: str):
    return lambda session: (session.labels[by], session.method)


def cell_order(by: str, methods: list[str]):
    """Groups in order (session indexes as numbers), then methods in the report's order."""
    def order(cell: tuple[str, str]):
        group, method = cell
        return (int(group) if by == "session" else group), methods.index(method)
    return order


def method_pairs(methods: list[str]) -> list[tuple[str, str]]:
    """Every pair once; a pair with vanilla reads method - vanilla. A bound meets only vanilla and the other
    bound (upper first): bounds calibrate the metric, they are not contenders."""
    kinds = bound_kinds(methods)
    pairs = [(b, a) if a == BASELINE else (a, b) for a, b in combinations(methods, 2)
             if not (kinds.keys() & {a, b}) or BASELINE in (a, b) or (a in kinds and b in kinds)]
    return [(b, a) if kinds.get(b) == "upper" and kinds.get(a) == "lower" else (a, b) for a, b in pairs]


def corrected(comparisons: list[Comparison]) -> list[Comparison]:
    """Holm over the comparisons that have users in common (the others are not tests and keep p = 1)."""
    tested = [i for i, c in enumerate(comparisons) if c.difference.users]
    adjusted = dict(zip(tested, holm([comparisons[i].p for i in tested]), strict=True))
    return [replace(c, holm=adjusted.get(i, 1.0)) for i, c in enumerate(comparisons)]
