"""Phase F: every arm against the baseline over users, plots, recommendations, REPORT.md and the registry.

Users are the unit, as in the benchmark report (orchestrator/report/stats.py,
whose code this reuses): per arm and metric, the per-user difference from the
baseline, its mean with a 95% percentile bootstrap interval, a sign test of
users helped against users hurt, and a paired t-test (``scipy.stats.ttest_rel``);
the sign-test p-values of one metric are Holm-corrected across the arms. An arm
is *better* on a metric only when the interval excludes 0 on the good side and
the corrected p is below 0.05.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure as MplFigure
from scipy import stats

from attune.orchestrator.benchmark.provenance import code_state, package_versions, sha256_file
from attune.orchestrator.report.render import Block, Figure, Heading, Table, Text, write_markdown
from attune.orchestrator.report.stats import Comparison, compare, holm
from attune.orchestrator.study import separation
from attune.orchestrator.study.data import FILES
from attune.orchestrator.study.evaluate import LOWER_IS_BETTER, METRICS

REGISTRY_COLUMNS = ("arm", "split", "date", "commit", "macro_rouge_l", "macro_verbosity_error", "users")


def arms(folder: Path) -> dict[str, dict[str, dict[str, float]]]:
    """arm -> user -> scores: the baseline, each global adapter, and the per-user adapters (their users only)."""
    out = {"baseline": _load(folder / "b_baseline" / "per_user.json")}
    for arm_folder in sorted((folder / "c_global").glob("*/per_user.json")):
        out[f"global {arm_folder.parent.name}"] = _load(arm_folder)
    users = folder / "d_users" / "per_user.json"
    if users.exists():
        out["per-user " + json.loads((folder / "d_users" / "done.json").read_text())["kind"]] = {
            user: row["scores"] for user, row in _load(users).items()}
    clusters = folder / "d_users" / "clusters" / "per_user.json"
    if clusters.exists():
        rows = _load(clusters)
        out["cluster lora"] = {user: row["cluster_scores"] for user, row in rows.items()}
        out["cluster+user lora"] = {user: row["scores"] for user, row in rows.items()}
    return out


def external_arms(folder: Path) -> dict[str, dict[str, dict[str, float]]]:
    """arm -> persona -> scores on the external test (external.py): the baseline and each global adapter; empty
    when the study has none."""
    base = folder / "b_baseline" / "external" / "per_user.json"
    if not base.exists():
        return {}
    out = {"baseline": _load(base)}
    for arm_folder in sorted((folder / "c_global").glob("*/external/per_user.json")):
        out[f"global {arm_folder.parent.parent.name}"] = _load(arm_folder)
    return out


def _load(path: Path) -> dict:
    return json.loads(path.read_text())


def against_baseline(scores: dict[str, dict[str, dict[str, float]]], resamples: int = 2000,
                     seed: int = 0) -> dict[str, list[tuple[str, Comparison, float]]]:
    """metric -> [(arm, comparison arm - baseline, paired t-test p)], Holm applied over the arms."""
    base = scores["baseline"]
    out = {}
    for metric in METRICS:
        rows = []
        for arm, users in scores.items():
            if arm == "baseline":
                continue
            a = {u: v[metric] for u, v in users.items()}
            b = {u: v[metric] for u, v in base.items()}
            common = sorted(a.keys() & b.keys())
            t_p = float(stats.ttest_rel([a[u] for u in common], [b[u] for u in common]).pvalue) \
                if len(common) >= 2 and np.ptp([a[u] - b[u] for u in common]) > 0 else 1.0
            rows.append((arm, compare(arm, "baseline", a, b, resamples, seed), t_p))
        adjusted = holm([c.p for _, c, _ in rows])
        out[metric] = [(arm, replace(c, holm=h), t) for (arm, c, t), h in zip(rows, adjusted, strict=True)]
    return out


def better(metric: str, comparison: Comparison) -> bool | None:
    """True: better than the baseline; False: worse; None: cannot tell apart."""
    if not comparison.told_apart:
        return None
    higher = comparison.difference.value > 0
    return higher != (metric in LOWER_IS_BETTER)


def recommendation(tests: dict[str, list[tuple[str, Comparison, float]]], scores: dict) -> str:
    """The explicit rule: among the arms better than the baseline on ROUGE-L and not worse on verbosity error,
    recommend the one with the largest mean ROUGE-L gain over the users every such arm was scored on (arms
    evaluated on different users are compared on their common users only); otherwise the baseline."""
    candidates = [arm for arm, c, _ in tests["rouge_l"] if better("rouge_l", c)]
    worse_verbosity = {arm for arm, c, _ in tests["verbosity_error"] if better("verbosity_error", c) is False}
    candidates = [arm for arm in candidates if arm not in worse_verbosity]
    if not candidates:
        return ("Keep the baseline: no arm is better on ROUGE-L with its interval off 0 and a Holm-corrected "
                "sign test below 0.05 without being worse on verbosity error.")
    common = set(scores["baseline"]).intersection(*(scores[arm] for arm in candidates))
    if not common:
        return (f"Arms better than the baseline ({', '.join(candidates)}) share no user, so none can be "
                f"recommended over the others; evaluate them on the same users.")
    gains = sorted(((float(np.mean([scores[arm][u]["rouge_l"] - scores["baseline"][u]["rouge_l"]
                                    for u in common])), arm) for arm in candidates), reverse=True)
    (gain, arm), rest = gains[0], gains[1:]
    runner_up = f"; next: {rest[0][1]} (+{rest[0][0]:.3f})" if rest else ""
    return (f"Serve {arm}: the largest ROUGE-L gain over the baseline (+{gain:.3f} per user on average, over the "
            f"{len(common)} users every candidate arm was scored on{runner_up}) among the arms better on ROUGE-L "
            f"and not worse on verbosity error.")


def _png(fig: MplFigure) -> bytes:
    FigureCanvasAgg(fig)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90, metadata={"Software": None})
    return buffer.getvalue()


def lift_violins(scores: dict) -> Figure | None:
    base = scores["baseline"]
    lifts = {arm: [users[u]["rouge_l"] - base[u]["rouge_l"] for u in users if u in base]
             for arm, users in scores.items() if arm != "baseline"}
    lifts = {arm: values for arm, values in lifts.items() if values}
    if not lifts:
        return None
    fig = MplFigure(figsize=(7, 4))
    ax = fig.add_subplot()
    parts = ax.violinplot(list(lifts.values()), showmeans=True)
    for body in parts["bodies"]:
        body.set_facecolor("0.8")
        body.set_edgecolor("black")
    ax.axhline(0, color="black", linewidth=0.8, linestyle="--")
    ax.set_xticks(range(1, len(lifts) + 1), list(lifts))
    ax.set_xlabel("arm")
    ax.set_ylabel("ROUGE-L F1 minus the baseline's, per user")
    title = "Per-user lift over the baseline (ROUGE-L)"
    ax.set_title(title)
    return Figure(title, _png(fig))


def drift_against_lift(users: dict) -> Figure | None:
    points = [(r["delta_norm"], r["lift_vs_global"]["rouge_l"]) for r in users.values() if r["lift_vs_global"]]
    if not points:
        return None
    fig = MplFigure(figsize=(6, 4))
    ax = fig.add_subplot()
    ax.scatter(*zip(*points, strict=True), marker="o", facecolors="none", edgecolors="black")
    ax.axhline(0, color="black", linewidth=0.8, linestyle="--")
    ax.set_xlabel("size of the per-user update (L2 of the weight change)")
    ax.set_ylabel("ROUGE-L F1 minus the global adapter's")
    title = "Per-user updates: drift against lift"
    ax.set_title(title)
    return Figure(title, _png(fig))


def cold_and_warm(scores: dict, held_out: set[str]) -> Figure | None:
    """Mean ROUGE-L per arm for held-out users (cold: never trained on) and training users (warm)."""
    arms_ = [a for a in scores if any(u in held_out for u in scores[a])]
    if not arms_ or not held_out:
        return None
    fig = MplFigure(figsize=(7, 4))
    ax = fig.add_subplot()
    for k, (label, hatch, pick) in enumerate((("cold start (held-out users)", "//", lambda u: u in held_out),
                                              ("warm (training users)", "", lambda u: u not in held_out))):
        values = [np.mean([v["rouge_l"] for u, v in scores[a].items() if pick(u)] or [np.nan]) for a in arms_]
        ax.bar([x + 0.4 * k for x in range(len(arms_))], values, 0.4, color="white", edgecolor="black",
               hatch=hatch, label=label)
    ax.set_xticks([x + 0.2 for x in range(len(arms_))], arms_)
    ax.set_xlabel("arm")
    ax.set_ylabel("mean ROUGE-L F1 over users")
    ax.set_ylim(0, 1)
    ax.legend(fontsize="small")
    title = "Cold start against warm users"
    ax.set_title(title)
    return Figure(title, _png(fig))


def confusion_heatmap(persona: dict) -> Figure | None:
    matrix = np.array(persona.get("confusion", []))
    if not matrix.size:
        return None
    fig = MplFigure(figsize=(6, 5))
    ax = fig.add_subplot()
    image = ax.imshow(matrix, cmap="Greys")
    fig.colorbar(image, ax=ax, label="test dialogues")
    ax.set_xlabel("predicted user (top-1)")
    ax.set_ylabel("true user")
    title = "Persona prediction from the first message"
    ax.set_title(f"{title} (accuracy@1 {persona['accuracy_at_1']:.0%})", fontsize="small")
    return Figure(title, _png(fig))


def registry_rows(scores: dict, date: str, commit: str) -> list[dict]:
    out = []
    for arm, users in scores.items():
        out.append({"arm": arm, "split": "test", "date": date, "commit": commit,
                    "macro_rouge_l": round(float(np.mean([v["rouge_l"] for v in users.values()])), 4),
                    "macro_verbosity_error": round(float(np.mean([v["verbosity_error"] for v in users.values()])), 4),
                    "users": len(users)})
    return out


def append_registry(path: Path, rows: list[dict]) -> None:
    """One row per arm, appended (the registry keeps every analysis of the study)."""
    new = not path.exists()
    with path.open("a", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=REGISTRY_COLUMNS)
        if new:
            writer.writeheader()
        writer.writerows(rows)


def _cell(comparison: Comparison) -> str:
    d = comparison.difference
    if d.value is None:
        return "-"
    if d.low is None:
        return f"{d.value:+.3f} (no interval: {d.note})"
    return f"{d.value:+.3f} [{d.low:+.3f}, {d.high:+.3f}]"


def macro_table(scores: dict) -> Table:
    return Table(["arm", "users", *METRICS], [[arm, str(len(users)), *(f"{np.mean([v[m] for v in users.values()]):.3f}"
                                                                        for m in METRICS)]
                                             for arm, users in scores.items()])


def comparison_blocks(tests: dict) -> list[Block]:
    """Per metric, each arm against the baseline."""
    verdict = {True: "better", False: "worse", None: "cannot tell apart"}
    blocks: list[Block] = [Text(
        "Per user the arm's score minus the baseline's; the mean with a 95% percentile bootstrap interval "
        "over users; users helped / hurt; the sign test's p Holm-corrected over the arms; a paired t-test's p. "
        "verbosity_error is better when lower.")]
    for metric in METRICS:
        rows = [[arm, str(c.difference.users), _cell(c), f"{c.positive} / {c.nonzero - c.positive}", f"{c.holm:.3g}",
                 f"{t:.3g}", verdict[better(metric, c)]] for arm, c, t in tests[metric]]
        blocks += [Heading(metric, 3), Table(["arm", "users", "mean difference [interval]", "helped / hurt",
                                              "sign test Holm p", "t-test p", "conclusion"], rows)]
    return blocks


def report_blocks(folder: Path, scores: dict, tests: dict, summaries: dict,
                  external: dict | None = None) -> list[Block]:
    """REPORT.md's blocks; its first lines say which arms the tests separate and which are tied (separation.py),
    on the study's test and, where the study has one, on the external test (``external``: arm -> persona ->
    scores)."""
    ranking = separation.rank(scores)
    blocks: list[Block] = [Heading(f"Adapter study: {folder.name}", 1),
                           Text(separation.summary(ranking, "On the study's test users"))]
    if external:
        blocks.append(Text(separation.summary(separation.rank(external), "On the external cold-start test")))
    blocks += [
        Text(f"Users: {summaries['data']['users']} ({summaries['data']['held_out']} held out for cold start). "
             f"Cleaning: {json.dumps(summaries['data']['cleaning'])}."),
        Heading("Recommendation"), Text(recommendation(tests, scores)),
        Heading("Macro scores (mean over users)"), macro_table(scores),
        Heading("Which arms the tests separate"), *separation.blocks(ranking),
        Heading("Against the baseline"), *comparison_blocks(tests),
    ]
    if external:
        blocks += external_blocks(external)
    if "users" in summaries:
        u = summaries["users"]
        blocks += [Heading("Per-user updates"),
                   Text(f"{u['users']} users, {u['kind']} from {u['start']}: {u['helped_vs_global']} helped and "
                        f"{u['hurt_vs_global']} hurt against the global adapter (ROUGE-L). Drift against lift: "
                        f"{json.dumps(u['drift_lift_spearman'])}. Mean update time {u['update_seconds_mean']:.1f} s, "
                        f"peak memory {u['update_peak_rss_mib_max']} MiB.")]
        if "clusters" in u:
            blocks += cluster_blocks(u["clusters"])
    if "persona" in summaries:
        blocks += persona_blocks(summaries["persona"])
    ablations = folder / "f_ablations" / "results.json"
    if ablations.exists():
        blocks += ablation_blocks(_load(ablations))
    return blocks


def external_blocks(external: dict) -> list[Block]:
    personas = len(external["baseline"])
    return [Heading("External test: EdgeWisePersona cold start"),
            Text(f"{personas} real EdgeWisePersona dialogues (CC BY 4.0; attune ships 200, "
                 f"orchestrator/study/corpora/edgewise_cold_start.LICENSE), one per persona, that no adapter trained "
                 f"on; each scored assistant message's prompt is the baseline's system prompt and the messages before "
                 f"it (the dialogues carry no conditions). Personas are the users of the statistics; a persona's "
                 f"verbosity target is the mean length of its own references."),
            macro_table(external), Heading("Which arms the tests separate", 3),
            *separation.blocks(separation.rank(external)), Heading("Against the baseline", 3),
            *comparison_blocks(against_baseline(external))]


def cluster_blocks(c: dict) -> list[Block]:
    gains = {k: c[k].get("rouge_l") for k in ("macro_cluster_lift_vs_global", "macro_lift_vs_global")}
    text = (f"{c['clusters']} style clusters over {c['users']} users. Cluster adapter against the global one: "
            f"{_signed(gains['macro_cluster_lift_vs_global'])} ROUGE-L per user; with each user's tiny delta on "
            f"top: {_signed(gains['macro_lift_vs_global'])}. The user delta against the cluster adapter alone: "
            f"{c['helped_by_user_delta']} users helped, {c['hurt_by_user_delta']} hurt. Drift against lift of the "
            f"user deltas: {json.dumps(c['drift_lift_spearman'])}.")
    return [Heading("Cluster adapters", 3), Text(text)]


def _signed(value: float | None) -> str:
    return "-" if value is None else f"{value:+.3f}"


def persona_blocks(p: dict) -> list[Block]:
    blocks: list[Block] = [Heading("Persona prediction"),
                           Text(f"{p['queries']} test dialogues, each first user message ranked against per-user "
                                f"centroids of the train messages (chance@1 is one over the users). The confusion "
                                f"plot uses MiniLM.")]
    by = p.get("by_embedder") or {"minilm": {"accuracy_at_1": p["accuracy_at_1"],
                                             "accuracy_at_5": p["accuracy_at_5"]}}
    blocks.append(Table(["embeddings", "accuracy@1", "accuracy@5"],
                        [[name, f"{v['accuracy_at_1']:.0%}", f"{v['accuracy_at_5']:.0%}"] for name, v in by.items()]))
    return blocks


ABLATION_TITLES = {"lora_targets": "LoRA target modules", "prefix_length": "prefix length (virtual tokens)",
                   "online_budget": "online budget (examples per user update)"}


def ablation_blocks(rows: list[dict]) -> list[Block]:
    blocks: list[Block] = [Heading("Ablations"), Text(
        "Each factor's values trained alike and scored on the same users' test replies (macro over those users). "
        "A single training run per value: read differences smaller than the spread between users as noise.")]
    for factor, title in ABLATION_TITLES.items():
        mine = [r for r in rows if r["factor"] == factor]
        if mine:
            blocks += [Heading(title, 3), Table(
                ["value", "users", "steps", "training s", *METRICS],
                [[r["value"], str(r["users"]), str(r["steps"]), f"{r['seconds']:.1f}",
                  *(f"{r['macro'][m]:.3f}" for m in METRICS)] for r in mine])]
    return blocks


def ablation_plot(rows: list[dict]) -> Figure | None:
    factors = [f for f in ABLATION_TITLES if any(r["factor"] == f for r in rows)]
    if not factors:
        return None
    fig = MplFigure(figsize=(4 * len(factors), 3.5))
    for k, factor in enumerate(factors, start=1):
        ax = fig.add_subplot(1, len(factors), k)
        mine = [r for r in rows if r["factor"] == factor]
        ax.plot(range(len(mine)), [r["macro"]["rouge_l"] for r in mine], marker="o", color="black")
        ax.set_xticks(range(len(mine)), [r["value"] for r in mine])
        ax.set_xlabel(ABLATION_TITLES[factor], fontsize="small")
        ax.set_ylabel("macro ROUGE-L F1")
    title = "Ablations"
    fig.suptitle(title)
    return Figure(title, _png(fig))


def reproducibility(folder: Path, config_text: str) -> str:
    corpus = folder / "a_data" / "corpus"
    hashes = "\n".join(f"- `{name}`: sha256 {sha256_file(corpus / name)}" for name in FILES)
    packages = "\n".join(f"- {k}: {v}" for k, v in package_versions().items())
    code = code_state()
    return (f"# Reproducing {folder.name}\n\nCode: commit {code['commit']} (dirty: {code['dirty']}).\n\n"
            f"Data (the cleaned corpus the phases read):\n{hashes}\n\nCommand:\n\n```sh\nattune study edgewise "
            f"--config <this config> --out {folder}\n```\n\nConfig (seeds included):\n\n```yaml\n{config_text}```\n\n"
            f"Packages:\n{packages}\n")


def phase_analysis(folder: Path, summaries: dict, held_out: list[str]) -> dict:
    scores = arms(folder)
    tests = against_baseline(scores)
    out = folder / "f_analysis"
    blocks = report_blocks(folder, scores, tests, summaries, external_arms(folder))
    persona_file = folder / "e_persona" / "results.json"
    figures = [lift_violins(scores), cold_and_warm(scores, set(held_out)),
               drift_against_lift(_load(folder / "d_users" / "per_user.json"))
               if (folder / "d_users" / "per_user.json").exists() else None,
               confusion_heatmap(_load(persona_file)) if persona_file.exists() else None,
               ablation_plot(_load(folder / "f_ablations" / "results.json"))
               if (folder / "f_ablations" / "results.json").exists() else None]
    blocks += [Heading("Plots"), *[f for f in figures if f is not None]]
    out.mkdir(parents=True, exist_ok=True)
    write_markdown(blocks, out / "REPORT.md")
    (out / "REPRODUCIBILITY.md").write_text(reproducibility(folder, (folder / "config.yaml").read_text()))
    date = datetime.now(UTC).date().isoformat()
    append_registry(folder / "experiments.csv", registry_rows(scores, date, code_state()["commit"]))
    return {"arms": list(scores), "recommendation": recommendation(tests, scores),
            "separation": separation.summary(separation.rank(scores), "On the study's test users"),
            "report": str(out / "REPORT.md")}
