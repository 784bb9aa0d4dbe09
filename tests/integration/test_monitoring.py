"""Monitoring tested for real: Debian's promtool checks the shipped Prometheus config and rules, and a real
Prometheus server scrapes the local stack (`attune up`: every registered service as its own process) while the
orchestrator service runs a short experiment; its query API must then return session and token counters for
every method that ran. The tools come from `make system-packages`; a missing one fails, never skips."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import time
import urllib.parse
import urllib.request
from pathlib import Path

import yaml

from attune.orchestrator.cli import main
from attune.orchestrator.stack import LocalStack
from attune.services.common.net import free_port
from tests.fixtures.stack import fresh_stack_specs

ROOT = Path(__file__).resolve().parents[2]
METHODS = ["vanilla", "rag"]


def tool(name: str) -> str:
    path = shutil.which(name)
    assert path, f"{name} is missing: `make system-packages` installs Debian's prometheus package"
    return path


def promtool(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([tool("promtool"), *args], capture_output=True, text=True, timeout=60)


def test_promtool_accepts_the_shipped_config_and_rules_and_refuses_a_broken_rule(tmp_path):
    checked = promtool("check", "config", str(ROOT / "monitoring" / "prometheus.yml"))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "1 rule files found" in checked.stdout
    rules = promtool("check", "rules", str(ROOT / "monitoring" / "rules.yml"))
    assert rules.returncode == 0 and "5 rules found" in rules.stdout, rules.stdout + rules.stderr
    broken = tmp_path / "broken.yml"
    broken.write_text(yaml.safe_dump({"groups": [{"name": "x", "rules": [
        {"record": "attune:bad", "expr": "sum by (method (attune_sessions_finished_total)"}]}]}))
    assert promtool("check", "rules", str(broken)).returncode != 0


def query(port: int, expr: str) -> dict[str, float]:
    """An instant query: the first label's value -> the sample's value."""
    url = f"http://127.0.0.1:{port}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    body = json.loads(urllib.request.urlopen(url, timeout=10).read())
    assert body["status"] == "success", body
    return {next(iter(r["metric"].values()), ""): float(r["value"][1]) for r in body["data"]["result"]}


def wait_for(port: int, expr: str, want: set[str], timeout_s: float = 90) -> dict[str, float]:
    """Poll until ``expr`` has a non-zero value for every label in ``want``."""
    deadline, seen = time.monotonic() + timeout_s, {}
    while time.monotonic() < deadline:
        seen = query(port, expr)
        if all(seen.get(label, 0) > 0 for label in want):
            return seen
        time.sleep(1)
    raise AssertionError(f"{expr}: {seen}, wanted non-zero values for {sorted(want)}")


def wait_until_scraped(port: int, targets: int, timeout_s: float = 60) -> None:
    """Until Prometheus has scraped every service and found it up."""
    deadline, seen = time.monotonic() + timeout_s, {}
    while time.monotonic() < deadline:
        try:
            seen = query(port, 'count(up{job="attune"} == 1)')
        except OSError:  # the server is still starting
            seen = {}
        if seen.get("") == targets:
            return
        time.sleep(1)
    raise AssertionError(f"{targets} targets up expected, Prometheus says {seen}")


def prometheus_config(path: Path, specs: list) -> Path:
    path.write_text(yaml.safe_dump({
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(ROOT / "monitoring" / "rules.yml")],
        "scrape_configs": [{"job_name": "attune", "honor_labels": True, "static_configs": [
            {"targets": [f"127.0.0.1:{s.metrics_port}"], "labels": {"component": s.name}} for s in specs]}]}))
    checked = promtool("check", "config", str(path))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    return path


async def test_prometheus_scrapes_sessions_and_tokens_of_every_method_from_the_stack(data_dir, tmp_path,
                                                                                      monkeypatch):
    specs = fresh_stack_specs(tmp_path / "data", data_dir, monkeypatch)
    local = LocalStack(tmp_path / "data", specs)
    port = free_port()
    server = None
    try:
        states = await local.up(timeout_s=300)
        assert [s.health for s in states] == ["SERVING"] * len(specs)
        config = prometheus_config(tmp_path / "prometheus.yml", specs)
        with open(tmp_path / "prometheus.log", "w") as log:
            server = subprocess.Popen([tool("prometheus"), f"--config.file={config}",
                                       f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                                       f"--web.listen-address=127.0.0.1:{port}"], stdout=log, stderr=log)
        wait_until_scraped(port, len(specs))
        experiment = tmp_path / "monitored.yaml"
        experiment.write_text(yaml.safe_dump({
            "name": "monitored", "methods": METHODS, "datasets": ["math-500"], "n_profiles": 1, "n_sessions": 1,
            "max_turns": 1, "conflict_share": 0.0, "seed": 2, "concurrency": 2, "transport": "grpc",
            "method_settings": {"max_reply_tokens": 24}, "simulator": {"max_tokens": 64},
            "judge": {"enabled": False}}))
        orchestrator = next(s for s in specs if s.name == "orchestrator")
        code = await asyncio.to_thread(main, ["submit", str(experiment), "--to", orchestrator.default_target])
        assert code == 0, "the run failed: see the orchestrator's log under data/logs"
        wait_for(port, "sum by (method) (attune_sessions_finished_total)", set(METHODS))
        wait_for(port, 'sum by (method) (attune_session_tokens_total{role="agent"})', set(METHODS))
        wait_for(port, 'sum by (method) (attune_model_tokens_total{caller_role="agent"})', set(METHODS))
        done = wait_for(port, 'sum by (run_id) (attune_run_sessions{kind="done"})', {"monitored"})
        assert done["monitored"] == len(METHODS)
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=30)
        local.down(timeout_s=30)
