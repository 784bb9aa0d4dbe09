"""Running a candidate program with its tests in a child Python process.

NOT A SECURITY SANDBOX. The program runs with the same user, file system and
network access as attune itself. The child gets `python -I` (no user site, no
PYTHON* variables), a fresh temporary directory as working directory, a wall-clock
limit after which its whole process group is killed, and on POSIX an
address-space cap. Run untrusted model code inside a container or VM.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass

from attune.orchestrator.tasks.base import Score

FENCE = re.compile(r"```[ \t]*(?:python3?|py)[ \t]*\n(.*?)```", re.DOTALL | re.IGNORECASE)
OUTPUT_LIMIT = 10_000
MEMORY_LIMIT = 4 << 30

# Applied inside the child before the program runs; resource exists on POSIX only.
LAUNCHER = """
import runpy, sys
try:
    import resource
    resource.setrlimit(resource.RLIMIT_AS, ({limit}, {limit}))
except (ImportError, ValueError, OSError):
    pass
sys.argv = ["main.py"]
runpy.run_path("main.py", run_name="__main__")
"""
QUIET_ENV = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "MPLBACKEND": "Agg"}


@dataclass(frozen=True)
class RunResult:
    returncode: int | None  # None when killed on timeout
    stdout: str
    stderr: str
    seconds: float
    timed_out: bool


def extract_code(reply: str) -> str:
    """The Python code in a reply: its fenced blocks joined (```python preferred), else the whole text."""
    blocks = FENCE.findall(reply)
    if not blocks:
        blocks = re.findall(r"```[^\n]*\n(.*?)```", reply, re.DOTALL)
    return "\n\n".join(block.strip("\n") for block in blocks) if blocks else reply.strip()


def run_python(source: str, timeout: float = 10.0, memory_limit: int = MEMORY_LIMIT) -> RunResult:
    """Run `source` as __main__ of a fresh interpreter in a temporary directory; kill it after `timeout` s."""
    with tempfile.TemporaryDirectory(prefix="attune-run-") as folder:
        with open(os.path.join(folder, "main.py"), "w", encoding="utf-8") as handle:
            handle.write(source)
        command = [sys.executable, "-I", "-c", LAUNCHER.format(limit=memory_limit)]
        started = time.monotonic()
        child = subprocess.Popen(command, cwd=folder, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, env={**os.environ, **QUIET_ENV},
                                 start_new_session=os.name == "posix")
        try:
            out, err = child.communicate(timeout=timeout)
            timed_out = False
        except subprocess.TimeoutExpired:
            kill(child)
            out, err = child.communicate()
            timed_out = True
    return RunResult(None if timed_out else child.returncode, clip(out), clip(err),
                     time.monotonic() - started, timed_out)


def kill(child: subprocess.Popen) -> None:
    """Kill the child and anything it started (its own session on POSIX)."""
    try:
        if os.name == "posix":
            os.killpg(child.pid, signal.SIGKILL)
        else:
            child.kill()
    except ProcessLookupError:
        pass


def clip(data: bytes) -> str:
    text = data.decode("utf-8", errors="replace")
    return text if len(text) <= OUTPUT_LIMIT else "...[truncated]\n" + text[-OUTPUT_LIMIT:]


def verdict(result: RunResult, timeout: float) -> Score:
    """Correct iff the program exited 0; the detail names the timeout or the last line of the error."""
    if result.timed_out:
        return Score(False, f"timeout after {timeout:g}s")
    if result.returncode == 0:
        return Score(True, "tests passed")
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    last = lines[-1].strip()[:200] if lines else "no error output"
    return Score(False, f"tests failed (exit code {result.returncode}): {last}")


def score_program(source: str, timeout: float) -> Score:
    return verdict(run_python(source, timeout), timeout)
