"""Task datasets: the registry, loading (sample, local file, hub), subsets, and scoring on real sample items."""

import base64
import csv
import json
import pickle
import zlib

import datasets
import pytest

from attune.orchestrator.tasks import DATASETS, Problem, TaskError, UnknownDataset, get_dataset, load_problems, sources
from attune.orchestrator.tasks.base import TaskDataset, register_dataset
from attune.orchestrator.tasks.execution import extract_code, run_python
from attune.services.common.net import free_port

NAMES = ["math-500", "math-hard", "humaneval", "bigcodebench", "logiqa", "mmlu", "medqa", "gpqa", "theoremqa", "aime",
         "livecodebench", "scicode"]
NOT_SHIPPED = {"gpqa", "bigcodebench", "livecodebench"}


def problem(name: str, index: int = 0) -> Problem:
    return load_problems(name)[index]


def by_id(name: str, id: str) -> Problem:
    return next(p for p in load_problems(name) if p.id == id)


# --- registry and loading -------------------------------------------------------------------------------------


def test_registry_holds_the_twelve_datasets():
    assert sorted(DATASETS) == sorted(NAMES)
    for name, dataset in DATASETS.items():
        assert dataset.name == name and dataset.kind in ("math", "choice", "code")
        assert dataset.default_hub_id
        assert dataset.sample_available == (name not in NOT_SHIPPED)


@pytest.mark.parametrize("name", sorted(set(NAMES) - NOT_SHIPPED))
def test_every_shipped_sample_loads(name):
    problems = load_problems(name)
    dataset = get_dataset(name)
    assert 5 <= len(problems) <= 20
    assert len({p.id for p in problems}) == len(problems)
    for p in problems:
        assert p.dataset == name and p.kind == dataset.kind and p.question and p.domain
        assert p.reference
        assert dataset.prompt(p).startswith(p.question.strip())
        assert len(dataset.prompt(p, step_by_step=True)) > len(dataset.prompt(p))


@pytest.mark.parametrize("name", sorted(NOT_SHIPPED))
def test_sets_without_a_sample_say_why_and_how_to_load(name):
    with pytest.raises(TaskError, match="no sample ships") as error:
        load_problems(name)
    assert "source=PATH" in str(error.value) and get_dataset(name).default_hub_id in str(error.value)


def test_unknown_dataset_names_the_name_and_the_known_ones():
    with pytest.raises(UnknownDataset) as error:
        get_dataset("math500")
    assert "'math500'" in str(error.value)
    assert all(name in str(error.value) for name in NAMES)
    assert isinstance(error.value, ValueError)


@pytest.fixture
def registry():
    """DATASETS, restored to its shipped content after the test."""
    before = dict(DATASETS)
    yield DATASETS
    DATASETS.clear()
    DATASETS.update(before)


def test_register_dataset_adds_an_instance_by_name(registry):
    @register_dataset
    class Throwaway(TaskDataset):
        name = "throwaway"

    assert isinstance(registry["throwaway"], Throwaway)
    assert get_dataset("throwaway") is registry["throwaway"]
    assert len(registry) == len(NAMES) + 1


def test_register_dataset_refuses_a_name_twice(registry):
    class Again(TaskDataset):
        name = "math-500"

    with pytest.raises(ValueError, match="'math-500' is already registered"):
        register_dataset(Again)
    assert not isinstance(registry["math-500"], Again)


def test_register_dataset_refuses_a_class_without_a_name(registry):
    class Nameless(TaskDataset):
        pass

    with pytest.raises(ValueError, match="Nameless has no name"):
        register_dataset(Nameless)
    assert "" not in registry


def test_subset_is_deterministic_for_a_seed():
    first = load_problems("medqa", limit=5, seed=3)
    assert first == load_problems("medqa", limit=5, seed=3)
    assert [p.id for p in first] != [p.id for p in load_problems("medqa", limit=5, seed=4)]
    assert len(first) == 5 and len(load_problems("medqa", limit=100)) == 20
    assert [p.id for p in load_problems("medqa")] == [p.id for p in load_problems("medqa")]


def test_missing_path_is_named(tmp_path):
    missing = tmp_path / "nope.jsonl"
    with pytest.raises(TaskError, match="nope.jsonl does not exist"):
        load_problems("math-500", missing)


def test_unparseable_and_wrong_layout_files_are_task_errors(tmp_path):
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"problem": "1+1?", "answer": "2"}\n{not json\n')
    with pytest.raises(TaskError, match="line 2"):
        load_problems("math-500", broken)
    other = tmp_path / "other.jsonl"
    other.write_text('{"text": "hello"}\n')
    with pytest.raises(TaskError, match="not in the math-500 layout"):
        load_problems("math-500", other)


def test_local_file_in_native_layout(tmp_path):
    rows = [{"problem": f"What is {i} + {i}?", "solution": f"$\\boxed{{{2 * i}}}$", "answer": str(2 * i),
             "subject": "Algebra", "level": 1, "unique_id": f"test/algebra/{i}.json"} for i in range(6)]
    path = tmp_path / "math500.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    problems = load_problems("math-500", path)
    assert [p.id for p in problems] == [f"test/algebra/{i}.json" for i in range(6)]
    assert problems[3].reference == "6" and problems[3].meta["subject"] == "Algebra"
    subset = load_problems("math-500", str(path), limit=2, seed=1)
    assert len(subset) == 2 and subset == load_problems("math-500", path, limit=2, seed=1)


def test_csv_folder_in_mmlu_layout(tmp_path):
    with open(tmp_path / "college_physics_test.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["question", "choice0", "choice1", "choice2", "choice3", "answer"])
        writer.writerow(["Unit of force?", "joule", "newton", "watt", "pascal", "1"])
    (p,) = load_problems("mmlu", tmp_path)
    assert p.reference == "B" and p.meta["subject"] == "college_physics" and p.domain == "science"
    assert "B. newton" in p.question


def test_logiqa_reads_the_hub_layout_too(tmp_path):
    row = {"query": "Q: All cats purr. Tom is a cat. Which follows? Answer Choices: (A)Tom barks (C)Tom purrs "
                    "(B)Tom flies (D)Nothing A: Among A through D, the answer is",
           "choices": ["(A)Tom barks", "(C)Tom purrs", "(B)Tom flies", "(D)Nothing"], "gold": [1]}
    path = tmp_path / "logiqa.jsonl"
    path.write_text(json.dumps(row) + "\n")
    (p,) = load_problems("logiqa", path)
    assert p.question.startswith("All cats purr. Tom is a cat. Which follows?\n\nA. Tom barks\nB. Tom flies")
    assert p.reference == "C" and p.meta["options"][2] == "Tom purrs"


def test_gpqa_options_are_shuffled_by_seed_only(tmp_path):
    rows = [{"Question": f"Which particle number {i}?", "Correct Answer": "right", "Incorrect Answer 1": "w1",
             "Incorrect Answer 2": "w2", "Incorrect Answer 3": "w3", "Record ID": f"rec{i}"} for i in range(8)]
    path = tmp_path / "gpqa_diamond.csv"
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    gpqa = get_dataset("gpqa")
    first, again, other = (gpqa.load(path, seed=s) for s in (0, 0, 1))
    assert first == again
    assert [p.reference for p in first] != [p.reference for p in other]
    for p in first:
        assert p.meta["options"]["ABCD".index(p.reference)] == "right"
        assert gpqa.score(p, f"The answer is ({p.reference}).").correct


def test_hub_when_unreachable_fails_fast_with_advice(monkeypatch):
    """Whatever this machine's network: the hub's endpoint is a closed port of 127.0.0.1 and no proxy is set,
    so the reachability check says no and the load stops before the hub client's retries."""
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(datasets.config, "HF_ENDPOINT", f"http://127.0.0.1:{free_port()}")
    for name in sources.PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(datasets, "load_dataset", fail_if_called)
    with pytest.raises(TaskError, match="cannot reach the hub.*source=PATH"):
        load_problems("math-500", "hub")


def test_hub_in_offline_mode_is_a_task_error(monkeypatch):
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    with pytest.raises(TaskError, match="attune-tests/no-such-dataset.*source=PATH"):
        load_problems("math-500", "hub:attune-tests/no-such-dataset")


def fail_if_called(*args, **kwargs):
    raise AssertionError("the hub client was called although the hub is unreachable")


# --- math ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "reply"), [
    ("math-500", "So $n = \\boxed{7}$."),
    ("math-500", "The answer is 7."),
    ("math-500", "Adding the rows gives 2n+1 = 3n-6, hence n equals 7"),
])
def test_math_answer_is_found_boxed_stated_or_last(name, reply):
    assert get_dataset(name).score(problem(name), reply).correct


@pytest.mark.parametrize(("name", "id", "reformatted"), [
    ("math-500", "64baf9bfb0d9", "0.09"),                  # \frac{9}{100}
    ("math-500", "3dcf6f6bd4c4", "5/9"),                   # \frac 59
    ("math-500", "17c431ced3d4", "137.5"),                 # 137 \frac{1}{2}
    ("math-hard", "5c60311e79d7", "4\\sqrt{3} + 8"),       # 8+4\sqrt3
    ("math-hard", "66192143744c", "-\\frac94, \\frac94"),  # \frac{9}{4}, -\frac{9}{4}
    ("aime", "75", "73"),                                  # 073
])
def test_math_reference_and_a_reformatted_answer_verify(name, id, reformatted):
    dataset, p = get_dataset(name), by_id(name, id)
    assert dataset.score(p, f"The final answer is $\\boxed{{{p.reference}}}$.").correct
    assert dataset.score(p, f"Therefore the answer is \\boxed{{{reformatted}}}").correct


def test_math_wrong_or_missing_answer_is_incorrect_with_a_reason():
    math = get_dataset("math-500")
    p = problem("math-500")  # reference 7
    wrong = math.score(p, "I get \\boxed{8}.")
    assert not wrong.correct and wrong.detail == "expected 7, got 8"
    assert "no final answer" in math.score(p, "I am not sure.").detail


@pytest.mark.parametrize(("id", "right", "wrong"), [
    ("xueguangma/sharpe_ratio.json", "about \\boxed{0.335}", "\\boxed{0.5}"),                # float, 4% tolerance
    ("panlu/shock_wave1.json", "The answer is 560.2", "The answer is 570"),                 # integer, rounded
    ("xinyi/concavity.json", "Yes, so the answer is True.", "The answer is False."),        # bool
    ("mingyin/gaussian-elimination1.json", "\\boxed{[2, 2]}", "\\boxed{[2, 3]}"),           # list of integer
    ("elainewan/math_calculus_2_9.json", "\\boxed{[-0.667, 0.667]}", "\\boxed{[0.667]}"),   # list of float, sorted
    ("xinyi/huffman_code_1.json", "The answer is (b).", "The answer is (a)."),              # option
])
def test_theoremqa_answer_types(id, right, wrong):
    theoremqa, p = get_dataset("theoremqa"), by_id("theoremqa", id)
    assert theoremqa.score(p, f"\\boxed{{{p.reference}}}").correct
    assert theoremqa.score(p, right).correct
    assert not theoremqa.score(p, wrong).correct


def test_theoremqa_numbers_in_latex():
    theoremqa, p = get_dataset("theoremqa"), by_id("theoremqa", "xueguangma/sharpe_ratio.json")  # 0.33
    assert theoremqa.score(p, "The Sharpe ratio is \\boxed{\\frac{1}{3}}").correct
    assert theoremqa.score(p, "The answer is $3.3 \\times 10^{-1}$.").correct
    assert not theoremqa.score(p, "The answer is $3.3 \\times 10^{-2}$.").correct


# --- multiple choice ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("template", ["Answer: {}", "The answer is ({}).", "{}. Because the passage says so.",
                                      "I think the correct answer is **{}**", "\\boxed{{{}}}", "So, option {}.",
                                      "**Answer: {}**", "The correct option is {}."])
@pytest.mark.parametrize("name", ["logiqa", "mmlu", "medqa"])
def test_choice_letter_is_found(name, template):
    dataset, p = get_dataset(name), problem(name)
    assert dataset.score(p, template.format(p.reference)).correct
    other = next(letter for letter in "ABCD" if letter != p.reference)
    score = dataset.score(p, template.format(other))
    assert not score.correct and score.detail == f"expected {p.reference}, got {other}"


def test_choice_without_a_letter_is_incorrect():
    score = get_dataset("mmlu").score(problem("mmlu"), "It depends on the context.")
    assert not score.correct and "no option letter" in score.detail


def test_choice_keeps_the_option_order_of_the_labels():
    # AGIEval lists this item's options as (A), (C), (B), (D); its label C is "E and M".
    p = next(p for p in load_problems("logiqa") if "E and M" in p.question)
    assert p.question.index("A. E and J") < p.question.index("B. F and G") < p.question.index("C. E and M")
    assert p.reference == "C"


# --- code -----------------------------------------------------------------------------------------------------


def test_humaneval_canonical_solutions_pass_and_wrong_code_fails(processes):
    humaneval = get_dataset("humaneval")
    for p in load_problems("humaneval"):
        score = humaneval.score(p, f"Here you go:\n```python\n{p.reference}\n```\nHope it helps.")
        assert score.correct, (p.id, score.detail)
    p = by_id("humaneval", "HumanEval/77")
    wrong = humaneval.score(p, "```python\ndef iscube(a):\n    return False\n```")
    assert not wrong.correct and "AssertionError" in wrong.detail


def test_humaneval_body_only_reply_is_read_after_the_prompt(processes):
    humaneval, p = get_dataset("humaneval"), by_id("humaneval", "HumanEval/77")
    body = p.reference[len(p.meta["prompt"]):]
    assert humaneval.score(p, f"```python\n{body}```").correct


def test_code_timeout_is_reported(processes, monkeypatch):
    humaneval, p = get_dataset("humaneval"), by_id("humaneval", "HumanEval/77")
    monkeypatch.setattr(humaneval, "timeout", 1.0)
    score = humaneval.score(p, "```python\ndef iscube(a):\n    while True:\n        pass\n```")
    assert not score.correct and score.detail == "timeout after 1s"


def test_child_runs_isolated_in_a_temporary_folder_with_a_memory_cap(processes):
    result = run_python("import os, sys\nprint(os.getcwd())\nprint(sys.flags.isolated)\nx = bytearray(16 << 30)")
    cwd, isolated = result.stdout.split()[:2]
    assert "attune-run-" in cwd and isolated == "1"
    assert result.returncode != 0 and "MemoryError" in result.stderr


def test_extract_code_prefers_python_fences():
    reply = "Sure:\n```python\ndef f():\n    return 1\n```\nand a test\n```\nprint(f())\n```"
    assert extract_code(reply) == "def f():\n    return 1"
    assert extract_code("def g(): pass") == "def g(): pass"


def test_scicode_reference_passes_and_a_wrong_step_fails(processes):
    scicode, p = get_dataset("scicode"), by_id("scicode", "4")
    assert scicode.score(p, f"```python\n{p.reference}\n```").correct
    wrong = p.reference.replace("np.sqrt(A[k, k])", "A[k, k]")
    assert wrong != p.reference
    score = scicode.score(p, f"```python\n{wrong}\n```")
    assert not score.correct and "case 1: assertion failed" in score.detail


def test_scicode_without_reference_solution_is_not_scorable(tmp_path):
    row = get_dataset("scicode").sample_records()[0]
    for step in row["sub_steps"]:
        step["ground_truth_code"] = None
    path = tmp_path / "problems_all.jsonl"
    path.write_text(json.dumps(row) + "\n")
    (p,) = load_problems("scicode", path)
    score = get_dataset("scicode").score(p, "```python\nprint(1)\n```")
    assert not score.correct and "not scorable" in score.detail


def lcb_row(question_id, public, private, func_name=""):
    packed = base64.b64encode(zlib.compress(pickle.dumps(json.dumps(private)))).decode()
    return {"question_id": question_id, "question_title": "t", "question_content": "Add the numbers.",
            "platform": "atcoder", "contest_id": "c", "contest_date": "2024-08-01T00:00:00", "difficulty": "easy",
            "starter_code": "class Solution:\n    def add(self, a: int, b: int) -> int:\n" if func_name else "",
            "public_test_cases": json.dumps(public), "private_test_cases": packed,
            "metadata": json.dumps({"func_name": func_name} if func_name else {})}


def test_livecodebench_local_file_stdin_and_functional(processes, tmp_path):
    stdin = [{"input": "1 2\n", "output": "3\n", "testtype": "stdin"}]
    hidden = [{"input": "5 7\n", "output": "12\n", "testtype": "stdin"}]
    call = [{"input": "1\n2", "output": "3", "testtype": "functional"}]
    path = tmp_path / "test6.jsonl"
    path.write_text(json.dumps(lcb_row("abc1", stdin, hidden)) + "\n" +
                    json.dumps(lcb_row("lc1", call, [{"input": "-4\n4", "output": "0", "testtype": "functional"}],
                                       "add")) + "\n")
    lcb = get_dataset("livecodebench")
    by_stdin, by_call = lcb.load(path)
    assert "standard input" in by_stdin.question and "class Solution" in by_call.question
    assert lcb.score(by_stdin, "```python\na, b = map(int, input().split())\nprint(a + b)\n```").correct
    wrong = lcb.score(by_stdin, "```python\nprint(3)\n```")
    assert not wrong.correct and "1/2 tests passed; test 2: wrong output '3'" in wrong.detail
    good = "```python\nclass Solution:\n    def add(self, a: int, b: int) -> int:\n        return a + b\n```"
    assert lcb.score(by_call, good).correct
    assert not lcb.score(by_call, good.replace("a + b", "a - b")).correct


def test_bigcodebench_local_record_runs_its_unittest(processes, tmp_path):
    test = ("import unittest\nclass TestCases(unittest.TestCase):\n"
            "    def test_sum(self):\n        self.assertEqual(task_func([1, 2]), 3)\n")
    row = {"task_id": "BigCodeBench/0", "complete_prompt": "", "instruct_prompt": "Sum a list.",
           "code_prompt": "def task_func(values):\n", "canonical_solution": "    return sum(values)\n",
           "test": test, "entry_point": "task_func", "doc_struct": "{}", "libs": "[]"}
    path = tmp_path / "bcb.jsonl"
    path.write_text(json.dumps(row) + "\n")
    bcb = get_dataset("bigcodebench")
    (p,) = bcb.load(path)
    assert bcb.score(p, p.reference).correct
    assert not bcb.score(p, "```python\ndef task_func(values):\n    return 0\n```").correct
