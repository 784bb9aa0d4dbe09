"""One client helper for every attune service: channel, deadlines, retries, auth.

Retries on UNAVAILABLE use gRPC's own retry policy (exponential backoff, set in
the channel's service config), so every stub call gets them. Clients use
round-robin load balancing, which spreads calls over the pods of a headless
Kubernetes Service instead of pinning one long-lived connection to one pod.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from attune.services.common.errors import DeadlineExceeded, Unavailable, from_rpc_error
from attune.services.common.server import AUTH_HEADER


def service_config(max_attempts: int = 5, initial_backoff_s: float = 0.2, max_backoff_s: float = 5.0) -> str:
    """Round-robin balancing and, for ``max_attempts`` >= 2, retries of UNAVAILABLE with backoff."""
    method = {"name": [{}]}
    if max_attempts >= 2:
        method["retryPolicy"] = {
            "maxAttempts": max_attempts,
            "initialBackoff": f"{initial_backoff_s}s",
            "maxBackoff": f"{max_backoff_s}s",
            "backoffMultiplier": 2,
            "retryableStatusCodes": ["UNAVAILABLE"],
        }
    return json.dumps({"loadBalancingConfig": [{"round_robin": {}}], "methodConfig": [method]})


def open_channel(target: str, max_message_bytes: int = 4 * 1024 * 1024, max_attempts: int = 5,
                 credentials: grpc.ChannelCredentials | None = None, options=()) -> grpc.aio.Channel:
    """A channel with retries and round-robin; TLS with ``credentials`` (tls.channel_credentials)."""
    options = [
        ("grpc.service_config", service_config(max_attempts)),
        ("grpc.enable_retries", 1),
        ("grpc.max_receive_message_length", max_message_bytes),
        ("grpc.max_send_message_length", max_message_bytes),
        *options,
    ]
    if credentials is not None:
        return grpc.aio.secure_channel(target, credentials, options=options)
    return grpc.aio.insecure_channel(target, options=options)


class GrpcClient:
    """Base of every service client: deadlines, auth metadata and error mapping.

    Subclasses call ``self.unary(stub.Method, request)``; failures arrive as the
    same AttuneError subclasses the in-process core raises.
    """

    def __init__(self, target: str, *, token: str = "", timeout_s: float = 120.0,
                 max_message_bytes: int = 4 * 1024 * 1024, max_attempts: int = 5,
                 credentials: grpc.ChannelCredentials | None = None, options=(), wait_for_ready: bool = False):
        self.target = target
        self.timeout_s = timeout_s
        # Calls wait (within their deadline) for a service that is down or restarting, instead of failing.
        self.wait_for_ready = wait_for_ready
        self.channel = open_channel(target, max_message_bytes, max_attempts, credentials, options)
        self._metadata = ((AUTH_HEADER, f"Bearer {token}"),) if token else ()

    async def unary(self, method, request, timeout_s: float | None = None, wait_for_ready: bool | None = None):
        wait = self.wait_for_ready if wait_for_ready is None else wait_for_ready
        try:
            return await method(request, timeout=timeout_s or self.timeout_s, metadata=self._metadata,
                                wait_for_ready=wait)
        except grpc.aio.AioRpcError as err:
            raise from_rpc_error(err) from None

    async def stream(self, method, request, timeout_s: float | None = None) -> AsyncIterator:
        call = method(request, timeout=timeout_s or self.timeout_s, metadata=self._metadata,
                      wait_for_ready=self.wait_for_ready)
        try:
            async for item in call:
                yield item
        except grpc.aio.AioRpcError as err:
            raise from_rpc_error(err) from None

    async def health(self, service: str = "", timeout_s: float = 5.0) -> str:
        """The health status name of ``service`` ("SERVING", "NOT_SERVING", ...)."""
        stub = health_pb2_grpc.HealthStub(self.channel)
        # A probe answers at once: it never waits for a service that is down.
        reply = await self.unary(stub.Check, health_pb2.HealthCheckRequest(service=service), timeout_s, False)
        return health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)

    async def wait_ready(self, timeout_s: float = 300.0, service: str = "") -> None:
        """Wait until health says SERVING; raises DeadlineExceeded after ``timeout_s``."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while True:
            try:
                if await self.health(service) == "SERVING":
                    return
            except (Unavailable, DeadlineExceeded):
                pass
            if loop.time() > deadline:
                raise DeadlineExceeded(f"{self.target} not SERVING after {timeout_s:.0f}s")
            await asyncio.sleep(0.2)

    async def close(self) -> None:
        await self.channel.close()

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc):
        await self.close()
