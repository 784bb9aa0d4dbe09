"""The report's plots as PNG bytes (matplotlib's Agg canvas, no display, no pyplot state).

Each method keeps one marker, line style and hatch in every plot, so the plots
read in grey print, not by colour alone. Shares are drawn in percent; error bars
are the 95% bootstrap intervals over users (none where there is no interval).
"""

from __future__ import annotations

import io

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure as MplFigure
from matplotlib.ticker import MaxNLocator

from attune.orchestrator.benchmark.metrics import get_metric
from attune.orchestrator.report.analysis import Analysis
from attune.orchestrator.report.render import Figure
from attune.orchestrator.report.stats import Estimate
from attune.orchestrator.report.vectors import VectorAnalysis

MARKERS = "osD^v<>ph*"
LINES = ("-", "--", ":", "-.")
HATCHES = ("", "//", "..", "xx", "\\\\", "++", "oo", "--")
GREYS = ("0.1", "0.35", "0.55", "0.75")


def figures(analysis: Analysis) -> list[Figure]:
    """Every plot the run has data for."""
    made = [tokens_over_sessions(analysis), effort_over_sessions(analysis), success_and_effort(analysis),
            conflicts_by_group(analysis), over_and_compliance(analysis), judge_agreement(analysis.run.audit),
            *(user_vectors(v) for v in analysis.vectors)]
    return [f for f in made if f is not None]


def is_share(name: str) -> bool:
    return get_metric(name).fmt.endswith("%}")


UNITS = {"user_tokens": "tokens per session", "agent_tokens": "tokens per session",
         "enforcements": "enforcements per session", "task_success": "sessions solved (%)",
         "compliance": "applicable preferences followed (%)",
         "over_personalization": "turns applying an inapplicable one (%)"}


def unit(name: str) -> str:
    return UNITS.get(name, "share of sessions (%)" if is_share(name) else "per session")


def _style(i: int) -> dict:
    return {"marker": MARKERS[i % len(MARKERS)], "linestyle": LINES[i % len(LINES)],
            "color": GREYS[i % len(GREYS)]}


def _png(fig: MplFigure) -> bytes:
    FigureCanvasAgg(fig)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90, metadata={"Software": None})  # no URL, even encoded
    return buffer.getvalue()


def _scaled(name: str, value: float | None) -> float:
    return float("nan") if value is None else value * (100 if is_share(name) else 1)


def _errors(name: str, estimates: list[Estimate]) -> list[list[float]]:
    """Error bar lengths below and above each value (0 where there is no interval)."""
    below = [_scaled(name, e.value - e.low) if e.low is not None else 0.0 for e in estimates]
    above = [_scaled(name, e.high - e.value) if e.high is not None else 0.0 for e in estimates]
    return [below, above]


def _from_zero(ax, name: str) -> None:
    """Bars start at 0; a share's axis runs to 100%, so that all-zero bars do not read as a scale of 0.05%."""
    if is_share(name):
        ax.set_ylim(0, 105)
    else:
        ax.set_ylim(0, max(1.0, ax.get_ylim()[1]))


def _has_values(analysis: Analysis, names: list[str]) -> bool:
    """Every metric is in the report and some method has a value for it."""
    return all(n in analysis.run.names and any(e.value is not None for e in analysis.by_method[n].values())
               for n in names)


def _over_sessions(analysis: Analysis, names: list[str], title: str) -> Figure | None:
    """One panel per metric: each method's mean over users at each session index."""
    if not _has_values(analysis, names):
        return None
    fig = MplFigure(figsize=(5 * len(names), 3.8))
    for k, name in enumerate(names):
        ax = fig.add_subplot(1, len(names), k + 1)
        cells = analysis.breakdowns["session"][name]
        for i, method in enumerate(analysis.methods):
            points = sorted((int(g), e.value) for (g, m), e in cells.items() if m == method and e.value is not None)
            if points:
                ax.plot([x for x, _ in points], [_scaled(name, y) for _, y in points], label=method, **_style(i))
        ax.set_title(name)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("session index")
        ax.set_ylabel(unit(name))
        ax.legend(fontsize="small")
    fig.suptitle(title)
    return Figure(title, _png(fig))


def tokens_over_sessions(analysis: Analysis) -> Figure | None:
    return _over_sessions(analysis, ["agent_tokens", "user_tokens"], "Tokens per session over sessions")


def effort_over_sessions(analysis: Analysis) -> Figure | None:
    return _over_sessions(analysis, ["enforcements"], "User effort: enforcements per session over sessions")


def _bars(analysis: Analysis, names: list[str], title: str) -> Figure | None:
    """One panel per metric: a hatched bar per method with its interval."""
    if not _has_values(analysis, names):
        return None
    fig = MplFigure(figsize=(6 * len(names), 3.8))
    methods = analysis.methods
    for k, name in enumerate(names):
        ax = fig.add_subplot(1, len(names), k + 1)
        estimates = [analysis.by_method[name][m] for m in methods]
        bars = ax.bar(range(len(methods)), [_scaled(name, e.value) for e in estimates],
                      yerr=_errors(name, estimates), capsize=4, color="white", edgecolor="black")
        for i, bar in enumerate(bars):
            bar.set_hatch(HATCHES[i % len(HATCHES)])
            bar.set_label(methods[i])
        ax.set_xticks(range(len(methods)), methods, rotation=30, ha="right", fontsize="small")
        ax.set_title(name)
        _from_zero(ax, name)
        ax.set_xlabel("method")
        ax.set_ylabel(unit(name))
        ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1, 1))
    fig.suptitle(title + " (error bars: 95% bootstrap intervals over users)")
    return Figure(title, _png(fig))


def success_and_effort(analysis: Analysis) -> Figure | None:
    return _bars(analysis, ["task_success", "user_tokens"], "Task success and user tokens per method")


def over_and_compliance(analysis: Analysis) -> Figure | None:
    return _bars(analysis, ["over_personalization", "compliance"], "Over-personalization and compliance per method")


def conflicts_by_group(analysis: Analysis) -> Figure | None:
    """Grouped bars: conflict accuracy per conflict group, one hatched bar per method."""
    name = "conflict_accuracy"
    if name not in analysis.run.names:
        return None
    cells = {cell: e for cell, e in analysis.breakdowns["conflict_group"][name].items() if e.value is not None}
    groups = list(dict.fromkeys(g for g, _ in cells))
    if not groups:
        return None
    fig = MplFigure(figsize=(max(8.0, 0.5 * len(groups) * len(analysis.methods)), 4))
    ax = fig.add_subplot()
    width = 0.8 / len(analysis.methods)
    for i, method in enumerate(analysis.methods):
        estimates = [cells.get((g, method), Estimate(None)) for g in groups]
        ax.bar([x + i * width for x in range(len(groups))], [_scaled(name, e.value) for e in estimates], width,
               yerr=_errors(name, estimates), capsize=3, color="white", edgecolor="black",
               hatch=HATCHES[i % len(HATCHES)], label=method)
    ax.set_xticks([x + 0.4 - width / 2 for x in range(len(groups))], groups, rotation=20, ha="right")
    ax.set_xlabel("conflict group")
    ax.set_ylabel("first replies following the expected one (%)")
    ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1, 1))
    _from_zero(ax, name)
    title = "Conflict accuracy by conflict group"
    fig.suptitle(title + " (error bars: 95% bootstrap intervals over users)")
    return Figure(title, _png(fig))


def oracle_gap(analysis: Analysis) -> Figure | None:
    """One panel per metric that tells oracle from vanilla: each method's share of the oracle gap with its
    interval, vanilla at 0% and the oracle at 100% drawn as lines (None where no metric can rank)."""
    ranking = [gap for gap in analysis.gaps if gap.can_rank]
    if not ranking:
        return None
    fig = MplFigure(figsize=(4.2 * len(ranking), 0.45 * len(ranking[0].shares) + 1.8))
    for k, gap in enumerate(ranking):
        ax = fig.add_subplot(1, len(ranking), k + 1, sharey=fig.axes[0] if k else None)
        methods = list(gap.shares)
        estimates = [gap.shares[m] for m in methods]
        values = [float("nan") if e.value is None else 100 * e.value for e in estimates]
        errors = [[0 if e.low is None else 100 * (e.value - e.low) for e in estimates],
                  [0 if e.high is None else 100 * (e.high - e.value) for e in estimates]]
        ax.errorbar(values, range(len(methods)), xerr=errors, fmt="o", color="black", capsize=3)
        for x, label in ((0, "vanilla"), (100, "oracle")):
            ax.axvline(x, color="0.5", linestyle="--", linewidth=1)
            ax.annotate(label, (x, 1), xycoords=("data", "axes fraction"), ha="center", va="bottom",
                        fontsize="small")
        ax.set_yticks(range(len(methods)), [f"{m} (bound)" if m in analysis.bounds else m for m in methods])
        ax.set_xlabel("share of the oracle gap (%)")
        ax.set_title(gap.metric, pad=14)
    title = "Share of the oracle gap per method"
    fig.suptitle(title + " (95% bootstrap intervals over users)")
    return Figure(title, _png(fig))


def judge_agreement(audit: dict) -> Figure | None:
    """Per kind of question: the share of checker/LLM agreement and Cohen's kappa."""
    rows = {kind: row for kind, row in audit.get("agreement", {}).items() if row.get("n")}
    if not rows:
        return None
    fig = MplFigure(figsize=(7, 3.8))
    ax = fig.add_subplot()
    kinds = list(rows)
    for k, (label, field, hatch) in enumerate((("agreement", "agreement", ""), ("Cohen's kappa", "kappa", "//"))):
        values = [float("nan") if rows[kind][field] is None else rows[kind][field] for kind in kinds]
        ax.bar([x + 0.4 * k for x in range(len(kinds))], values, 0.4, color="white", edgecolor="black",
               hatch=hatch, label=label)
    ax.set_xticks([x + 0.2 for x in range(len(kinds))], [f"{kind}\n(n={rows[kind]['n']})" for kind in kinds])
    ax.axhline(0, color="black", linewidth=0.8)
    ax.set_xlabel("kind of question (n: questions both the checker and the LLM answered)")
    ax.set_ylabel("share agreeing (0-1) / kappa (-1-1)")
    ax.legend(fontsize="small")
    title = "The judge: checker and LLM agreement per kind of question"
    ax.set_title(title)
    return Figure(title, _png(fig))


def user_vectors(vectors: VectorAnalysis) -> Figure | None:
    """Left: z_long cosine against preference overlap per pair of users; right: how far z_long moves."""
    sim, moves = vectors.similarity, vectors.movement
    panels = [k for k, present in (("pairs", sim is not None and sim.pairs > 0), ("moves", bool(moves))) if present]
    if not panels:
        return None
    fig = MplFigure(figsize=(5.5 * len(panels), 3.8))
    for k, panel in enumerate(panels):
        ax = fig.add_subplot(1, len(panels), k + 1)
        if panel == "pairs":
            ax.scatter(sim.jaccard, sim.cosine, marker="o", facecolors="none", edgecolors="black")
            ax.set_xlabel("preferences shared (Jaccard index, 0-1)")
            ax.set_ylabel("cosine of final z_long (-1-1)")
            rho = "no test: " + sim.note if sim.rho is None else f"Spearman rho {sim.rho:.2f}, Mantel p {sim.p:.3g}"
            ax.set_title(f"Pairs of users ({sim.pairs}); {rho}", fontsize="small")
        else:
            estimates = list(moves.values())
            below = [e.value - e.low if e.low is not None else 0.0 for e in estimates]
            above = [e.high - e.value if e.high is not None else 0.0 for e in estimates]
            ax.errorbar(list(moves), [e.value for e in estimates], yerr=[below, above], capsize=4, color="black",
                        marker="o", linestyle="-")
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.set_ylim(bottom=0)
            ax.set_xlabel("session index")
            ax.set_ylabel("|z_long - z_long of previous session| (L2)")
            ax.set_title("How far z_long moves per session", fontsize="small")
    title = f"User vectors learned by {vectors.method}"
    fig.suptitle(title)
    return Figure(title, _png(fig))
