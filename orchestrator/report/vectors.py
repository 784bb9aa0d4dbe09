"""What the learned user vectors know: z_long against each profile's preferences, and how far it moves.

``rag_vector`` stores z_long after every session in its memory snapshot
(``memory.user_vector``); any method that does the same is analysed alike.

- **Ground truth.** A user's preferences as a set of (conflict group,
  preference text) pairs, from the run's profiles (experiment.yaml, as the judge
  reads them). Two users are alike by the Jaccard index of their sets.
- **Similarity.** Over every pair of users: the cosine of their final z_long
  against the Jaccard of their preferences. Pairs sharing more than the median
  pair are set against the rest (mean cosine of each), and the rank correlation
  (Spearman) of the two is tested with a Mantel test: users, not pairs, are
  permuted, since pairs that share a user are not independent draws. The test is
  one-sided (do users who share preferences get closer vectors?).
- **Movement.** Per session index, the mean over users of ``|z_long(s) -
  z_long(previous session)|``, with the bootstrap interval of the other tables.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import combinations

import numpy as np
from scipy import stats

from attune.orchestrator.report.stats import Estimate, mean_interval

PERMUTATIONS = 999
# Fewer users than this give too few distinct permutations (4! = 24) for a Mantel p below 0.05.
MIN_USERS = 5


@dataclass
class VectorTrace:
    """z_long after each session, per method and user, collected while the session log streams by."""

    # method -> profile id -> session index -> z_long
    vectors: dict[str, dict[str, dict[int, np.ndarray]]] = field(default_factory=dict)

    def add(self, method: str, profile_id: str, session: int, memory: dict) -> None:
        state = memory.get("user_vector")
        if isinstance(state, dict) and state.get("z_long"):
            z_long = np.asarray(state["z_long"], dtype=np.float32)
            self.vectors.setdefault(method, {}).setdefault(profile_id, {})[session] = z_long


@dataclass(frozen=True)
class Similarity:
    """Final z_long cosine against preference overlap over every pair of users."""

    users: int
    pairs: int
    jaccard: np.ndarray  # per pair, in the order of ``combinations(users, 2)``
    cosine: np.ndarray
    more: float | None  # mean cosine of pairs sharing more than the median pair
    less: float | None  # ... of the rest
    rho: float | None
    p: float | None
    note: str = ""  # why there is no test


@dataclass(frozen=True)
class VectorAnalysis:
    method: str
    similarity: Similarity | None  # None: no ground truth (say why in ``missing``)
    movement: dict[int, Estimate]  # session index -> mean |z_long(s) - z_long(previous)| over users
    missing: str = ""


def preference_sets(profiles) -> dict[str, frozenset[tuple[str, str]]]:
    """profile id -> its preferences as (conflict group, preference text) pairs."""
    return {p.user_id: frozenset((q.conflict_group, q.preference.strip().lower()) for q in p.preferences)
            for p in profiles}


def jaccard(a: frozenset, b: frozenset) -> float:
    return len(a & b) / len(a | b) if a | b else 0.0


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    """Rounded to 9 decimals, so that cosines equal but for float error tie in the ranks."""
    norm = float(np.linalg.norm(a) * np.linalg.norm(b))
    return round(float(a @ b) / norm, 9) if norm else 0.0


def mantel(a: np.ndarray, b: np.ndarray, permutations: int = PERMUTATIONS, seed: int = 0) -> tuple[float, float]:
    """Spearman's rho of the upper triangles of two symmetric user x user matrices, and the one-sided p of a
    permutation test that permutes the users of ``b`` (rows and columns together)."""
    upper = np.triu_indices(len(a), 1)
    rho = float(stats.spearmanr(a[upper], b[upper]).statistic)
    rng = np.random.default_rng(seed)
    at_least = 0
    for _ in range(permutations):
        order = rng.permutation(len(b))
        at_least += stats.spearmanr(a[upper], b[np.ix_(order, order)][upper]).statistic >= rho - 1e-12
    return rho, (at_least + 1) / (permutations + 1)


def similarity(final: dict[str, np.ndarray], truth: dict[str, frozenset], seed: int = 0,
               permutations: int = PERMUTATIONS) -> Similarity:
    users = sorted(u for u in final if u in truth)
    n = len(users)
    gt, vec = np.eye(n), np.eye(n)
    for i, j in combinations(range(n), 2):
        gt[i, j] = gt[j, i] = jaccard(truth[users[i]], truth[users[j]])
        vec[i, j] = vec[j, i] = cosine(final[users[i]], final[users[j]])
    upper = np.triu_indices(n, 1)
    pairs_gt, pairs_vec = gt[upper], vec[upper]
    note = ""
    if n < MIN_USERS:
        note = f"{n} users with a vector and a profile; a test needs {MIN_USERS}"
    elif np.ptp(pairs_gt) == 0:
        note = "every pair of users shares as much as every other: nothing to compare"
    elif np.ptp(pairs_vec) == 0:
        note = "every pair of users has the same z_long cosine"
    more = pairs_gt > np.median(pairs_gt) if len(pairs_gt) else np.zeros(0, bool)
    rho, p = (None, None) if note else mantel(gt, vec, permutations, seed)
    return Similarity(n, len(pairs_gt), pairs_gt, pairs_vec, _mean(pairs_vec[more]), _mean(pairs_vec[~more]),
                      rho, p, note)


def _mean(values: np.ndarray) -> float | None:
    return float(values.mean()) if len(values) else None


def movement(by_user: dict[str, dict[int, np.ndarray]], resamples: int, seed: int) -> dict[int, Estimate]:
    """session index -> mean over users of the distance z_long moved since the user's previous session."""
    steps: dict[int, list[float]] = {}
    for sessions in by_user.values():
        order = sorted(sessions)
        for previous, current in zip(order, order[1:], strict=False):
            steps.setdefault(current, []).append(float(np.linalg.norm(sessions[current] - sessions[previous])))
    return {s: mean_interval(values, resamples, seed) for s, values in sorted(steps.items())}


def analyze_vectors(trace: VectorTrace, truth: dict[str, frozenset] | None, missing: str, resamples: int,
                    seed: int) -> list[VectorAnalysis]:
    """One analysis per method that stored user vectors; ``truth`` None (with the reason) skips similarity."""
    analyses = []
    for method, by_user in trace.vectors.items():
        final = {user: sessions[max(sessions)] for user, sessions in by_user.items()}
        sim = similarity(final, truth, seed) if truth is not None else None
        analyses.append(VectorAnalysis(method, sim, movement(by_user, resamples, seed), missing))
    return analyses
