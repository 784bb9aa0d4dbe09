"""The wheel runs what the checkout runs: installed non-editable into a fresh environment outside the checkout.

One environment gets ``attune[orchestrator]`` (what ``pip install 'attune[orchestrator]'`` gives a user)
and runs the stack and the benchmark from a temporary folder: ``attune up``, a tiny experiment through
``attune run``, ``attune judge`` and ``attune report``, ``attune demo`` and ``attune plan demo`` finding
the packaged demo experiment, and every subcommand's ``--help``. A second gets only ``attune[uservec]``,
as that service's image does, and starts the service to SERVING with no torch installed. Both run the
real services on free loopback ports.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from attune.orchestrator.cli import build_parser
from attune.services.common import registry
from attune.services.common.net import free_port
from tests.fixtures.wheel import fresh_venv

TINY = """name: tiny
methods: [vanilla]
datasets: [math-500]
n_profiles: 1
n_sessions: 1
max_turns: 1
concurrency: 1
transport: grpc
method_settings:
  max_reply_tokens: 32
simulator:
  max_tokens: 48
judge:
  contrast_pairs: 2
"""


def subcommands(parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every command path of the CLI (``study edgewise`` included)."""
    found = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found += [(*prefix, name), *subcommands(sub, (*prefix, name))]
    return found


def stack_env(data: Path) -> dict[str, str]:
    """The environment of a user's shell: no checkout on the path, every service on its own free port."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "PYTHONPATH", "ATTUNE_"))}
    env.update(ATTUNE_DATA_DIR=str(data), HF_HUB_OFFLINE="1", ATTUNE_JUDGE_MAX_TOKENS="40")
    for desc in registry.services():
        port = free_port()
        env.update({f"{desc.env_prefix}PORT": str(port), f"{desc.env_prefix}METRICS_PORT": str(free_port()),
                    desc.target_env: f"127.0.0.1:{port}"})
    return env


def attune(bin_dir: Path, *args: str, cwd: Path, env: dict, timeout: float = 900) -> subprocess.CompletedProcess:
    done = subprocess.run([str(bin_dir / "attune"), *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout)
    assert done.returncode == 0, f"attune {' '.join(args)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    return done


def demo_first_line(bin_dir: Path, cwd: Path, env: dict) -> str:
    """``attune demo``'s first line, which it prints once it has loaded its packaged experiment; the demo
    itself (40 sessions) is stopped there."""
    # COLUMNS: rich wraps its lines at 80 columns where no terminal says otherwise.
    demo = subprocess.Popen([str(bin_dir / "attune"), "demo", "--output-dir", "demo"], cwd=cwd,
                            env={**env, "COLUMNS": "400"}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True)
    try:
        return demo.stderr.readline()
    finally:
        demo.kill()
        demo.wait(timeout=60)


@pytest.fixture(scope="module")
def full_env(wheel_path, tmp_path_factory) -> Path:
    return fresh_venv(tmp_path_factory.mktemp("user") / "venv", wheel_path, "orchestrator", weights=True)


def test_every_subcommand_answers_help_from_the_wheel(full_env, tmp_path):
    paths = subcommands(build_parser())
    assert ("study", "edgewise") in paths and ("demo",) in paths
    for path in [(), *paths]:
        assert "usage: attune" in attune(full_env, *path, "--help", cwd=tmp_path, env=stack_env(tmp_path)).stdout


def test_a_tiny_experiment_runs_judges_and_reports_from_the_wheel(full_env, tmp_path):
    work, data = tmp_path / "work", tmp_path / "data"
    work.mkdir()
    (work / "tiny.yaml").write_text(TINY)
    env = stack_env(data)
    try:
        attune(full_env, "up", "--timeout", "900", cwd=work, env=env)
        attune(full_env, "run", "tiny.yaml", "--output-dir", "out", cwd=work, env=env)
        sessions = [json.loads(line) for line in (work / "out" / "sessions.jsonl").read_text().splitlines()]
        assert [(s["method"], s["profile_id"]) for s in sessions] == [("vanilla", sessions[0]["profile_id"])]
        judged = attune(full_env, "judge", "out", cwd=work, env=env)
        assert "already" in judged.stdout + judged.stderr
        report = attune(full_env, "report", "out", cwd=work, env=env).stdout.split()
        assert {Path(p).name for p in report} >= {"report.md", "report.html"}
        assert "vanilla" in (work / "out" / "report.md").read_text()
        assert "on 2 users x 2 sessions" in demo_first_line(full_env, work, env)
    finally:
        subprocess.run([str(full_env / "attune"), "down"], cwd=work, env=env, capture_output=True, timeout=120)
    assert not any(line.strip() for line in (data / "run").glob("*.pid"))


def test_the_packaged_demo_experiment_is_found_by_name(full_env, tmp_path):
    plan = attune(full_env, "plan", "demo", cwd=tmp_path, env=stack_env(tmp_path)).stdout
    assert "2 profiles x 2 sessions x 10 methods" in plan


def test_a_light_extra_starts_its_service_to_serving_without_torch(wheel_path, tmp_path):
    bin_dir = fresh_venv(tmp_path / "venv", wheel_path, "uservec")
    python = str(bin_dir / "python")
    # Every command runs in the temporary folder: `python -m` puts the working directory first on the path.
    assert subprocess.run([python, "-c", "import torch"], cwd=tmp_path, capture_output=True).returncode != 0
    cli = subprocess.run([str(bin_dir / "attune"), "--help"], cwd=tmp_path, capture_output=True, text=True)
    assert cli.returncode == 2 and "pip install 'attune[orchestrator]'" in cli.stderr
    env = stack_env(tmp_path / "data")
    with open(tmp_path / "uservec.log", "wb") as log:
        service = subprocess.Popen([python, "-m", "attune.services", "uservec"], cwd=tmp_path, env=env,
                                   stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline, probe = time.monotonic() + 120, None
        while time.monotonic() < deadline and service.poll() is None:
            # The image's HEALTHCHECK command, on the port ATTUNE_USERVEC_PORT names.
            probe = subprocess.run([python, "-m", "attune.services.common.healthcheck", "--service-name", "uservec",
                                    "--service", "attune.v1.UserVectorService"], cwd=tmp_path, capture_output=True,
                                   text=True, env=env)
            if probe.returncode == 0:
                break
            time.sleep(0.5)
        assert probe is not None and probe.returncode == 0, (tmp_path / "uservec.log").read_text()
        assert "SERVING" in probe.stdout
    finally:
        service.terminate()
        service.wait(timeout=30)
