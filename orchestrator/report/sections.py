"""The report's sections as blocks (render.py writes them): tables, the plain-words conclusions, the plots."""

from __future__ import annotations

from attune.orchestrator.benchmark.audit import CONTRAST_HEADER, PLANTED_KINDS, contrast_rows
from attune.orchestrator.benchmark.metrics import get_metric
from attune.orchestrator.report.analysis import Analysis, cell_order
from attune.orchestrator.report.bounds import headline
from attune.orchestrator.report.collect import GROUPS, Reference, unmeasured
from attune.orchestrator.report.plots import figures, oracle_gap
from attune.orchestrator.report.power import POWER, achieved_mde
from attune.orchestrator.report.render import Block, Heading, Table, Text
from attune.orchestrator.report.stats import (
    ALPHA,
    CONFIDENCE,
    INTERVAL_METHOD,
    Comparison,
    Estimate,
    compare,
    direction_agreement,
)
from attune.orchestrator.report.vectors import MIN_USERS, PERMUTATIONS, VectorAnalysis

GROUP_TITLES = {"dataset": "dataset", "session": "session index", "conflict_group": "conflict group"}


def fmt(name: str, value: float | None, signed: bool = False) -> str:
    if value is None:
        return "-"
    text = get_metric(name).fmt.format(value)
    return f"+{text}" if signed and value > 0 else text


def cell(name: str, estimate: Estimate, signed: bool = False) -> str:
    """``value [low, high]``, or the value and why it has no interval."""
    value = fmt(name, estimate.value, signed)
    if estimate.low is None:
        return value if estimate.value is None else f"{value} (no interval: {estimate.note})"
    return f"{value} [{fmt(name, estimate.low, signed)}, {fmt(name, estimate.high, signed)}]"


def run_headline(analysis: Analysis) -> str:
    """The report's first line: what the run can and cannot rank (bounds.headline)."""
    return headline(analysis.gaps, len({s.profile_id for s in analysis.run.sessions}))


def overview(analysis: Analysis) -> list[Block]:
    run = analysis.run
    users = {s.profile_id for s in run.sessions}
    blind = [Text(f"Unmeasured: {name}: {why}.") for name, why in unmeasured(run.audit).items()]
    picture = oracle_gap(analysis)
    return [
        Heading(f"Benchmark report: {run.folder}", 1),
        Text(run_headline(analysis)),
        *([picture] if picture else []),
        Text(f"{len(run.sessions)} sessions ({run.judged} judged) of {len(users)} users, methods: "
             f"{', '.join(analysis.methods)}."),
        *blind,
        Heading("How to read it"),
        Text(f"Users are the unit. A method's value is the mean over users of each user's mean over the sessions "
             f"where the metric applies (unjudged and inapplicable sessions are left out), so every user weighs "
             f"the same; it can differ from the per-session means attune run prints when users have unequal "
             f"numbers of such sessions. Brackets hold a {CONFIDENCE:.0%} {INTERVAL_METHOD} bootstrap interval "
             f"over users ({analysis.resamples} resamples of the profile ids with replacement, a user's sessions "
             f"moving together; seed {analysis.seed}). A value with fewer than 2 users, or the same value for "
             f"every user, has no interval and says so."),
    ]


def per_method(analysis: Analysis) -> list[Block]:
    names = analysis.run.names
    users: dict[str, set] = {}
    sessions: dict[str, int] = {}
    for session in analysis.run.sessions:
        users.setdefault(session.method, set()).add(session.profile_id)
        sessions[session.method] = sessions.get(session.method, 0) + 1
    rows = [[_label(analysis, m), str(len(users[m])), str(sessions[m]),
             *(cell(n, analysis.by_method[n][m]) for n in names)] for m in analysis.methods]
    return [Heading("Results per method"),
            Table(["method", "users", "sessions", *names], rows)]


def bounds(analysis: Analysis) -> list[Block]:
    """Whether each metric separates the oracle from vanilla, and every method's share of that gap."""
    if not analysis.gaps:
        missing = "oracle" if "upper" not in analysis.bounds.values() else "vanilla"
        return [Heading("Bounds"),
                Text(f"This run has no {missing}, so nothing says whether its metrics can rank methods at this "
                     f"size: add the methods oracle and vanilla (docs/benchmark.md, Bounds).")]
    others = list(analysis.gaps[0].shares)
    rows = [[gap.metric, _separation(gap), "yes" if gap.can_rank else "no",
             *(_gap_cell(gap.shares[m]) for m in others)] for gap in analysis.gaps]
    blind = [gap.metric for gap in analysis.gaps if not gap.can_rank]
    return [Heading("Bounds: can this run rank methods?"),
            Text("oracle is told the preferences that apply to each session and anti_oracle their rivals; both are "
                 "bounds, not contenders. A metric can rank methods only where the run tells oracle from vanilla "
                 "(the paired comparison below, Holm-corrected). A method's share of the oracle gap is "
                 "(method - vanilla) / (oracle - vanilla) over the users that played all three, with a "
                 f"{CONFIDENCE:.0%} percentile bootstrap interval over users: 100% is the oracle, 0% vanilla, "
                 "below 0 worse than no memory."),
            Table(["metric", "oracle - vanilla [interval]", "can rank", *(f"share of gap: {m}" for m in others)],
                  rows),
            Text("Cannot rank at this size (oracle not told from vanilla): " + (", ".join(blind) or "none") + ".")]


def _separation(gap) -> str:
    if gap.separation is None or not gap.separation.difference.users:
        return "not compared"
    return f"{cell(gap.metric, gap.separation.difference, signed=True)}, Holm p {gap.separation.holm:.3g}"


def _gap_cell(estimate: Estimate) -> str:
    if estimate.value is None:
        return f"- ({estimate.note})"
    if estimate.low is None:
        return f"{estimate.value:.0%} (no interval: {estimate.note})"
    return f"{estimate.value:.0%} [{estimate.low:.0%}, {estimate.high:.0%}]"


def _label(analysis: Analysis, method: str) -> str:
    kind = analysis.bounds.get(method)
    return f"{method} ({kind} bound)" if kind else method


def time_profile(analysis: Analysis) -> list[Block]:
    """Mean wall seconds per session of each part, by method: where the run's time went."""
    timed = [s for s in analysis.run.sessions if s.parts]
    if not timed:
        return []
    parts = sorted({p for s in timed for p in s.parts}, key=lambda p: -sum(s.parts.get(p, 0.0) for s in timed))
    rows = []
    for method in [*analysis.methods, "all"]:
        mine = [s for s in timed if method in ("all", s.method)]
        if not mine:
            continue
        total = sum(s.seconds for s in mine)
        spent = [sum(s.parts.get(p, 0.0) for s in mine) for p in parts]
        rest = total - sum(spent)
        rows.append([method, str(len(mine)), f"{total / len(mine):.1f}",
                     *(_seconds_share(x, total, len(mine)) for x in [*spent, rest])])
    return [Heading("Where a session's time goes"),
            Text("Mean wall seconds per session, and their share of the session's time. A part is timed "
                 "around its calls: a model call by its role (waiting for a batch included), recall (extraction "
                 "and retrieval before the reply), observe (after it), upkeep (the end of the session), scoring "
                 "(the task check). Orchestration is the rest. Sessions run side by side share the model, so at "
                 "a concurrency above 1 a part's seconds include waiting for the others'."),
            Table(["method", "sessions", "seconds", *parts, "orchestration"], rows)]


def _seconds_share(seconds: float, total: float, sessions: int) -> str:
    return f"{seconds / sessions:.2f} ({seconds / total:.0%})" if total > 0 else "-"


def breakdowns(analysis: Analysis) -> list[Block]:
    names = analysis.run.names
    blocks: list[Block] = []
    for by in GROUPS:
        cells = sorted({c for n in names for c in analysis.breakdowns[by][n]}, key=cell_order(by, analysis.methods))
        rows = [[group, method, *(cell(n, analysis.breakdowns[by][n].get((group, method), Estimate(None)))
                                  for n in names)] for group, method in cells]
        blocks += [Heading(f"Results per {GROUP_TITLES[by]} and method"),
                   Table([GROUP_TITLES[by], "method", *names], rows)]
    return blocks


def verdict(comparison: Comparison) -> str:
    if not comparison.difference.users:
        return "no users in common: not compared"
    if comparison.told_apart:
        higher = comparison.difference.value > 0
        return f"{comparison.first} {'higher' if higher else 'lower'} than {comparison.second}"
    return "cannot tell apart"


def comparisons(analysis: Analysis) -> list[Block]:
    blocks: list[Block] = [
        Heading("Paired comparisons"),
        Text(f"Each pair of methods on the users both played; pairs with vanilla first, read as method minus "
             f"vanilla. Per user the difference of the two values; the interval is a {CONFIDENCE:.0%} "
             f"{INTERVAL_METHOD} bootstrap of the mean difference over users; the sign test (two-sided binomial "
             f"test, p = 0.5) counts users with a positive difference among those with a non-zero one. The "
             f"p-values of one metric's comparisons are corrected together with Holm's method (family-wise error "
             f"rate {ALPHA}). Two methods are told apart only when the interval excludes 0 and the corrected p is "
             f"below {ALPHA}; otherwise the run cannot tell them apart, and those pairs are listed on one line. MDE "
             f"is the smallest true difference this run's users would find with {POWER:.0%} power (report/power.py: "
             f"the spread of the pair's own per-user differences, the sign test, Holm); with fewer than 6 users no "
             f"sign test can reach p < 0.05 (5 of 5 gives 0.0625), so there is none."),
    ]
    for name in analysis.run.names:
        blocks += _comparisons_of(analysis, name)
    same = analysis.run.coinciding()
    blocks.append(Text("Identical transcripts (every reply of every session), so not told apart by this run "
                       "whatever their numbers say: " + ("; ".join(f"{a} = {b}" for a, b in same) or "none") + "."))
    return blocks


def _comparisons_of(analysis: Analysis, name: str) -> list[Block]:
    """The pairs told apart as a table; the others on one line with the difference the run could have found."""
    found, tied = [], []
    for c in analysis.comparisons[name]:
        detectable = fmt(name, achieved_mde(analysis.per_user[name].get(c.first, {}),
                                            analysis.per_user[name].get(c.second, {}),
                                            len(analysis.comparisons[name])))
        if c.told_apart:
            found.append([c.first, c.second, str(c.difference.users), cell(name, c.difference, signed=True),
                          f"{c.positive} of {c.nonzero}", f"{c.p:.3g}", f"{c.holm:.3g}", detectable, verdict(c)])
        else:
            tied.append(f"{c.first} - {c.second} ({fmt(name, c.difference.value, signed=True)}, MDE {detectable})")
    blocks: list[Block] = [Heading(name, 3)]
    if found:
        blocks.append(Table(["method", "minus", "users", "mean difference [interval]", "users higher (of non-zero)",
                             "sign test p", "Holm p", "MDE", "conclusion"], found))
    if tied:
        blocks.append(Text(f"The run cannot tell apart {len(tied)} of {len(analysis.comparisons[name])} pairs: "
                           + "; ".join(tied) + "."))
    return blocks


def plots(analysis: Analysis) -> list[Block]:
    return [Heading("Plots"), *figures(analysis)]


def judge(analysis: Analysis) -> list[Block]:
    audit = analysis.run.audit
    agreement = [[kind, str(row["n"]), _share(row["agreement"]), _number(row["kappa"])]
                 for kind, row in audit.get("agreement", {}).items()]
    accepts = [[kind, str(row["n"]), _share(row["judge"]), f"{_share(row['llm'])} of {row['llm_answered']}"]
               for kind, row in audit.get("false_accepts", {}).items() if kind in PLANTED_KINDS]
    contrast = [[decider, *row] for decider, row in contrast_rows(audit.get("contrast"))]
    return [Heading("The judge"),
            Text("Where a program (a preference checker, the dataset's check) and the LLM both answered: how often "
                 "they agree, and Cohen's kappa. Planted cases are known to be wrong; the share the judge passed "
                 "is its false-accept rate. Each contrast pair is one request and two replies that differ only in "
                 "what one preference asks for; the judge is asked about both as about a run's reply, so a judge "
                 "that always says yes accepts every broken reply and one that always says no rejects every "
                 "followed one. A decider that does not accept followed replies more often than broken ones "
                 "(one-sided Fisher test, p < 0.05) is at chance, and what it decides is reported as unmeasured."),
            Table(["question", "both answered", "agreement", "Cohen's kappa"], agreement),
            Table(["planted case", "cases", "judge false accepts", "LLM alone false accepts"], accepts),
            Table(list(CONTRAST_HEADER), contrast) if contrast else Text("No contrast pair was put to the judge."),
            *_position_bias(audit.get("position_bias"))]


def _position_bias(bias: dict | None) -> list[Block]:
    if not bias or not bias.get("n"):
        return [Text("No conflict was asked of the LLM in both orders.")]
    return [Text(f"Conflicts are asked with the rivals in both orders, and the LLM's choice counts only when both "
                 f"orders name the same preference. Of {bias['n']} asked, the LLM answered the same letter twice "
                 f"(following the position, not the reply) in {_share(bias['same_letter'])}; "
                 f"{_share(bias['first_letter'])} of its answers were A (50% without position bias).")]


def _share(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def reference(analysis: Analysis, rows: list[Reference], source: str) -> list[Block]:
    values = [[r.method, r.metric, fmt(r.metric, r.value), r.source,
               cell(r.metric, analysis.by_method[r.metric].get(r.method, Estimate(None)))] for r in rows]
    agreement = []
    for name in dict.fromkeys(r.metric for r in rows):
        published = {r.method: r.value for r in rows if r.metric == name}
        ours = {m: e.value for m, e in analysis.by_method[name].items() if e.value is not None}
        agreeing, pairs = direction_agreement(ours, published)
        agreement.append([name, f"{agreeing} of {pairs}", _share(agreeing / pairs if pairs else None)])
    return [Heading("Against the published table"),
            Text(f"Reference: {source}. The run's value with its interval beside each published value. Direction "
                 f"agreement: of the pairs of methods in both, how many the run ranks the same way as the "
                 f"reference (a tie agrees only with a tie)."),
            Table(["method", "metric", "published", "source", "this run [interval]"], values),
            Table(["metric", "pairs ranked the same way", "share"], agreement)]


def versus(first: Analysis, other: Analysis) -> list[Block]:
    """Two runs side by side per method and metric, with the paired difference over the users both ran."""
    rows = []
    for name in first.run.names:
        for method in [m for m in first.methods if m in other.methods]:
            change = compare(method, method, other.per_user[name].get(method, {}),
                             first.per_user[name].get(method, {}), first.resamples, first.seed)
            told = ("no users in both" if not change.difference.users
                    else "differs" if change.difference.excludes_zero else "cannot tell apart")
            rows.append([method, name, cell(name, first.by_method[name][method]),
                         cell(name, other.by_method[name][method]), str(change.difference.users),
                         cell(name, change.difference, signed=True), told])
    return [Heading(f"{other.run.folder} against {first.run.folder}"),
            Text(f"Each method's value in both runs; the difference is per user, over the users both runs have "
                 f"(same profile ids), second minus first, with a {CONFIDENCE:.0%} {INTERVAL_METHOD} bootstrap "
                 f"interval over users. These intervals are not corrected for the number of rows: read "
                 f"'differs' as a lead, not a finding. Methods only one run has are left out."),
            Table(["method", "metric", str(first.run.folder), str(other.run.folder), "users in both",
                   "second - first [interval]", "conclusion"], rows)]


def user_vectors(analysis: Analysis) -> list[Block]:
    """What z_long learned (methods that store it, rag_vector): alike users, alike vectors? How far it moves."""
    if not analysis.vectors:
        return []
    blocks: list[Block] = [
        Heading("User vectors"),
        Text(f"Ground truth: a user's preferences as (conflict group, preference) pairs from the run's profiles; "
             f"two users are alike by the Jaccard index of their sets. For every pair of users, the cosine of their "
             f"final z_long. Pairs sharing more than the median pair are set against the rest; Spearman's rho of "
             f"cosine against Jaccard is tested with a one-sided Mantel test ({PERMUTATIONS} permutations of the "
             f"users, seed {analysis.seed}; pairs sharing a user are not independent). A test needs {MIN_USERS} "
             f"users. Movement: per session index, the mean over users of the L2 distance z_long moved since the "
             f"user's previous session, with a {CONFIDENCE:.0%} bootstrap interval over users."),
    ]
    for vectors in analysis.vectors:
        blocks += [Heading(vectors.method, 3), *_similarity(vectors), _movement(vectors)]
    return blocks


def _similarity(vectors: VectorAnalysis) -> list[Block]:
    sim = vectors.similarity
    if sim is None:
        return [Text(f"No similarity analysis: {vectors.missing}.")]
    if sim.rho is None:
        found = f"not tested: {sim.note}"
    elif sim.p < ALPHA and sim.rho > 0:
        found = "users who share more preferences have closer z_long"
    else:
        found = "z_long does not tell alike users from the rest in this run"
    row = [str(sim.users), str(sim.pairs), _number(sim.more), _number(sim.less), _number(sim.rho),
           "-" if sim.p is None else f"{sim.p:.3g}", found]
    return [Table(["users", "pairs", "mean cosine, pairs sharing more", "mean cosine, the rest", "Spearman rho",
                   "Mantel p (one-sided)", "conclusion"], [row])]


def _movement(vectors: VectorAnalysis) -> Block:
    rows = [[str(session), _distance(e), str(e.users)] for session, e in vectors.movement.items()]
    if not rows:
        return Text("No user has two sessions with a stored vector: no movement to show.")
    return Table(["session index", "mean distance moved [interval]", "users"], rows)


def _distance(estimate: Estimate) -> str:
    value = f"{estimate.value:.4g}"
    return value if estimate.low is None else f"{value} [{estimate.low:.4g}, {estimate.high:.4g}]"
