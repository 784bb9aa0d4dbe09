"""Prometheus metrics every service exports on /metrics.

The names here are the contract with monitoring/ dashboards; a test checks that
every metric a dashboard queries is defined and exported.
"""

from __future__ import annotations

import re

from prometheus_client import Counter, Gauge, Histogram, start_http_server

REQUESTS = Counter(
    "attune_grpc_requests", "gRPC requests handled, by service, RPC and status code.",
    ["service", "rpc", "code"],
)
LATENCY = Histogram(
    "attune_grpc_request_seconds", "gRPC request latency in seconds.", ["service", "rpc"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
)
INFLIGHT = Gauge("attune_grpc_inflight_requests", "gRPC requests in progress.", ["service"])
TOKENS = Counter(
    "attune_model_tokens", "Tokens processed by the model service.",
    ["model", "caller_role", "method", "kind"],
)
BATCH_SIZE = Histogram(
    "attune_model_batch_size",
    "Requests per generate call (static batching) or per forward pass (continuous batching).", ["model"],
    buckets=(1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 64),
)
# Its rate is the share of wall time the model computes: below 1 under load, the callers starve it. Phase:
# "prefill" (prompts) and "decode" (one token per row) under continuous batching; "generate" (both) under static.
MODEL_BUSY = Counter("attune_model_busy_seconds", "Seconds the model spent generating, by phase.", ["model", "phase"])
CANCELLED_ROWS = Counter(
    "attune_model_cancelled_rows", "Batch rows dropped mid-generation because their caller went away.",
)
RETRIEVAL_STAGE = Histogram(
    "attune_retrieval_stage_seconds", "Time spent in each stage of Retrieve.", ["stage"],
    buckets=(0.0002, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
EMBED_BATCH = Histogram(
    "attune_embed_batch_size", "Per encoder batch of the embedder: the calls it serves and their texts.",
    ["unit"], buckets=(1, 2, 3, 4, 6, 8, 12, 16, 32, 64, 128, 256),
)
# vLLM's own metrics that the dashboards read: the vllm backend puts them on the model service's /metrics.
# tests/vllm checks that the engine exports each, tests/unit/test_dashboards.py that no dashboard names another.
VLLM_METRICS = ("vllm:prefix_cache_hits_total", "vllm:prefix_cache_queries_total", "vllm:num_requests_running",
                "vllm:num_requests_waiting", "vllm:time_to_first_token_seconds_bucket")
READY = Gauge("attune_service_ready", "1 when the service's backend can answer.", ["service"])
# The orchestrator's runs (labels: benchmark method and task dataset).
SESSIONS_STARTED = Counter("attune_sessions_started", "Benchmark sessions started.", ["method", "dataset"])
SESSIONS_FINISHED = Counter("attune_sessions_finished", "Benchmark sessions finished and logged.",
                            ["method", "dataset"])
SESSIONS_FAILED = Counter("attune_sessions_failed", "Benchmark sessions that failed.", ["method", "dataset"])
SESSION_TURNS = Counter("attune_session_turns", "User turns of finished benchmark sessions.", ["method"])
SESSION_TOKENS = Counter("attune_session_tokens", "Tokens of finished benchmark sessions, by ledger role.",
                         ["method", "role", "kind"])
RUN_SESSIONS = Gauge("attune_run_sessions", "Sessions of an orchestrator run: done and total.", ["run_id", "kind"])
RUN_ETA = Gauge("attune_run_eta_seconds", "Seconds to an orchestrator run's last session at its pace so far.",
                ["run_id"])
# The judge service's verdicts: check (task, compliance, conflict, over_personalization), outcome (passed,
# failed, unjudged; compliance per preference: followed, not_followed, unjudged).
JUDGE_VERDICTS = Counter("attune_judge_verdicts", "Judge verdicts.", ["check", "method", "outcome"])


# A benchmark method's name comes from the caller. Each distinct label value is a series the process keeps for
# its life, so a caller sending arbitrary names (the fuzzer sent megabytes of them) would grow memory without
# bound: plain names are kept up to MAX_METHODS of them, every other name is counted as "other".
MAX_METHODS = 64
_PLAIN_NAME = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
_methods_seen: set[str] = set()


def method_label(method: str) -> str:
    """The label a caller's method name is counted under: itself, "none" when empty, or "other"."""
    if not method:
        return "none"
    if method in _methods_seen:
        return method
    if not _PLAIN_NAME.fullmatch(method) or len(_methods_seen) >= MAX_METHODS:
        return "other"
    _methods_seen.add(method)
    return method


def count_tokens(model: str, caller_role: str, method: str, prompt: int, completion: int,
                 cached: int | None = None) -> None:
    """``cached``: of the prompt tokens, those the engine took from its prefix cache (kind
    ``prompt_cached``); None where the engine has no prefix cache, so no such series exists."""
    labels = {"model": model, "caller_role": caller_role or "other", "method": method_label(method)}
    TOKENS.labels(kind="prompt", **labels).inc(prompt)
    TOKENS.labels(kind="completion", **labels).inc(completion)
    if cached is not None:
        TOKENS.labels(kind="prompt_cached", **labels).inc(cached)


def count_session(record) -> None:
    """A finished benchmark session (a SessionRecord): its turns and tokens by role."""
    SESSIONS_FINISHED.labels(record.method, record.dataset).inc()
    SESSION_TURNS.labels(record.method).inc(len(record.turns))
    for role, count in record.tokens.items():
        SESSION_TOKENS.labels(record.method, role, "prompt").inc(count.prompt)
        SESSION_TOKENS.labels(record.method, role, "completion").inc(count.completion)


def count_verdict(check: str, method: str, outcome: str, n: int = 1) -> None:
    JUDGE_VERDICTS.labels(check, method_label(method), outcome).inc(n)


def serve_metrics(port: int, host: str = "0.0.0.0") -> int:
    """Start the /metrics HTTP endpoint; returns the bound port (0 picks a free one)."""
    server, _thread = start_http_server(port, addr=host)
    return server.server_port
