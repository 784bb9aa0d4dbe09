"""Code datasets (HumanEval, BigCodeBench, LiveCodeBench, SciCode), scored by running tests on the reply's code.

The code runs in a child interpreter (see execution.py): that is NOT a security sandbox.
"""

from __future__ import annotations

import ast
import base64
import io
import json
import pickle
import re
import zlib

from attune.orchestrator.tasks import harness
from attune.orchestrator.tasks.base import Problem, Score, TaskDataset, register_dataset
from attune.orchestrator.tasks.execution import extract_code, score_program

UNITTEST_MAIN = """

if __name__ == "__main__":
    import sys as _sys
    import unittest as _unittest
    _result = _unittest.TextTestRunner(verbosity=0).run(_unittest.defaultTestLoader.loadTestsFromTestCase(TestCases))
    _sys.exit(0 if _result.wasSuccessful() else 1)
"""


class CodeDataset(TaskDataset):
    kind = "code"
    domain = "code"
    timeout = 10.0  # seconds for the whole test program

    def score(self, problem: Problem, answer: str) -> Score:
        if not problem.tests:
            return Score(False, f"{self.name} problem {problem.id} has no tests to run")
        return score_program(self.program(problem, extract_code(answer)), self.timeout)

    def program(self, problem: Problem, code: str) -> str:
        """The reply's code followed by the tests."""
        return f"{code}\n\n{problem.tests}"


def import_lines(code: str) -> str:
    return "\n".join(line for line in code.splitlines() if re.match(r"(import|from)\s+\w", line))


def defines(code: str, name: str) -> bool:
    return re.search(rf"^\s*def\s+{re.escape(name)}\s*\(", code, re.MULTILINE) is not None


@register_dataset
class HumanEval(CodeDataset):
    """openai/openai_humaneval layout: task_id, prompt, canonical_solution, test, entry_point (HumanEval.jsonl.gz)."""

    name = "humaneval"
    default_hub_id = "openai/openai_humaneval"
    sample_file = "humaneval.jsonl"

    def parse(self, records, seed):
        return [self.make(r["task_id"], f"Please complete this Python function:\n\n```python\n{r['prompt']}```",
                          r["prompt"] + r["canonical_solution"],
                          tests=f"{r['test']}\n\ncheck({r['entry_point']})\n", entry_point=r["entry_point"],
                          meta={"prompt": r["prompt"]})
                for r in records]

    def program(self, problem, code):
        """The prompt's imports first; a reply that only gives the body is read as the rest of the prompt."""
        if not defines(code, problem.entry_point):
            code = problem.meta["prompt"] + code
        return f"{import_lines(problem.meta['prompt'])}\n\n{code}\n\n{problem.tests}"


@register_dataset
class BigCodeBench(CodeDataset):
    """bigcode/bigcodebench layout: task_id, instruct_prompt, code_prompt, canonical_solution, test (unittest
    TestCases), entry_point. Its tests import many third-party libraries: missing ones fail the problem."""

    name = "bigcodebench"
    default_hub_id = "bigcode/bigcodebench"
    hub_split = "v0.1.4"
    timeout = 60.0
    no_sample_reason = "BigCodeBench has no public copy outside the hub"

    def parse(self, records, seed):
        return [self.make(r["task_id"], r["instruct_prompt"], r["code_prompt"] + r["canonical_solution"],
                          tests=r["test"] + UNITTEST_MAIN, entry_point=r["entry_point"],
                          meta={"code_prompt": r["code_prompt"], "libs": r.get("libs", "")})
                for r in records]

    def program(self, problem, code):
        if not defines(code, problem.entry_point):
            code = problem.meta["code_prompt"] + code
        return f"{code}\n\n{problem.tests}"


@register_dataset
class LiveCodeBench(CodeDataset):
    """lighteval/code_generation_lite layout (LiveCodeBench's code_generation_lite as Parquet): question_id,
    question_content, starter_code, public_test_cases, private_test_cases, metadata, platform, difficulty.

    The script-based livecodebench/code_generation_lite repo no longer loads with datasets>=4; its JSONL
    files (test.jsonl ... test6.jsonl) load here as local files.
    """

    name = "livecodebench"
    default_hub_id = "lighteval/code_generation_lite"
    hub_config = "v6"
    timeout = 120.0
    no_sample_reason = "LiveCodeBench has no public copy outside the hub"

    def parse(self, records, seed):
        problems = []
        for r in records:
            cases = json.loads(r["public_test_cases"]) + decode_cases(r["private_test_cases"])
            fn_name = json.loads(r.get("metadata") or "{}").get("func_name") or ""
            tests = f"{harness.source('livecodebench')}\n\nTESTS = json.loads({json.dumps(cases)!r})\n"
            problems.append(self.make(r["question_id"], lcb_question(r), "", tests=tests, entry_point=fn_name,
                                      meta={"platform": r.get("platform", ""), "difficulty": r.get("difficulty", ""),
                                            "contest_date": str(r.get("contest_date", ""))}))
        return problems

    def program(self, problem, code):
        return f"{problem.tests}\nmain({code!r}, TESTS, {problem.entry_point!r})\n"


def lcb_question(r: dict) -> str:
    if r.get("starter_code"):
        how = f"Use this starter code:\n\n```python\n{r['starter_code']}\n```"
    else:
        how = "Read the input from standard input and write the answer to standard output."
    return f"{r['question_content'].strip()}\n\nSolve it in Python. {how}"


class PlainUnpickler(pickle.Unpickler):
    """LiveCodeBench pickles its private tests as one JSON string: nothing else may be unpickled."""

    def find_class(self, module, name):
        raise pickle.UnpicklingError(f"refusing to unpickle {module}.{name}")


def decode_cases(text: str) -> list:
    """Private test cases: JSON, or base64 of zlib of a pickled JSON string."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        raw = zlib.decompress(base64.b64decode(text))
        return json.loads(PlainUnpickler(io.BytesIO(raw)).load())


@register_dataset
class SciCode(CodeDataset):
    """SciCode1/SciCode layout (SciCode's problems_dev.jsonl / problems_all.jsonl): problem_id,
    problem_description_main, problem_io, required_dependencies, sub_steps (step_description_prompt,
    function_header, return_line, test_cases, ground_truth_code).

    A problem is scored only when every step has its ground-truth code (the validation split): the
    targets of its tests are recomputed from that code (see harness/scicode.py). Test-split problems
    load, but score as not scorable.
    """

    name = "scicode"
    domain = "science"
    default_hub_id = "SciCode1/SciCode"
    hub_split = "validation"
    timeout = 120.0
    sample_file = "scicode.jsonl"

    def parse(self, records, seed):
        problems = []
        for r in records:
            steps = listed(r["sub_steps"])
            solutions = [step.get("ground_truth_code") or "" for step in steps]
            reference = "\n\n".join(solutions) if all(solutions) else ""
            cases = [listed(step["test_cases"]) for step in steps]
            tests = f"{harness.source('scicode')}\n\nCASES = {cases!r}\n" if reference else ""
            problems.append(self.make(r["problem_id"], scicode_question(r, steps), reference, tests=tests,
                                      entry_point=function_name(steps[-1]["function_header"]),
                                      meta={"name": r.get("problem_name", ""), "steps": len(steps),
                                            "dependencies": r["required_dependencies"]}))
        return problems

    def score(self, problem, answer):
        if not problem.tests:
            return Score(False, f"scicode problem {problem.id} is not scorable: it has no reference solution to "
                                "compute its test targets from, and SciCode's test_data.h5 is not read")
        return super().score(problem, answer)

    def program(self, problem, code):
        return (f"{problem.tests}\nmain({code!r}, {problem.reference!r}, "
                f"{problem.meta['dependencies']!r}, CASES)\n")


def listed(value) -> list:
    """SciCode's JSONL stores some lists as Python literals in strings."""
    return ast.literal_eval(value) if isinstance(value, str) else list(value)


def function_name(header: str) -> str:
    found = re.search(r"def\s+(\w+)", header)
    return found.group(1) if found else ""


def scicode_question(r: dict, steps: list) -> str:
    parts = [r["problem_description_main"].strip(), r["problem_io"].strip(),
             f"Use only these imports:\n```python\n{r['required_dependencies'].strip()}\n```",
             "Write it as these functions, in order:"]
    for number, step in enumerate(steps, 1):
        code = f"{step['function_header'].rstrip()}\n    ...\n{(step.get('return_line') or '').rstrip()}"
        parts.append(f"{number}. {step['step_description_prompt'].strip()}\n```python\n{code}\n```")
    return "\n\n".join(parts)
