"""Probe a service's ``grpc.health.v1`` status: ``python -m attune.services.common.healthcheck HOST:PORT``.

Exits 0 when the service answers SERVING, 1 otherwise (NOT_SERVING while the
model loads, during a graceful shutdown, unreachable, timed out, unknown
service). Meant for Docker / compose healthchecks and as a Kubernetes exec-probe
fallback where the kubelet's built-in gRPC probe is not available. Health
checks are exempt from the auth token, so none is sent.

    python -m attune.services.common.healthcheck 127.0.0.1:50051
    python -m attune.services.common.healthcheck model:50051 --service attune.v1.ModelService --timeout 2
"""

from __future__ import annotations

import argparse
import os
import sys

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

SERVING = health_pb2.HealthCheckResponse.SERVING


def check(target: str, service: str = "", timeout_s: float = 3.0, common=None) -> tuple[bool, str]:
    """(is SERVING, status name or failure reason) for ``service`` ("" = the whole server) at ``target``; over
    TLS when ``common`` (CommonSettings) names a CA."""
    from attune.services.common import tls

    credentials = tls.channel_credentials(common) if common is not None else None
    # A probe talks to its own pod or container: never through an http_proxy from the environment.
    options = [("grpc.enable_http_proxy", 0), *(tls.channel_options(common) if common is not None else [])]
    try:
        channel = (grpc.secure_channel(target, credentials, options=options) if credentials is not None
                   else grpc.insecure_channel(target, options=options))
        with channel:
            stub = health_pb2_grpc.HealthStub(channel)
            reply = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=timeout_s)
    except grpc.RpcError as err:
        code = err.code() if hasattr(err, "code") else None
        name = code.name if code is not None else "ERROR"
        details = err.details() if hasattr(err, "details") else str(err)
        return False, f"{name}: {details}" if details else name
    status = health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)
    return reply.status == SERVING, status


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m attune.services.common.healthcheck",
        description="Exit 0 when the gRPC health service at HOST:PORT says SERVING, 1 otherwise.")
    parser.add_argument("target", metavar="HOST:PORT", nargs="?")
    parser.add_argument("--service-name", help="a registered service: probe it on 127.0.0.1 at its port")
    parser.add_argument("--service", default="", help="service name to check; default: the whole server")
    parser.add_argument("--timeout", type=float, default=3.0, help="seconds to wait for an answer (default 3)")
    parser.add_argument("--quiet", action="store_true", help="print nothing")
    try:
        args = parser.parse_args(argv)
    except SystemExit as stop:
        # Docker reserves exit code 2: a usage error reads as unhealthy (1), --help as 0.
        return 0 if stop.code in (0, None) else 1
    target = args.target or _local_target(args.service_name)
    if target is None:
        print("name HOST:PORT or --service-name", file=sys.stderr)
        return 1
    args.target = target
    from attune.services.common.settings import CommonSettings, SettingsError, load

    try:
        common = load(CommonSettings)
    except SettingsError as err:
        print(err, file=sys.stderr)
        return 1
    ok, status = check(target, args.service, args.timeout, common)
    if not args.quiet:
        print(f"{args.target} {args.service or '(server)'}: {status}", file=sys.stdout if ok else sys.stderr)
    return 0 if ok else 1


def _local_target(name: str | None) -> str | None:
    """127.0.0.1 at the port of registered service ``name`` (ATTUNE_<NAME>_PORT overrides it)."""
    from attune.services.common import registry

    if not name:
        return None
    try:
        desc = registry.get(name)
    except registry.UnknownService:
        return None
    return f"127.0.0.1:{os.environ.get(desc.env_prefix + 'PORT', desc.port)}"


if __name__ == "__main__":
    sys.exit(main())
