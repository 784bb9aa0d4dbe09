"""Monitoring tested for real: Debian's promtool checks the shipped Prometheus config and rules, and a real
Prometheus server scrapes the local stack (`attune up`: every registered service as its own process) while the
orchestrator service runs a short experiment; its query API must then return session and token counters for
every method that ran. The tools come from `make system-packages`; a missing one fails, never skips.

The stack runs as it is meant to be deployed: mutual TLS between every service and client (a CA made for the
test) and the shared token; once the run is done, every RPC of every service is called without the token and
with a wrong one (UNAUTHENTICATED, health stays open), without a client certificate and in plaintext (no
answer), and no log of the run holds the token or a private key."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import time
import urllib.parse
import urllib.request
from pathlib import Path

import grpc
import yaml
from grpc_health.v1 import health_pb2, health_pb2_grpc

from attune.orchestrator.cli import main
from attune.orchestrator.stack import LocalStack
from attune.services.common import tls
from attune.services.common.net import free_port
from attune.services.common.server import AUTH_HEADER
from attune.services.common.settings import CommonSettings
from tests.fixtures.rpcs import rpcs_of
from tests.fixtures.stack import fresh_stack_specs
from tests.fixtures.tls import Pki, make_pki

ROOT = Path(__file__).resolve().parents[2]
METHODS = ["vanilla", "rag"]
TOKEN = "monitored-stack-token-5f0c2a"


def tool(name: str) -> str:
    path = shutil.which(name)
    assert path, f"{name} is missing: `make system-packages` installs Debian's prometheus package"
    return path


def promtool(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([tool("promtool"), *args], capture_output=True, text=True, timeout=60)


def test_promtool_accepts_the_shipped_config_and_rules_and_refuses_a_broken_rule(processes, tmp_path):
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


async def test_prometheus_scrapes_sessions_and_tokens_of_every_method_from_the_stack(processes, data_dir, tmp_path,
                                                                                      monkeypatch):
    specs = fresh_stack_specs(tmp_path / "data", data_dir, monkeypatch)
    pki = make_pki(tmp_path / "pki")
    for key, value in {**pki.env(client_auth=True), "ATTUNE_AUTH_TOKEN": TOKEN}.items():
        monkeypatch.setenv(key, value)
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
        for spec in specs:
            await refuses_strangers(spec, pki)
        for log_file in (tmp_path / "data" / "logs").glob("*.log"):
            text = log_file.read_text()
            assert TOKEN not in text and "PRIVATE KEY" not in text, f"a secret in {log_file.name}"
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=30)
        local.down(timeout_s=30)


def channel(target: str, common: CommonSettings | None) -> grpc.aio.Channel:
    if common is None:
        return grpc.aio.insecure_channel(target)
    return grpc.aio.secure_channel(target, tls.channel_credentials(common))


async def code_of(call, request, metadata=()) -> grpc.StatusCode:
    try:
        reply = call(request, timeout=10, metadata=metadata)
        if hasattr(reply, "__aiter__"):
            async for _ in reply:
                pass
        else:
            await reply
    except grpc.aio.AioRpcError as err:
        return err.code()
    return grpc.StatusCode.OK


async def refuses_strangers(spec, pki: Pki) -> None:
    """Every RPC of ``spec`` without the token or with a wrong one is UNAUTHENTICATED; health needs no token;
    a client without a certificate, or in plaintext, gets no answer at all."""
    trusted = CommonSettings(tls_ca=pki.ca, tls_cert=pki.client_cert, tls_key=pki.client_key)
    async with channel(spec.default_target, trusted) as ch:
        for rpc in rpcs_of(spec.name):
            for metadata in ((), ((AUTH_HEADER, "Bearer not-the-token"),)):
                code = await code_of(rpc.call(ch), rpc.request(), metadata)
                assert code == grpc.StatusCode.UNAUTHENTICATED, (rpc.path, metadata, code)
        health = await health_pb2_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest(), timeout=10)
        assert health.status == health_pb2.HealthCheckResponse.SERVING
    (first, *_) = rpcs_of(spec.name)
    # Explicit Nones: the test's environment holds the stack's own certificate.
    no_certificate = CommonSettings(tls_ca=pki.ca, tls_cert=None, tls_key=None, tls_client_auth=False)
    for common in (no_certificate, None):
        async with channel(spec.default_target, common) as ch:
            code = await code_of(first.call(ch), first.request(), ((AUTH_HEADER, f"Bearer {TOKEN}"),))
            assert code == grpc.StatusCode.UNAVAILABLE, (spec.name, common, code)
