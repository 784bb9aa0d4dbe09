"""The report's user-vector analysis: ground truth from the run's profiles, pair similarity, Mantel test, movement.

The numbers are fixed by hand (distances of hand-picked vectors, a rho of 1 for
vectors built to order pairs as the profiles do); the report test builds z_long
from each profile's own preferences and from noise, and expects the report to
tell the first apart from the second.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml
from scipy import stats

from attune.orchestrator.benchmark.experiment import load_profiles_for, parse_experiment
from attune.orchestrator.benchmark.summary import SUMMARY
from attune.orchestrator.report import write_report
from attune.orchestrator.report.analysis import analyze
from attune.orchestrator.report.collect import read_run
from attune.orchestrator.report.vectors import VectorTrace, jaccard, mantel, movement, preference_sets, similarity
from tests.unit.test_report import record

USERS = 10


def test_jaccard_and_preference_sets_by_group_and_text():
    a, b = frozenset({("g", "x"), ("h", "y")}), frozenset({("g", "x"), ("h", "z")})
    assert jaccard(a, b) == pytest.approx(1 / 3)
    assert jaccard(frozenset(), frozenset()) == 0.0


def test_movement_is_the_mean_distance_since_the_previous_session():
    by_user = {"a": {1: np.array([0.0, 0.0]), 2: np.array([3.0, 4.0]), 4: np.array([3.0, 5.0])},
               "b": {1: np.array([1.0, 1.0]), 2: np.array([1.0, 1.0])}}
    moved = movement(by_user, resamples=2000, seed=0)
    assert list(moved) == [2, 4], "session 3 is missing for a: session 4 is measured from session 2"
    assert (moved[2].value, moved[2].users) == (pytest.approx(2.5), 2)
    expected = stats.bootstrap((np.array([5.0, 0.0]),), np.mean, n_resamples=2000, method="percentile",
                               random_state=0).confidence_interval
    assert (moved[2].low, moved[2].high) == (pytest.approx(expected.low), pytest.approx(expected.high))
    assert (moved[4].value, moved[4].low) == (pytest.approx(1.0), None), "one user: no interval"


def test_similarity_of_vectors_ordered_like_the_profiles():
    # u0..u4 share a decreasing number of preferences with u0; the vectors turn away from u0's by the same order.
    truth = {f"u{i}": frozenset({("g", str(k)) for k in range(i, i + 5)}) for i in range(5)}
    final = {f"u{i}": np.array([np.cos(0.3 * i), np.sin(0.3 * i)]) for i in range(5)}
    sim = similarity(final, truth, permutations=199)
    assert (sim.users, sim.pairs) == (5, 10)
    assert sim.rho == pytest.approx(1.0)
    assert sim.p < 0.05
    assert sim.more > sim.less
    # jaccard of u0 and u1: 4 shared of 6
    assert sim.jaccard[0] == pytest.approx(4 / 6)
    assert sim.cosine[0] == pytest.approx(np.cos(0.3))


def test_the_mantel_test_permutes_users_not_pairs():
    rng = np.random.default_rng(1)
    points = rng.normal(size=(6, 3))
    a = np.corrcoef(points)
    rho, p = mantel(a, a, permutations=99)
    assert rho == pytest.approx(1.0) and p == pytest.approx(1 / 100)
    noise = np.corrcoef(rng.normal(size=(6, 3)))
    assert mantel(a, noise, permutations=99)[1] > 0.05


def test_too_few_users_or_no_variation_is_said_not_tested():
    final = {u: np.ones(2) for u in "abc"}
    assert similarity(final, {u: frozenset({("g", "x")}) for u in "abc"}).note.startswith("3 users")
    final = {u: np.random.default_rng(ord(u)).normal(size=2) for u in "abcdef"}
    same = similarity(final, {u: frozenset({("g", "x")}) for u in "abcdef"})
    assert same.rho is None and "shares as much" in same.note


def write_vector_run(folder: Path, informative: bool) -> Path:
    """A rag_vector run of USERS schema profiles x 3 sessions whose z_long is the profile's own preferences
    (projected, growing over sessions) or noise."""
    folder.mkdir(parents=True)
    exp = parse_experiment({"name": "vectors", "methods": ["rag_vector"], "datasets": ["math-500"],
                            "n_profiles": USERS, "n_sessions": 3},
                           "test")
    (folder / "experiment.yaml").write_text(yaml.safe_dump(exp.model_dump(mode="json"), sort_keys=False))
    truth = preference_sets(load_profiles_for(exp))
    vocabulary = sorted(set().union(*truth.values()))
    projection = np.random.default_rng(0).normal(size=(len(vocabulary), 256))
    rng = np.random.default_rng(2)
    lines = []
    for user, prefs in truth.items():
        onehot = np.array([item in prefs for item in vocabulary], dtype=float)
        for session in (1, 2, 3):
            z_long = session * (onehot @ projection if informative else rng.normal(size=256))
            rec = record("vanilla", "u1", 1).model_copy(update={
                "method": "rag_vector", "profile_id": user, "session": session, "conflict": None,
                "memory": {"cards": [], "user_vector": {"z_long": z_long.round(6).tolist(), "updates": session}}})
            lines.append(rec.model_dump_json() + "\n")
    (folder / "sessions.jsonl").write_text("".join(lines))
    return folder


@pytest.mark.parametrize("informative", [True, False])
def test_the_report_tells_a_vector_that_knows_the_user_from_noise(tmp_path, informative):
    run = write_vector_run(tmp_path / "run", informative)
    analysis = analyze(read_run(run, tuple(SUMMARY)), resamples=500, seed=0)
    (vectors,) = analysis.vectors
    assert vectors.method == "rag_vector" and vectors.similarity.users == USERS
    assert vectors.similarity.pairs == USERS * (USERS - 1) // 2
    if informative:
        assert vectors.similarity.rho > 0.5 and vectors.similarity.p < 0.05
        # z_long = s * v: it moves by |v| from session 1 to 2 and again from 2 to 3
        assert vectors.movement[2].value == pytest.approx(vectors.movement[3].value, rel=1e-4)
    else:
        assert vectors.similarity.p > 0.05
    written = write_report([run])
    markdown, html = written.markdown, written.html
    text = markdown.read_text()
    assert "## User vectors" in text
    conclusion = "users who share more preferences have closer z_long"
    assert (conclusion in text) == informative
    assert html.read_text().count("<img") >= 1


def test_a_run_without_its_profiles_says_so(tmp_path):
    run = write_vector_run(tmp_path / "run", informative=True)
    (run / "experiment.yaml").unlink()
    trace = read_run(run, tuple(SUMMARY))
    assert isinstance(trace.vectors, VectorTrace) and trace.truth is None
    markdown = write_report([run]).markdown
    assert "No similarity analysis: the run's profiles could not be loaded" in markdown.read_text()
