"""The adapter study end to end on a tiny generated corpus: real SmolLM2, real trainer jobs (PEFT, a few steps),
real MiniLM scores; then resumed, and refused on bad input."""

from __future__ import annotations

import json

import pytest

from attune.orchestrator.cli import main
from attune.orchestrator.study.config import (
    Ablations,
    AdapterArm,
    ClusterAdapters,
    DataConfig,
    ExternalTest,
    SplitConfig,
    StudyConfig,
    UserAdapters,
)
from attune.orchestrator.study.evaluate import METRICS
from attune.orchestrator.study.examples import examples_for
from attune.orchestrator.study.folder import Study
from attune.orchestrator.study.generate import Difficulty
from attune.orchestrator.study.pipeline import run_study
from attune.services.common.settings import CommonSettings

ARM_PARAMS = {"eval_every": 2, "eval_max_tokens": 8, "batch_size": 2}


def tiny_config() -> StudyConfig:
    return StudyConfig(
        name="tiny", data=DataConfig(users=4, sessions=10, difficulty=Difficulty(paraphrase=0.4, noise=0.2, drift=0.3,
                                                                                   context_only=0.3)),
        split=SplitConfig(online=4, held_out_users=0.25), external_test=ExternalTest(dialogues=2),
        clusters=2, eval_replies_per_user=2, eval_rows=2,
        global_adapters=[AdapterArm(kind="lora", max_steps=4, params=ARM_PARAMS),
                         AdapterArm(kind="prefix", max_steps=4, params=ARM_PARAMS)],
        user_adapters=UserAdapters(kind="lora", start="global", epochs=1, batch_size=2, users=2),
        cluster_adapters=ClusterAdapters(token_budget=600, user_token_budget=200),
        ablations=Ablations(lora_targets=[["q_proj", "v_proj"]], prefix_lengths=[4, 8], online_budgets=[1, 3],
                            max_steps=2, users=1, eval_replies_per_user=2))


async def test_every_phase_on_a_tiny_corpus_then_resume(processes, models, tmp_path, data_dir, monkeypatch):
    monkeypatch.setenv("ATTUNE_MODEL_ADAPTER_DIR", str(tmp_path / "adapters"))
    monkeypatch.setenv("ATTUNE_TRAINER_ADAPTER_DIR", str(tmp_path / "adapters"))
    monkeypatch.setenv("ATTUNE_TRAINER_JOB_THREADS", "1")
    folder, common = tmp_path / "study", CommonSettings(data_dir=data_dir)
    summaries = await run_study(tiny_config(), folder, common)
    assert list(summaries) == ["data", "baseline", "global", "users", "persona", "ablations", "analysis"]
    report = (folder / "f_analysis" / "REPORT.md").read_text()
    assert summaries["analysis"]["recommendation"] in report and "## Against the baseline" in report
    # The report opens with which arms its tests separate and which are tied, on both tests.
    opening = report.split("\n\n")[1:3]
    assert opening[0].startswith("On the study's test users, by macro rouge_l") and "Tied" in opening[0]
    assert opening[1].startswith("On the external cold-start test") and "## External test" in report
    assert summaries["analysis"]["separation"] == opening[0]
    # The external test: 2 shipped EdgeWisePersona dialogues, 2 replies each, for the baseline and each global arm.
    for arm in ("b_baseline", "c_global/lora", "c_global/prefix"):
        external = json.loads((folder / arm / "external" / "per_user.json").read_text())
        assert list(external) == ["persona_000", "persona_001"]
        assert len((folder / arm / "external" / "replies.jsonl").read_text().splitlines()) == 4
    assert set(summaries["baseline"]["external_macro"]) == set(summaries["global"]["lora"]["external_macro"]) \
        == set(METRICS)

    data = summaries["data"]
    assert data["users"] == 4 and data["held_out"] == 1
    validation = json.loads((folder / "a_data" / "validation.json").read_text())
    assert all(check["valid"] for check in validation.values())
    cold = [json.loads(line) for line in (folder / "a_data" / "cold_start.jsonl").read_text().splitlines()]
    assert [c["persona_id"] for c in cold] == json.loads((folder / "a_data" / "held_out.json").read_text())

    base = json.loads((folder / "b_baseline" / "per_user.json").read_text())
    assert len(base) == 4 and all(set(scores) == set(METRICS) for scores in base.values())
    assert summaries["baseline"]["replies"] == 8
    # The global adapters learn from every user's train split except the held-out user's.
    study = Study(tiny_config(), folder, common)
    held_out = set(study.held_out())
    expected = [e.reference for e in examples_for(study.users(), {u: s.train for u, s in study.splits().items()
                                                                  if u not in held_out}, study.baseline())]
    train_rows = [json.loads(line) for line in (folder / "c_global" / "train.jsonl").read_text().splitlines()]
    assert [r["completion"] for r in train_rows] == expected and expected
    for kind in ("lora", "prefix"):
        arm = summaries["global"][kind]
        assert arm["steps"] >= 2 and arm["best_val_rouge_l"] is not None
        training = json.loads((tmp_path / "adapters" / arm["adapter"] / "training.json").read_text())
        assert training["examples"] == len(train_rows) and training["scope"] == "global"
        deltas = json.loads((folder / "c_global" / kind / "deltas.json").read_text())
        per_user = json.loads((folder / "c_global" / kind / "per_user.json").read_text())
        for user, delta in deltas.items():  # the deltas are computed from the two score files, per user
            assert delta["rouge_l"] == pytest.approx(per_user[user]["rouge_l"] - base[user]["rouge_l"])
    users = summaries["users"]
    assert users["users"] == 2 and users["helped_vs_global"] + users["hurt_vs_global"] <= 2
    per_user = json.loads((folder / "d_users" / "per_user.json").read_text())
    for user, row in per_user.items():
        training = json.loads((tmp_path / "adapters" / f"tiny-lora-user-{user}" / "training.json").read_text())
        assert training["init_adapter"].endswith("tiny-lora-global") and training["scope_id"] == user
        assert row["delta_norm"] == training["delta_norm"] > 0, "the update moved the global adapter"
        assert row["lift_vs_global"]["rouge_l"] == pytest.approx(row["scores"]["rouge_l"] - json.loads(
            (folder / "c_global" / "lora" / "per_user.json").read_text())[user]["rouge_l"])
        assert row["seconds"] > 0 and row["peak_rss_mib"] > 0
    check_clusters(folder, tmp_path / "adapters", summaries["users"]["clusters"])
    persona = summaries["persona"]
    assert persona["queries"] > 0 and 0 <= persona["accuracy_at_1"] <= 1
    assert list(persona["by_embedder"]) == ["minilm", "smollm2 base", "smollm2 global lora"]
    check_ablations(folder, tmp_path / "adapters")
    for heading in ("### Cluster adapters", "## Ablations", "### online budget", "| smollm2 global lora |"):
        assert heading in report

    # Resume: a finished phase is not run again; a phase re-run keeps the replies it had.
    replies = folder / "b_baseline" / "replies.jsonl"
    before = replies.read_text()
    (folder / "b_baseline" / "done.json").unlink()
    again = await run_study(tiny_config(), folder, common, phases=("data", "baseline"))
    assert again["baseline"]["replies"] == 8 and replies.read_text() == before, "no reply asked for twice"


def check_clusters(folder, adapters, summary: dict) -> None:
    """Each cluster adapter updated the global one on its members' online slices; each member's delta started
    from their cluster's adapter; the lifts are computed from the score files."""
    cluster_map = json.loads((folder / "a_data" / "clusters.json").read_text())["cluster_map"]
    rows = json.loads((folder / "d_users" / "clusters" / "per_user.json").read_text())
    assert summary["users"] == len(rows) == 2 and summary["clusters"] == len({cluster_map[u] for u in rows})
    for user, row in rows.items():
        cluster = json.loads((adapters / f"tiny-lora-cluster-{cluster_map[user]}" / "training.json").read_text())
        assert cluster["scope"] == "cluster" and cluster["init_adapter"].endswith("tiny-lora-global")
        delta = json.loads((adapters / f"tiny-lora-cluster-user-{user}" / "training.json").read_text())
        assert delta["init_adapter"].endswith(f"tiny-lora-cluster-{cluster_map[user]}") and delta["delta_norm"] > 0
        assert row["lift_vs_cluster"]["rouge_l"] == pytest.approx(row["scores"]["rouge_l"]
                                                                 - row["cluster_scores"]["rouge_l"])


def check_ablations(folder, adapters) -> None:
    rows = json.loads((folder / "f_ablations" / "results.json").read_text())
    assert [(r["factor"], r["value"]) for r in rows] == [("lora_targets", "q_v"), ("prefix_length", "4"),
                                                         ("prefix_length", "8"), ("online_budget", "1"),
                                                         ("online_budget", "3")]
    prefix = json.loads((adapters / "tiny-ablation-prefix-prefix_length-8" / "adapter_config.json").read_text())
    assert prefix["num_virtual_tokens"] == 8
    assert [r["examples"] for r in rows[3:]] == [1, 3], "the budget is the number of online examples learned"
    for r in rows:
        assert set(r["macro"]) == set(METRICS) and r["users"] == 1


def error_text(capsys) -> str:
    return " ".join(capsys.readouterr().err.split())  # the console wraps long lines


def test_bad_config_and_bad_data_are_refused_with_exit_2(tmp_path, capsys):
    config = tmp_path / "study.yaml"
    config.write_text("name: x\ndata: {source: folder}\n")
    assert main(["study", "edgewise", "--config", str(config), "--out", str(tmp_path / "s")]) == 2
    assert "source 'folder' needs data.folder" in error_text(capsys)
    config.write_text(f"name: x\ndata: {{source: folder, folder: {tmp_path / 'none'}}}\n")
    assert main(["study", "edgewise", "--config", str(config), "--out", str(tmp_path / "s"), "--phases", "data"]) == 2
    assert "missing characters.jsonl" in error_text(capsys)
    assert main(["study", "edgewise", "--config", str(config), "--out", str(tmp_path / "s2"),
                 "--phases", "report"]) == 2
    assert "unknown phase(s) report" in error_text(capsys)
