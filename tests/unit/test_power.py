"""Power from a pilot: variance components of paired differences, the minimum detectable effect, users needed."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from attune.orchestrator.cli import main
from attune.orchestrator.report import sections
from attune.orchestrator.report.collect import Run, Session
from attune.orchestrator.report.power import achieved_mde, mde, power_table, spread, users_needed, z_total
from attune.orchestrator.report.render import Table, Text
from attune.orchestrator.report.vectors import VectorTrace
from tests.unit.test_report import write_run


def pilot(users: int, sessions: int, between: float, within: float, gap: float, seed: int = 0) -> Run:
    """vanilla, rag (true difference 0) and oracle (``gap``): each user's difference has its own offset
    (sd ``between``) and each session its own noise (sd ``within``)."""
    rng = np.random.default_rng(seed)
    rows = []
    for u in range(users):
        offsets = {"vanilla": 0.0, "rag": rng.normal(0, between), "oracle": gap + rng.normal(0, between)}
        for s in range(1, sessions + 1):
            base = rng.normal(0.5, 0.1)
            for method, offset in offsets.items():
                noise = 0.0 if method == "vanilla" else rng.normal(0, within)
                labels = {"method": method, "dataset": "math-500", "session": str(s), "conflict_group": "none"}
                rows.append(Session(method, f"u{u}", s, labels, (base + offset + noise,), f"{method}{u}{s}"))
    return Run(Path("pilot"), ("compliance",), rows, 0, {}, VectorTrace())


def test_the_variance_components_come_back_from_a_simulated_pilot():
    found = spread(pilot(users=300, sessions=6, between=0.2, within=0.3, gap=0.4), 0, ["rag", "oracle"])
    assert found.users == 300 and found.sessions == 6
    assert found.between == pytest.approx(0.2 ** 2, rel=0.25)
    assert found.within == pytest.approx(0.3 ** 2, rel=0.1)
    assert found.user_sd(6) == pytest.approx(math.sqrt(0.04 + 0.09 / 6), rel=0.15)


def test_more_users_or_sessions_lower_the_mde_and_a_bigger_effect_needs_fewer_users():
    assert mde(0.3, 5, 3) is None, "under 6 users no sign test reaches p < 0.05"
    assert mde(0.3, 40, 3) < mde(0.3, 10, 3)
    assert mde(0.3, 10, 1) < mde(0.3, 10, 10), "more comparisons, a stricter level"
    assert users_needed(0.3, 0.2, 3) > users_needed(0.3, 0.4, 3) >= 6
    assert users_needed(0.3, 0.0, 3) is None


def test_the_mde_at_the_users_needed_is_the_effect():
    """The two formulas are each other's inverse: at the users needed for an effect, the MDE is that effect."""
    effect, sd = 0.1, 0.25
    exact = (z_total(4) * sd / effect) ** 2 * math.pi / 2
    assert users_needed(sd, effect, 4) == math.ceil(exact)
    assert mde(sd, math.ceil(exact), 4) <= effect < mde(sd, math.floor(exact), 4)


def test_the_table_finds_the_oracle_gap_and_the_users_to_see_it():
    (row,) = power_table(pilot(users=12, sessions=3, between=0.1, within=0.2, gap=0.3), users=30, sessions=3,
                         comparisons=3, effect=0.05)
    assert row.observed == pytest.approx(0.3, abs=0.1)
    assert row.mde is not None and row.mde < row.observed
    assert row.users_for_effect > row.users_for_observed


def test_a_metric_the_pilot_never_measured_has_no_row_values():
    run = pilot(users=4, sessions=2, between=0.1, within=0.1, gap=0.2)
    empty = Run(run.folder, run.names, [s._replace(values=(None,)) for s in run.sessions], 0, {}, VectorTrace())
    (row,) = power_table(empty, users=30, sessions=2, comparisons=1)
    assert row.spread is None and row.mde is None


def test_a_comparison_reports_the_difference_its_own_users_could_find():
    users = [f"u{i}" for i in range(10)]
    first, second = {u: 0.5 + 0.1 * (i % 3) for i, u in enumerate(users)}, dict.fromkeys(users, 0.5)
    sd = float(np.std([first[u] - second[u] for u in users], ddof=1))
    assert achieved_mde(first, second, 2) == pytest.approx(mde(sd, 10, 2))
    assert achieved_mde(first, {"u0": 0.1}, 2) is None


def test_comparisons_that_cannot_tell_apart_fold_into_one_line():
    from attune.orchestrator.report.analysis import analyze

    analysis = analyze(pilot(users=12, sessions=2, between=0.0, within=0.05, gap=0.5), resamples=200, seed=0)
    blocks = sections.comparisons(analysis)
    (table,) = [b for b in blocks if isinstance(b, Table)]
    assert [row[:2] for row in table.rows] == [["oracle", "vanilla"]]
    assert table.rows[0][-1] == "oracle higher than vanilla" and table.rows[0][-2] != "-", "its MDE is given"
    (folded,) = [b.text for b in blocks if isinstance(b, Text) and b.text.startswith("The run cannot tell apart")]
    assert folded.startswith("The run cannot tell apart 1 of 2 pairs: rag - vanilla (") and "MDE " in folded


def test_plan_prints_the_power_table_from_a_pilot(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")  # one row per line
    pilot_dir = write_run(tmp_path / "pilot")
    assert main(["plan", "demo", "--from", str(pilot_dir), "--effect", "0.5"]) == 0
    out = capsys.readouterr().out
    assert f"Power from {pilot_dir}" in out and "for 0.5" in out
    assert "tokens/s: 0.0 hours" not in out and " minutes" in out, "a small experiment's time in minutes"
    task = next(line for line in out.splitlines() if "task_success" in line)
    assert " 4 " in task and "none" in task, "the pilot's 4 users; the demo's 2 users give no MDE"
    assert main(["plan", "demo", "--from", str(tmp_path / "missing")]) == 2
