"""How far to trust a judge: its agreement with the programs, its false accepts, its agreement with another judge.

- Checker/LLM agreement: on every question where a program (a preference checker,
  the dataset's answer check) and the LLM both answered yes or no, the share of
  agreement and Cohen's kappa (scikit-learn), per kind of question.
- False accepts on the planted cases (planted.py): the share the judge passed,
  and the share the LLM alone would have passed.
- The contrast pairs (contrast.py): per decider (checker, LLM) the false-accept rate on
  the replies that break a preference and the false-reject rate on those that follow it,
  with Wilson intervals, and whether the decider tells the two apart at all (one-sided
  Fisher exact test, p < 0.05). Where the LLM does not, the compliance it decides is
  unmeasured: the report says so and gives ``checked_compliance`` instead.
- Two judges: on the same questions, the agreement of their LLM opinions and of
  their final verdicts (kappa), for ``attune judge --judge-target``.
- Position bias on conflicts: each is asked with the rivals in both orders; the share
  of questions where the LLM's choice followed the order (the same letter twice), and
  the share of all its letters that were A.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from pathlib import Path

from rich.table import Table

from attune.orchestrator.benchmark.contrast import BREAKS, FOLLOWS
from attune.orchestrator.benchmark.judging import (
    JUDGMENTS_FILE,
    PLANTED_FILE,
    Judgment,
    PlantedVerdict,
    parse_judgment,
    parse_planted,
)
from attune.orchestrator.benchmark.records import SessionLog

YES, NO = "OPINION_YES", "OPINION_NO"
PLANTED_KINDS = ("wrong_answer", "rival_preference")
DECIDERS = ("checker", "llm")
CONTRAST_HEADER = ("decided by", "false accepts of broken replies [95%]", "false rejects of followed replies [95%]",
                   "tells them apart (Fisher p)")
# A decider tells followed from broken replies when this one-sided Fisher test says so.
DISCRIMINATES_P = 0.05


def kappa(a: list[bool], b: list[bool]) -> float | None:
    """Cohen's kappa of two raters' yes/no answers; None where it is undefined (too few, or one rater constant)."""
    from sklearn.metrics import cohen_kappa_score

    if len(a) < 2 or len(set(a)) < 2 and len(set(b)) < 2:
        return None
    value = cohen_kappa_score(a, b)
    return float(value) if math.isfinite(value) else None  # NaN when undefined


def _pairs(items: Iterable[dict], first: str, second: str) -> list[tuple[bool, bool]]:
    return [(i[first] == YES, i[second] == YES) for i in items
            if i.get(first) in (YES, NO) and i.get(second) in (YES, NO)]


def questions(judgment: Judgment) -> dict[str, list[dict]]:
    """The judged questions of one session by kind, each a verdict dict (checker and llm opinions, final)."""
    found = {"task": [judgment.task], "compliance": [], "conflict": [], "over_personalization": []}
    if judgment.conflict:
        found["conflict"].append(judgment.conflict)
    for turn in judgment.turns:
        found["compliance"] += (turn.compliance or {}).get("verdicts", [])
        found["over_personalization"] += (turn.over or {}).get("preferences", [])
    return found


def agreement(judgments: Iterable[Judgment]) -> dict[str, dict]:
    """Checker vs LLM per kind of question: n, share agreeing, kappa."""
    by_kind: dict[str, list[tuple[bool, bool]]] = {}
    for judgment in judgments:
        for kind, items in questions(judgment).items():
            by_kind.setdefault(kind, []).extend(_pairs(items, "checker", "llm"))
    return {kind: _summary(pairs) for kind, pairs in by_kind.items()}


def _summary(pairs: list[tuple[bool, bool]]) -> dict:
    if not pairs:
        return {"n": 0, "agreement": None, "kappa": None}
    a, b = [p[0] for p in pairs], [p[1] for p in pairs]
    return {"n": len(pairs), "agreement": sum(x == y for x, y in pairs) / len(pairs), "kappa": kappa(a, b)}


def false_accepts(planted: Iterable[PlantedVerdict]) -> dict[str, dict]:
    """Per planted kind: cases, the judge's false-accept rate, and the LLM's alone (where it answered)."""
    out = {}
    cases = list(planted)
    for kind in PLANTED_KINDS:
        mine = [c for c in cases if c.kind == kind]
        llm = [c.llm == 1 for c in mine if c.llm in (1, 2)]
        out[kind] = {"n": len(mine), "judge": sum(c.accepted for c in mine) / len(mine) if mine else None,
                     "llm": sum(llm) / len(llm) if llm else None, "llm_answered": len(llm)}
    return out


def rate(hits: int, n: int) -> dict:
    """A share with its 95% Wilson interval (None where nothing was asked)."""
    from scipy.stats import binomtest

    if not n:
        return {"n": 0, "k": 0, "rate": None, "low": None, "high": None}
    interval = binomtest(hits, n).proportion_ci(method="wilson")
    return {"n": n, "k": hits, "rate": hits / n, "low": float(interval.low), "high": float(interval.high)}


def contrast_rates(planted: Iterable[PlantedVerdict]) -> dict[str, dict]:
    """Per decider: false accepts on the broken replies, false rejects on the followed ones, and whether
    it accepts followed replies more often than broken ones (one-sided Fisher exact p)."""
    from scipy.stats import fisher_exact

    judged = [c for c in planted if c.kind in (FOLLOWS, BREAKS) and not c.unjudged]
    out = {}
    for decider in DECIDERS:
        follows = [c.accepted for c in judged if c.decided_by == decider and c.kind == FOLLOWS]
        breaks = [c.accepted for c in judged if c.decided_by == decider and c.kind == BREAKS]
        p = None
        if follows and breaks:
            table = [[sum(follows), len(follows) - sum(follows)], [sum(breaks), len(breaks) - sum(breaks)]]
            p = float(fisher_exact(table, alternative="greater").pvalue)
        out[decider] = {"false_accept": rate(sum(breaks), len(breaks)),
                        "false_reject": rate(len(follows) - sum(follows), len(follows)),
                        "p": p, "discriminates": p is not None and p < DISCRIMINATES_P}
    out["unjudged"] = sum(1 for c in planted if c.kind in (FOLLOWS, BREAKS) and c.unjudged)
    return out


def position_bias(judgments: Iterable[Judgment]) -> dict:
    """Conflicts asked in both orders: how often the LLM answered the same letter twice, and how often A."""
    answered = [j.conflict["positions"] for j in judgments
                if j.conflict and len(j.conflict.get("positions", [])) == 2 and all(j.conflict["positions"])]
    letters = [p for pair in answered for p in pair if p in ("A", "B")]
    same = [pair for pair in answered if pair[0] == pair[1] and pair[0] in ("A", "B")]
    return {"n": len(answered), "same_letter": len(same) / len(answered) if answered else None,
            "first_letter": letters.count("A") / len(letters) if letters else None}


def between_judges(first: dict, second: dict) -> dict[str, dict]:
    """Two judges' judgments of the same sessions: per kind, kappa of their LLM opinions and final verdicts."""
    out = {}
    for key in first.keys() & second.keys():
        a, b = questions(first[key]), questions(second[key])
        for kind in a:
            entry = out.setdefault(kind, {"llm": [], "final": []})
            for x, y in zip(a[kind], b[kind], strict=False):
                if x.get("llm") in (YES, NO) and y.get("llm") in (YES, NO):
                    entry["llm"].append((x["llm"] == YES, y["llm"] == YES))
                if not x.get("unjudged") and not y.get("unjudged"):
                    entry["final"].append((_final(x), _final(y)))
    return {kind: {"llm": _summary(v["llm"]), "final": _summary(v["final"])} for kind, v in out.items()}


def _final(verdict: dict) -> bool:
    return bool(verdict.get("satisfied", verdict.get("passed", False)))


def load_judge(judge_dir: Path) -> tuple[dict, list[PlantedVerdict]]:
    judgments = SessionLog(judge_dir / JUDGMENTS_FILE, parse=parse_judgment, kind="judgment").load(repair=False)
    planted = SessionLog(judge_dir / PLANTED_FILE, parse=parse_planted, kind="planted verdict").load(repair=False)
    return judgments, list(planted.values())


def audit(judge_dir: Path) -> dict:
    judgments, planted = load_judge(judge_dir)
    some = next(iter(judgments.values()), None)
    return {"judge": some.judge if some else {}, "sessions": len(judgments),
            "agreement": agreement(judgments.values()), "false_accepts": false_accepts(planted),
            "contrast": contrast_rates(planted),
            "position_bias": position_bias(judgments.values())}


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def audit_tables(report: dict) -> list[Table]:
    judge = report["judge"]
    agree = Table("question", "both answered", "agreement", "Cohen's kappa",
                  title=f"judge {judge.get('model', '?')} ({judge.get('backend', '?')}, prompts "
                        f"{judge.get('prompt_hash', '?')}): checker vs LLM")
    for kind, row in report["agreement"].items():
        agree.add_row(kind, str(row["n"]), _pct(row["agreement"]), _num(row["kappa"]))
    planted = Table("planted case", "cases", "judge false accepts", "LLM alone false accepts",
                    title="planted cases (every one must fail)")
    for kind, row in report["false_accepts"].items():
        planted.add_row(kind, str(row["n"]), _pct(row["judge"]), f"{_pct(row['llm'])} of {row['llm_answered']}")
    contrast = Table(*CONTRAST_HEADER,
                     title="contrast pairs (one reply follows the preference, one breaks it)")
    for decider, row in contrast_rows(report.get("contrast")):
        contrast.add_row(decider, *row)
    bias = report.get("position_bias", {})
    orders = Table("conflicts asked in both orders", "same letter twice (no opinion)", "answers that were A",
                   title="position bias of the LLM on conflicts")
    orders.add_row(str(bias.get("n", 0)), _pct(bias.get("same_letter")), _pct(bias.get("first_letter")))
    tables = [agree, planted, contrast, orders]
    if "versus_run_judge" in report:
        versus = Table("question", "LLM opinions", "LLM kappa", "final verdicts", "final kappa",
                       title="this judge vs the run's judge")
        for kind, row in report["versus_run_judge"].items():
            versus.add_row(kind, str(row["llm"]["n"]), _num(row["llm"]["kappa"]), str(row["final"]["n"]),
                           _num(row["final"]["kappa"]))
        tables.append(versus)
    return tables


def interval(entry: dict) -> str:
    """``12% [5%, 25%] (3 of 25)``, or ``-`` where nothing was asked."""
    if not entry or not entry.get("n"):
        return "-"
    return f"{entry['rate']:.0%} [{entry['low']:.0%}, {entry['high']:.0%}] ({entry['k']} of {entry['n']})"


def contrast_rows(contrast: dict | None) -> list[tuple[str, list[str]]]:
    """The contrast table's rows, one per decider that was asked anything."""
    rows = []
    for decider in DECIDERS:
        row = (contrast or {}).get(decider)
        if not row or not (row["false_accept"]["n"] or row["false_reject"]["n"]):
            continue
        verdict = "-" if row["p"] is None else f"{'yes' if row['discriminates'] else 'no'} ({row['p']:.2g})"
        rows.append((decider, [interval(row["false_accept"]), interval(row["false_reject"]), verdict]))
    return rows


def llm_at_chance(contrast: dict | None) -> bool:
    """Whether the LLM's compliance verdicts were asked on contrast pairs and did not tell them apart."""
    row = (contrast or {}).get("llm")
    return bool(row) and row["p"] is not None and not row["discriminates"]
