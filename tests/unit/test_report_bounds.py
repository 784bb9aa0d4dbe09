"""The report's bounds: which metrics separate oracle from vanilla, and each method's share of the oracle gap."""

from __future__ import annotations

import pytest

from attune.orchestrator.report import sections
from attune.orchestrator.report.analysis import corrected, method_pairs
from attune.orchestrator.report.bounds import gap_share, gaps, headline
from attune.orchestrator.report.plots import oracle_gap
from attune.orchestrator.report.render import Table, Text
from attune.orchestrator.report.stats import compare

USERS = [f"u{i}" for i in range(8)]


def values(*numbers: float) -> dict[str, float]:
    return dict(zip(USERS, numbers, strict=True))


VANILLA = values(0.1, 0.2, 0.0, 0.3, 0.1, 0.2, 0.0, 0.1)
ORACLE = values(0.9, 0.8, 1.0, 0.7, 0.9, 0.6, 0.8, 0.9)
# Halfway between the two for every user: its share is 50%.
HALFWAY = {u: (VANILLA[u] + ORACLE[u]) / 2 for u in USERS}


def test_a_method_halfway_between_vanilla_and_the_oracle_closes_half_the_gap():
    share = gap_share(HALFWAY, VANILLA, ORACLE, resamples=500, seed=0)
    assert share.value == pytest.approx(0.5) and share.users == 8
    assert share.low == pytest.approx(0.5) and share.high == pytest.approx(0.5)


def test_the_share_is_of_the_means_and_its_interval_resamples_users():
    noisy = values(0.9, 0.1, 0.5, 0.2, 0.4, 0.5, 0.3, 0.1)
    share = gap_share(noisy, VANILLA, ORACLE, resamples=2000, seed=0)
    expected = (sum(noisy.values()) - sum(VANILLA.values())) / (sum(ORACLE.values()) - sum(VANILLA.values()))
    assert share.value == pytest.approx(expected)
    assert share.low < expected < share.high


def test_no_share_where_the_oracle_equals_vanilla_or_no_user_played_all_three():
    assert gap_share(HALFWAY, VANILLA, VANILLA, 100, 0).note == "oracle equals vanilla"
    assert gap_share({}, VANILLA, ORACLE, 100, 0).note == "no user played all three"


def test_bounds_meet_vanilla_and_each_other_never_the_contenders():
    pairs = method_pairs(["vanilla", "rag", "contextual", "anti_oracle", "oracle"])
    assert ("oracle", "vanilla") in pairs and ("anti_oracle", "vanilla") in pairs
    assert ("oracle", "anti_oracle") in pairs
    assert not [p for p in pairs if {"rag", "contextual"} & set(p) and {"oracle", "anti_oracle"} & set(p)]
    assert ("rag", "vanilla") in pairs and ("rag", "contextual") in pairs


def analysis_like(per_user: dict) -> object:
    methods = ["vanilla", "rag", "oracle"]
    comparisons = {name: corrected([compare(a, b, by.get(a, {}), by.get(b, {}), 500, 0)
                                    for a, b in method_pairs(methods)]) for name, by in per_user.items()}

    class Like:
        bounds = {"oracle": "upper"}
        gaps = None

    like = Like()
    like.gaps = gaps(methods, per_user, comparisons, 500, 0)
    return like


def test_a_metric_that_cannot_tell_oracle_from_vanilla_is_named_as_unable_to_rank():
    flat = values(0.5, 0.5, 0.4, 0.6, 0.5, 0.5, 0.4, 0.6)
    per_user = {"compliance": {"vanilla": VANILLA, "oracle": ORACLE, "rag": HALFWAY},
                "task_success": {"vanilla": flat, "oracle": dict(reversed(list(flat.items()))), "rag": flat}}
    like = analysis_like(per_user)
    by_metric = {g.metric: g for g in like.gaps}
    assert by_metric["compliance"].can_rank and not by_metric["task_success"].can_rank
    blocks = sections.bounds(like)
    table = next(b for b in blocks if isinstance(b, Table))
    assert table.rows[0][:3] == ["compliance", table.rows[0][1], "yes"] and table.rows[0][3].startswith("50%")
    assert blocks[-1] == Text("Cannot rank at this size (oracle not told from vanilla): task_success.")


def test_a_run_without_an_oracle_says_it_cannot_calibrate():
    class Like:
        bounds: dict = {}
        gaps: list = []

    (_, text) = sections.bounds(Like())
    assert text.text.startswith("This run has no oracle, so nothing says whether its metrics can rank")


def test_the_headline_names_what_the_run_can_and_cannot_rank_on():
    flat = values(0.5, 0.5, 0.4, 0.6, 0.5, 0.5, 0.4, 0.6)
    per_user = {"compliance": {"vanilla": VANILLA, "oracle": ORACLE, "rag": HALFWAY},
                "task_success": {"vanilla": flat, "oracle": dict(reversed(list(flat.items()))), "rag": flat}}
    line = headline(analysis_like(per_user).gaps, users=8)
    assert line == ("With 8 users this run tells oracle from vanilla on compliance: only these can rank methods; "
                    "it cannot tell them apart on task_success.")
    blind = headline(analysis_like({"task_success": per_user["task_success"]}).gaps, users=8)
    assert blind.startswith("With 8 users this run tells oracle from vanilla on no metric, so it cannot rank")
    assert headline([], users=2).startswith("This run has no oracle and vanilla")


def test_the_gap_picture_draws_only_the_metrics_that_can_rank():
    flat = values(0.5, 0.5, 0.4, 0.6, 0.5, 0.5, 0.4, 0.6)
    like = analysis_like({"compliance": {"vanilla": VANILLA, "oracle": ORACLE, "rag": HALFWAY},
                          "task_success": {"vanilla": flat, "oracle": flat, "rag": flat}})
    figure = oracle_gap(like)
    assert figure is not None and figure.png.startswith(b"\x89PNG")
    assert figure.title == "Share of the oracle gap per method"
    like.gaps = [g for g in like.gaps if not g.can_rank]
    assert oracle_gap(like) is None, "no picture of shares where no metric separates the bounds"
