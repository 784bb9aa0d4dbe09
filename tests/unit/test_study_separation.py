"""Which arms the study's tests separate and which are tied (separation.py), on hand-made per-user numbers."""

from __future__ import annotations

import pytest

from attune.orchestrator.study.separation import rank, summary


def per_user(values: list[float]) -> dict:
    return {f"u{k:02d}": {"rouge_l": v} for k, v in enumerate(values)}


def test_neighbours_the_tests_cannot_tell_apart_are_tied():
    base = [0.30 + 0.01 * (k % 3) for k in range(12)]
    scores = {
        "baseline": per_user(base),
        "global prefix": per_user([b + 0.20 for b in base]),  # clearly above the baseline, every user
        "global lora": per_user([b + 0.20 + (0.01 if k % 2 else -0.008) for k, b in enumerate(base)]),  # a wash
        "per-user lora": per_user([b + 0.40 for b in base][:8]),  # above both, on its 8 users
    }
    ranking = rank(scores)
    assert list(ranking.macro) == ["per-user lora", "global lora", "global prefix", "baseline"]
    assert [(s.upper, s.lower, s.separated) for s in ranking.steps] == [
        ("per-user lora", "global lora", True), ("global lora", "global prefix", False),
        ("global prefix", "baseline", True)]
    top = ranking.steps[0].comparison
    # The second smallest p of three, so Holm multiplies it by 2.
    assert top.difference.users == 8 and top.positive == 8 and top.holm == pytest.approx(2 * 2 * 0.5 ** 8)
    line = summary(ranking, "On the test users")
    assert "per-user lora 0.709 > global lora 0.311" not in line  # macro over each arm's own users
    assert "> global lora" in line and "global lora 0.5" in line and "= global prefix 0.510 > baseline 0.310" in line
    assert line.endswith("Separated: per-user lora from global lora; global prefix from baseline. Tied (cannot be "
                         "told apart): global lora and global prefix.")


def test_with_few_users_nothing_is_separated():
    scores = {"baseline": per_user([0.2, 0.3, 0.25]), "global lora": per_user([0.5, 0.6, 0.55])}
    ranking = rank(scores)
    assert not ranking.separated and "Separated: no neighbouring arms" in summary(ranking, "x")
