"""Multiple-choice datasets (LogiQA, MMLU, MedQA, GPQA), scored on the chosen option letter.

Options keep the dataset's order; only GPQA, which stores the correct answer
apart from the three wrong ones, has its options shuffled, seeded per problem.
"""

from __future__ import annotations

import random
import re

from attune.orchestrator.tasks.answers import chosen_letter
from attune.orchestrator.tasks.base import Problem, Score, TaskDataset, register_dataset, text_id

LETTERS = "ABCDEFGH"


def with_options(stem: str, options: list[str]) -> str:
    lines = [f"{letter}. {option.strip()}" for letter, option in zip(LETTERS, options, strict=False)]
    return f"{stem.strip()}\n\n" + "\n".join(lines)


class ChoiceDataset(TaskDataset):
    kind = "choice"
    request = "Which option is right?"

    def choice(self, id: str, stem: str, options: list[str], answer: int, **extra) -> Problem:
        if not 0 <= answer < len(options):
            raise ValueError(f"answer index {answer} outside {len(options)} options")
        meta = {"options": list(options), "letters": LETTERS[: len(options)], **extra.pop("meta", {})}
        return self.make(id, with_options(stem, options), LETTERS[answer], meta=meta, **extra)

    def score(self, problem: Problem, answer: str) -> Score:
        letter = chosen_letter(answer, problem.meta["letters"])
        if letter is None:
            return Score(False, f"no option letter found; expected {problem.reference}")
        if letter == problem.reference:
            return Score(True, f"correct: {letter}")
        return Score(False, f"expected {problem.reference}, got {letter}")


@register_dataset
class LogiQA(ChoiceDataset):
    """AGIEval's logiqa-en layout (passage, question, options "(A)...", label "A"), as shipped; the hub copy
    hails/agieval-logiqa-en (query, choices, gold) is read too."""

    name = "logiqa"
    domain = "logic"
    default_hub_id = "hails/agieval-logiqa-en"
    sample_file = "logiqa.jsonl"

    def parse(self, records, seed):
        return [self.from_agieval(r) if "options" in r else self.from_harness(r) for r in records]

    def from_agieval(self, r: dict) -> Problem:
        stem = f"{r['passage']}\n\n{r['question']}"
        return self.labelled(stem, r["options"], r["label"])

    def from_harness(self, r: dict) -> Problem:
        stem = re.sub(r"^Q:\s*", "", r["query"].split("Answer Choices:")[0]).strip()
        gold = r["gold"][0] if isinstance(r["gold"], list) else r["gold"]
        return self.labelled(stem, r["choices"], option_label(r["choices"][int(gold)]) or LETTERS[int(gold)])

    def labelled(self, stem: str, raw_options: list[str], label: str) -> Problem:
        """Options put in the order of their "(A)".."(D)" labels: a few LogiQA items list them out of order."""
        labels = [option_label(option) or LETTERS[i] for i, option in enumerate(raw_options)]
        by_label = dict(zip(labels, raw_options, strict=True))
        order = sorted(by_label)
        options = [strip_label(by_label[letter]) for letter in order]
        return self.choice(text_id(stem + "\n" + "\n".join(options)), stem, options, order.index(label))


def option_label(option: str) -> str:
    found = re.match(r"\s*\(([A-H])\)", option)
    return found.group(1) if found else ""


def strip_label(option: str) -> str:
    """ "(A)Civic Park ..." -> "Civic Park ..." """
    return re.sub(r"^\s*\([A-H]\)\s*", "", option).strip()


@register_dataset
class MMLU(ChoiceDataset):
    """cais/mmlu layout (question, subject, choices, answer index), as shipped; a folder of per-subject CSV files
    with a header row (question, choice0..choice3 or A..D, answer as index or letter) is read too."""

    name = "mmlu"
    domain = "general"
    default_hub_id = "cais/mmlu"
    hub_config = "all"
    sample_file = "mmlu.jsonl"

    def parse(self, records, seed):
        problems = []
        for r in records:
            options = r["choices"] if "choices" in r else csv_options(r)
            subject = r.get("subject") or re.sub(r"_(test|dev|val)$", "", r.get("_file", ""))
            problems.append(self.choice(text_id("\n".join([subject, r["question"], *options])), r["question"],
                                        list(options), answer_index(r["answer"]), domain=subject_domain(subject),
                                        meta={"subject": subject}))
        return problems


def csv_options(row: dict) -> list[str]:
    keys = ["choice0", "choice1", "choice2", "choice3"] if "choice0" in row else ["A", "B", "C", "D"]
    return [row[key] for key in keys]


def answer_index(answer) -> int:
    text = str(answer).strip()
    return LETTERS.index(text) if text in LETTERS else int(text)


SUBJECT_DOMAINS = [
    ("medicine", r"medic|anatomy|clinical|nutrition|virology|genetics|aging"),
    ("math", r"math|algebra|statistics"),
    ("code", r"computer|machine_learning|security"),
    ("logic", r"logic"),
    ("science", r"physics|chemistry|biology|astronomy|electrical|science"),
]


def subject_domain(subject: str) -> str:
    return next((domain for domain, pattern in SUBJECT_DOMAINS if re.search(pattern, subject)), "general")


@register_dataset
class MedQA(ChoiceDataset):
    """GBaker/MedQA-USMLE-4-options layout: question, options {A: ..., D: ...}, answer_idx, meta_info."""

    name = "medqa"
    domain = "medicine"
    default_hub_id = "GBaker/MedQA-USMLE-4-options"
    sample_file = "medqa.jsonl"

    def parse(self, records, seed):
        problems = []
        for r in records:
            letters = sorted(r["options"])
            options = [r["options"][letter] for letter in letters]
            problems.append(self.choice(text_id(r["question"]), r["question"], options,
                                        letters.index(r["answer_idx"]), meta={"step": r.get("meta_info", "")}))
        return problems


@register_dataset
class GPQA(ChoiceDataset):
    """Idavidrein/gpqa layout (Question, Correct Answer, Incorrect Answer 1-3, Record ID), CSV or JSON.

    The options are shuffled by a generator seeded with (seed, Record ID): the same seed gives the same order.
    """

    name = "gpqa"
    domain = "science"
    default_hub_id = "Idavidrein/gpqa"
    hub_config = "gpqa_diamond"
    hub_split = "train"
    no_sample_reason = ("GPQA's authors ask that its questions not be reposted in plain text; it is gated on the hub "
                        "(accept its terms, then log in) or use your own copy, e.g. gpqa_diamond.csv")

    def parse(self, records, seed):
        problems = []
        for r in records:
            record_id = r.get("Record ID") or text_id(r["Question"])
            options = [r["Correct Answer"]] + [r[f"Incorrect Answer {i}"] for i in (1, 2, 3)]
            order = list(range(4))
            random.Random(f"{seed}:{record_id}").shuffle(order)
            problems.append(self.choice(record_id, r["Question"], [options[i].strip() for i in order],
                                        order.index(0), meta={"subdomain": r.get("Subdomain", "")}))
        return problems
