"""A run's numbers for the report: per-user values, estimates with intervals, and the paired comparisons."""

from __future__ import annotations

from dataclasses import dataclass, replace
from itertools import combinations

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
    # metric -> every pair of methods (against vanilla first, as method - vanilla), Holm-corrected together
    comparisons: dict[str, list[Comparison]]
    resamples: int
    seed: int
    # one per method that stored user vectors
    vectors: list[VectorAnalysis]


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
    return Analysis(run, methods, per_user, by_method, breakdowns, comparisons, resamples, seed, vectors)


def _cell(by: str):
    return lambda session: (session.labels[by], session.method)


def cell_order(by: str, methods: list[str]):
    """Groups in order (session indexes as numbers), then methods in the report's order."""
    def order(cell: tuple[str, str]):
        group, method = cell
        return (int(group) if by == "session" else group), methods.index(method)
    return order


def method_pairs(methods: list[str]) -> list[tuple[str, str]]:
    """Every pair once; a pair with vanilla reads method - vanilla."""
    return [(b, a) if a == "vanilla" else (a, b) for a, b in combinations(methods, 2)]


def corrected(comparisons: list[Comparison]) -> list[Comparison]:
    """Holm over the comparisons that have users in common (the others are not tests and keep p = 1)."""
    tested = [i for i, c in enumerate(comparisons) if c.difference.users]
    adjusted = dict(zip(tested, holm([comparisons[i].p for i in tested]), strict=True))
    return [replace(c, holm=adjusted.get(i, 1.0)) for i, c in enumerate(comparisons)]
