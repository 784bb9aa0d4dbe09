"""Math datasets (MATH-500, MATH-Hard, AIME 2024) and TheoremQA, scored on the final answer."""

from __future__ import annotations

import ast
import json
import re

from attune.orchestrator.tasks.answers import NUMBER, final_answer, last_boxed, math_equal, parse_math, stated_answer
from attune.orchestrator.tasks.base import Problem, Score, TaskDataset, register_dataset, text_id


class MathDataset(TaskDataset):
    kind = "math"
    domain = "math"

    def score(self, problem: Problem, answer: str) -> Score:
        found = final_answer(answer)
        if found is None:
            return Score(False, f"no final answer found; expected {problem.reference}")
        if math_equal(problem.reference, found):
            return Score(True, f"correct: {found}")
        return Score(False, f"expected {problem.reference}, got {found}")


@register_dataset
class Math500(MathDataset):
    """HuggingFaceH4/MATH-500 layout: problem, solution, answer, subject, level, unique_id."""

    name = "math-500"
    default_hub_id = "HuggingFaceH4/MATH-500"
    sample_file = "math-500.jsonl"

    def parse(self, records, seed):
        return [self.make(r.get("unique_id") or text_id(r["problem"]), r["problem"], str(r["answer"]),
                          meta={"subject": r.get("subject", ""), "level": r.get("level", ""),
                                "solution": r.get("solution", "")})
                for r in records]


@register_dataset
class MathHard(MathDataset):
    """lighteval/MATH-Hard layout (level 5 of MATH): problem, solution, level, type; the answer is the boxed one."""

    name = "math-hard"
    default_hub_id = "lighteval/MATH-Hard"
    sample_file = "math-hard.jsonl"

    def parse(self, records, seed):
        problems = []
        for r in records:
            answer = last_boxed(r["solution"])
            if answer is None:
                raise ValueError(f"no \\boxed answer in the solution of {r['problem'][:60]!r}")
            problems.append(self.make(text_id(r["problem"]), r["problem"], answer,
                                      meta={"type": r.get("type", ""), "level": r.get("level", ""),
                                            "solution": r["solution"]}))
        return problems


@register_dataset
class Aime(MathDataset):
    """HuggingFaceH4/aime_2024 layout (id, problem, solution, answer, url); Maxwell-Jia/AIME_2024's capitalized
    keys (ID, Problem, Solution, Answer) are read too."""

    name = "aime"
    default_hub_id = "HuggingFaceH4/aime_2024"
    hub_split = "train"
    sample_file = "aime.jsonl"

    def parse(self, records, seed):
        problems = []
        for raw in records:
            r = {key.lower(): value for key, value in raw.items()}
            problems.append(self.make(r.get("id") or text_id(r["problem"]), r["problem"], str(r["answer"]),
                                      meta={"url": r.get("url", ""), "solution": r.get("solution", "")}))
        return problems


@register_dataset
class TheoremQA(TaskDataset):
    """TIGER-Lab/TheoremQA layout: Question, Answer, Answer_type, Picture (and id, field in the GitHub copy).

    Questions that need a picture are left out: the agents here read text only. Scoring follows
    TheoremQA's own rules: floats within 4% (relative), integers after rounding, lists compared sorted,
    bools and options exactly.
    """

    name = "theoremqa"
    kind = "math"
    domain = "science"
    default_hub_id = "TIGER-Lab/TheoremQA"
    sample_file = "theoremqa.jsonl"

    def parse(self, records, seed):
        problems = []
        for r in records:
            if r.get("Picture"):
                continue
            kind = r["Answer_type"].lower()
            problems.append(self.make(r.get("id") or text_id(r["Question"]), r["Question"], reference_text(r["Answer"]),
                                      domain="math" if r.get("field", "Math") == "Math" else "science",
                                      meta={"answer_type": kind, "gold": typed_reference(r["Answer"], kind),
                                            "theorem": r.get("theorem", "")}))
        return problems

    def score(self, problem: Problem, answer: str) -> Score:
        kind = problem.meta["answer_type"]
        found = typed_answer(answer, kind)
        if found is None:
            return Score(False, f"no {kind} answer found; expected {problem.reference}")
        ok = same_typed(found, problem.meta["gold"], kind)
        return Score(ok, f"correct: {found}" if ok else f"expected {problem.reference}, got {found}")


def reference_text(answer) -> str:
    """TheoremQA answers are bool, number, list or "(a)"-style option; the hub copy stores them as text."""
    if isinstance(answer, str):
        text = answer.strip()
        return {"true": "True", "false": "False"}.get(text.lower(), text)
    return json.dumps(answer) if isinstance(answer, list) else str(answer)


def typed_reference(answer, kind: str):
    """The reference as a Python value: bool, int, float, list of numbers, or the "(a)" option text."""
    text = reference_text(answer)
    return text.lower() if kind == "option" else ast.literal_eval(text)


def typed_answer(reply: str, kind: str):
    """The reply's answer as a bool, "(x)" option, number or list of numbers, or None."""
    stated = stated_answer(reply)
    text = (stated or reply).lower()
    if kind == "bool":
        words = re.findall(r"\b(true|false|yes|no)\b", text)
        return words[-1] in ("true", "yes") if words else None
    if kind == "option":
        options = re.findall(r"\(([a-e])\)", text) or re.findall(r"^\s*([a-e])\s*$", text)
        return f"({options[-1]})" if options else None
    if kind.startswith("list"):
        numbers = [to_number(n) for n in NUMBER.findall(stated or "")]
        return [n for n in numbers if n is not None] or None
    return numeric(stated) if stated else last_number(reply)


def numeric(text: str) -> float | None:
    """A number from plain or LaTeX text ("1,200", "3/4", "\\frac{3}{4}", "2.5 \\times 10^{-3}")."""
    value = to_number(text.strip())
    if value is not None:
        return value
    for item in parse_math(text):
        if getattr(item, "is_number", False):
            try:
                return float(item)
            except TypeError:  # complex
                continue
    return last_number(text)


def last_number(text: str) -> float | None:
    numbers = [to_number(n) for n in NUMBER.findall(text)]
    numbers = [n for n in numbers if n is not None]
    return numbers[-1] if numbers else None


def to_number(text: str) -> float | None:
    text = text.replace(",", "")
    try:
        if "/" in text:
            top, bottom = text.split("/")
            return float(top) / float(bottom)
        return float(text)
    except (ValueError, ZeroDivisionError):
        return None


def same_typed(found, gold, kind: str) -> bool:
    if kind in ("bool", "option"):
        return found == gold
    if kind.startswith("list"):
        return len(found) == len(gold) and all(close(f, g) for f, g in zip(sorted(found), sorted(gold), strict=True))
    return close(found, gold)


def close(found: float, gold) -> bool:
    if isinstance(gold, int) and not isinstance(gold, bool):
        return round(found) == gold
    return abs(found - gold) <= abs(gold) * 0.04
