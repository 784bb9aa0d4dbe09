"""Phase F from hand-made phase outputs: the comparisons, the recommendation rule, REPORT.md, the registry."""

from __future__ import annotations

import csv
import json
import re
from dataclasses import replace

import pytest
from scipy import stats

from attune.orchestrator.study.analysis import against_baseline, arms, better, phase_analysis, recommendation
from attune.orchestrator.study.data import write_folder
from attune.orchestrator.study.generate import generate_corpus

USERS = [f"persona_00{i}" for i in range(6)]
PREFIX_ROUGE = [0.25, 0.15, 0.22, 0.18, 0.21, 0.19]  # around the baseline's 0.2: a wash


def scores(rouge: float, verbosity: float = 5.0) -> dict:
    return {"rouge_l": rouge, "verbosity_error": verbosity, "embedding_similarity": 0.5, "length_consistency": 0.7}


@pytest.fixture()
def study(tmp_path):
    folder = tmp_path / "study"
    for sub in ("b_baseline", "c_global/lora", "c_global/prefix", "d_users/clusters", "e_persona", "f_ablations"):
        (folder / sub).mkdir(parents=True)
    write_folder(generate_corpus(2, 5), folder / "a_data" / "corpus")
    (folder / "config.yaml").write_text("name: study\nseed: 0\n")
    (folder / "b_baseline" / "per_user.json").write_text(json.dumps({u: scores(0.2) for u in USERS}))
    (folder / "c_global" / "lora" / "per_user.json").write_text(json.dumps({u: scores(0.3) for u in USERS}))
    (folder / "c_global" / "prefix" / "per_user.json").write_text(json.dumps(
        {u: scores(r, verbosity=9.0) for u, r in zip(USERS, PREFIX_ROUGE, strict=True)}))
    (folder / "d_users" / "done.json").write_text(json.dumps({"kind": "lora"}))
    (folder / "d_users" / "per_user.json").write_text(json.dumps({u: {
        "scores": scores(0.35), "delta_norm": 0.1 * k, "lift_vs_global": {"rouge_l": 0.05}} for k, u in
        enumerate(USERS[:3])}))
    (folder / "d_users" / "clusters" / "per_user.json").write_text(json.dumps({u: {
        "scores": scores(0.4), "cluster_scores": scores(0.32), "cluster": k % 2} for k, u in enumerate(USERS[:4])}))
    (folder / "e_persona" / "results.json").write_text(json.dumps(
        {"confusion": [[1, 0], [1, 0]], "accuracy_at_1": 0.5}))
    (folder / "f_ablations" / "results.json").write_text(json.dumps(
        [{"factor": "prefix_length", "value": str(n), "users": 2, "steps": 4, "seconds": 1.5,
          "macro": scores(0.1 * k)} for k, n in enumerate((10, 20))]))
    return folder


def test_each_arm_against_the_baseline_by_hand(study):
    tests = against_baseline(arms(study), resamples=500)
    rouge = {arm: (c, t) for arm, c, t in tests["rouge_l"]}
    lora, _ = rouge["global lora"]
    assert lora.difference.value == pytest.approx(0.1) and (lora.positive, lora.nonzero) == (6, 6)
    assert lora.p == pytest.approx(stats.binomtest(6, 6).pvalue)  # 0.03125
    # Holm over five arms: lora's p is the smallest of 0.03125 (lora), 0.125 (cluster and cluster+user, 4 of 4),
    # 0.25 (per-user, 3 of 3) and 1.0 (prefix, 3 of 6)
    assert lora.holm == pytest.approx(5 * 0.03125)
    prefix, t_p = rouge["global prefix"]
    differences = [r - 0.2 for r in PREFIX_ROUGE]
    assert prefix.difference.value == pytest.approx(sum(differences) / 6)
    assert t_p == pytest.approx(stats.ttest_rel(PREFIX_ROUGE, [0.2] * 6).pvalue)
    assert rouge["per-user lora"][0].difference.users == 3, "per-user adapters are paired on their own users"
    verbosity = {arm: c for arm, c, _ in tests["verbosity_error"]}
    assert verbosity["global prefix"].difference.value == pytest.approx(4.0)


def test_the_recommendation_rule(study):
    tests = against_baseline(arms(study), resamples=500)
    # lora: +0.1 for all 6 users, but Holm p 0.156 > 0.05: not told apart, so the rule keeps the baseline
    assert better("rouge_l", dict((a, c) for a, c, _ in tests["rouge_l"])["global lora"]) is None
    assert recommendation(tests, arms(study)).startswith("Keep the baseline")
    only_lora = {m: [row for row in rows if row[0] == "global lora"] for m, rows in tests.items()}
    for metric, rows in only_lora.items():  # alone, lora's p is 0.031: better, and the rule serves it
        only_lora[metric] = [(a, replace(c, holm=c.p), t) for a, c, t in rows]
    assert recommendation(only_lora, arms(study)).startswith("Serve global lora: the largest ROUGE-L gain")


def test_the_recommendation_compares_arms_on_their_common_users():
    users = [f"u{i}" for i in range(8)]
    base = {u: scores(0.2) for u in users}
    # Over its own 8 users A gains 0.2275 on average and B (6 of them) 0.25; on the 6 they share, A gains 0.3.
    a = {u: scores(0.2 + (0.3 if i < 6 else 0.01)) for i, u in enumerate(users)}
    b = {u: scores(0.45) for u in users[:6]}
    all_scores = {"baseline": base, "arm a": a, "arm b": b}
    tests = {m: [(arm, replace(c, holm=c.p), t) for arm, c, t in rows]
             for m, rows in against_baseline(all_scores, resamples=500).items()}
    advice = recommendation(tests, all_scores)
    assert advice.startswith("Serve arm a: the largest ROUGE-L gain over the baseline (+0.300")
    assert "over the 6 users every candidate arm was scored on; next: arm b (+0.250)" in advice


def test_the_report_the_reproducibility_note_and_the_registry(study):
    summaries = {"data": {"users": 6, "held_out": 1, "cleaning": {"sessions_repeated": 0}},
                 "users": {"users": 3, "kind": "lora", "start": "global", "helped_vs_global": 3, "hurt_vs_global": 0,
                           "drift_lift_spearman": None, "update_seconds_mean": 12.0, "update_peak_rss_mib_max": 900},
                 "persona": {"queries": 2, "accuracy_at_1": 0.5, "accuracy_at_5": 1.0,
                             "by_embedder": {"minilm": {"accuracy_at_1": 0.5, "accuracy_at_5": 1.0},
                                             "smollm2 base": {"accuracy_at_1": 0.0, "accuracy_at_5": 1.0}}}}
    summaries["users"]["clusters"] = {
        "clusters": 2, "users": 4, "helped_by_user_delta": 4, "hurt_by_user_delta": 0, "drift_lift_spearman": None,
        "macro_cluster_lift_vs_global": {"rouge_l": 0.02}, "macro_lift_vs_global": {"rouge_l": 0.1}}
    result = phase_analysis(study, summaries, held_out=["persona_005"])
    report = (study / "f_analysis" / "REPORT.md").read_text()
    # The first lines: which arms the tests separate and which are tied (6 users or fewer separate none).
    assert report.split("\n\n")[1].startswith("On the study's test users, by macro rouge_l") and \
        "Tied (cannot be told apart): cluster+user lora and per-user lora;" in report
    assert "## External test" not in report, "the study had no external test"
    for heading in ("## Recommendation", "## Which arms the tests separate", "## Against the baseline", "### rouge_l",
                    "## Per-user updates",
                    "### Cluster adapters", "## Persona prediction", "## Ablations", "### prefix length", "## Plots"):
        assert heading in report
    assert "| smollm2 base | 0% | 100% |" in report and "| 20 | 2 | 4 | 1.5 | 0.100 |" in report
    assert "with each user's tiny delta on top: +0.100" in report
    plots = re.findall(r"\]\((plots/[a-z0-9-]+\.png)\)", report)
    assert len(plots) == 5 and all((study / "f_analysis" / plot).exists() for plot in plots)
    assert result["recommendation"] in report
    assert "sha256" in (study / "f_analysis" / "REPRODUCIBILITY.md").read_text()
    rows = list(csv.DictReader((study / "experiments.csv").open()))
    assert [r["arm"] for r in rows] == ["baseline", "global lora", "global prefix", "per-user lora", "cluster lora",
                                        "cluster+user lora"]
    assert rows[1]["macro_rouge_l"] == "0.3" and rows[3]["users"] == "3" and rows[5]["macro_rouge_l"] == "0.4"
    phase_analysis(study, summaries, held_out=["persona_005"])
    assert len(list(csv.DictReader((study / "experiments.csv").open()))) == 12, "each analysis appends its rows"
