"""One gRPC server bootstrap for every attune service.

It adds the standard ``grpc.health.v1`` service (NOT_SERVING until the service
says it is ready), server reflection, a message-size limit, an optional
shared-token auth check, an optional rate limit per client, TLS (tls.py),
metrics and error mapping for every RPC, and graceful shutdown on SIGTERM /
SIGINT.
"""

from __future__ import annotations

import asyncio
import math
import signal
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable

import grpc
from google.protobuf.message import DecodeError
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from attune.services.common import metrics
from attune.services.common.errors import AttuneError, InvalidArgument, ResourceExhausted
from attune.services.common.logging import get_logger
from attune.services.common.settings import ServiceSettings

log = get_logger(__name__)

HEALTH_PREFIX = "/grpc.health.v1.Health/"
# Error details travel in a header (gRPC allows 16 KiB of them) and are percent-encoded there: every byte
# outside printable ASCII, and '%', takes three. A message quoting an oversize input is cut to this many
# encoded bytes, or the caller would get RESOURCE_EXHAUSTED "Stream removed" instead of the real status.
MAX_DETAILS_BYTES = 6000
AUTH_HEADER = "authorization"


def _deny(code: grpc.StatusCode, message: str) -> grpc.RpcMethodHandler:
    async def abort(request, context):
        await context.abort(code, message)

    return grpc.unary_unary_rpc_method_handler(abort)


class AuthInterceptor(grpc.aio.ServerInterceptor):
    """Rejects calls without ``authorization: Bearer <token>``; health checks stay open for probes."""

    def __init__(self, token: str):
        self._expected = f"Bearer {token}"

    async def intercept_service(self, continuation, details):
        if details.method.startswith(HEALTH_PREFIX):
            return await continuation(details)
        sent = dict(details.invocation_metadata or ()).get(AUTH_HEADER)
        if sent != self._expected:
            return _deny(grpc.StatusCode.UNAUTHENTICATED, "missing or wrong auth token")
        return await continuation(details)


class RateLimiter:
    """A token bucket per client address: ``rate`` calls a second, ``burst`` at once; the least recently seen
    clients are forgotten beyond ``max_clients``."""

    def __init__(self, rate: float, burst: int = 0, clock: Callable[[], float] = time.monotonic,
                 max_clients: int = 10_000):
        self.rate, self.burst = rate, burst or max(1, math.ceil(rate))
        self.clock, self.max_clients = clock, max_clients
        self.buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def admit(self, client: str) -> bool:
        now = self.clock()
        tokens, last = self.buckets.pop(client, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - last) * self.rate)
        admitted = tokens >= 1.0
        self.buckets[client] = (tokens - admitted, now)
        if len(self.buckets) > self.max_clients:
            self.buckets.popitem(last=False)
        return admitted


def client_address(peer: str) -> str:
    """The address part of a gRPC peer ("ipv4:10.0.0.7:51234" -> "ipv4:10.0.0.7"): one client, any port."""
    head, _, port = peer.rpartition(":")
    return head if head and port.isdigit() else peer


class ObservingInterceptor(grpc.aio.ServerInterceptor):
    """Counts and times every RPC, applies the rate limit, and maps AttuneError to its status code.

    An unexpected exception is logged with its traceback and reaches the caller
    as INTERNAL with no stack trace.
    """

    def __init__(self, service: str, limiter: RateLimiter | None = None):
        self.service = service
        self.limiter = limiter

    async def intercept_service(self, continuation, details):
        handler = await continuation(details)
        if handler is None or details.method.startswith(HEALTH_PREFIX):
            return handler
        rpc = details.method.rsplit("/", 1)[-1]
        # The request is parsed inside the wrapper, so bytes that are no valid message are INVALID_ARGUMENT
        # (grpc itself would answer UNKNOWN before any of this code ran).
        parse = handler.request_deserializer
        if handler.unary_unary:
            return handler._replace(unary_unary=self._wrap_unary(rpc, handler.unary_unary, parse),
                                    request_deserializer=None)
        if handler.unary_stream:
            return handler._replace(unary_stream=self._wrap_stream(rpc, handler.unary_stream, parse),
                                    request_deserializer=None)
        return handler

    def _wrap_unary(self, rpc: str, behaviour, parse):
        async def admitted(raw, context):
            self._admit(context)
            return await behaviour(_parsed(raw, parse), context)

        async def wrapped(request, context):
            with self._observe(rpc, context) as watch:
                return await watch.run(admitted(request, context))

        return wrapped

    def _wrap_stream(self, rpc: str, behaviour, parse):
        async def admitted(raw, context):
            self._admit(context)
            async for item in behaviour(_parsed(raw, parse), context):
                yield item

        async def wrapped(request, context):
            with self._observe(rpc, context) as watch:
                async for item in watch.iterate(admitted(request, context)):
                    yield item

        return wrapped

    def _admit(self, context) -> None:
        if self.limiter is not None and not self.limiter.admit(client_address(context.peer())):
            raise ResourceExhausted(f"rate limit of {self.service}: {self.limiter.rate:g} calls/s per client "
                                    f"(burst {self.limiter.burst}); slow down and retry")

    def _observe(self, rpc: str, context) -> _Watch:
        return _Watch(self.service, rpc, context)


def _encoded_size(char: str) -> int:
    """Bytes ``char`` takes in a gRPC status message header (percent-encoding)."""
    return 1 if " " <= char <= "~" and char != "%" else 3 * len(char.encode("utf-8", "surrogatepass"))


def _short(text: str) -> str:
    size = 0
    for index, char in enumerate(text):
        size += _encoded_size(char)
        if size > MAX_DETAILS_BYTES:
            return f"{text[:index]}... ({len(text) - index} more characters cut)"
    return text


def _parsed(raw: bytes, parse):
    """The request message from its bytes; bytes that are no message of its type are INVALID_ARGUMENT."""
    if parse is None:
        return raw
    try:
        return parse(raw)
    except DecodeError as err:
        raise InvalidArgument("request", f"is not a valid message of its type ({err})") from None


class _Watch:
    """Context manager around one RPC: metrics, error mapping, logging."""

    def __init__(self, service: str, rpc: str, context):
        self.service, self.rpc, self.context = service, rpc, context
        self.code = grpc.StatusCode.OK

    def __enter__(self):
        self.start = time.perf_counter()
        metrics.INFLIGHT.labels(self.service).inc()
        return self

    def __exit__(self, *exc):
        metrics.INFLIGHT.labels(self.service).dec()
        metrics.LATENCY.labels(self.service, self.rpc).observe(time.perf_counter() - self.start)
        metrics.REQUESTS.labels(self.service, self.rpc, self.code.name).inc()
        return False

    async def run(self, awaitable):
        try:
            return await awaitable
        except asyncio.CancelledError:
            self.code = grpc.StatusCode.CANCELLED
            raise
        except Exception as err:  # noqa: BLE001 - every failure becomes a status
            await self._abort(err)

    async def iterate(self, stream):
        try:
            async for item in stream:
                yield item
        except asyncio.CancelledError:
            self.code = grpc.StatusCode.CANCELLED
            raise
        except Exception as err:  # noqa: BLE001
            await self._abort(err)

    async def _abort(self, err: Exception):
        if isinstance(err, grpc.aio.AbortError):
            self.code = self.context.code() or grpc.StatusCode.UNKNOWN
            raise err
        if isinstance(err, AttuneError):
            self.code = err.code
            details = _short(str(err))
            log.info("rpc_error", rpc=self.rpc, code=err.code.name, error=details)
            await self.context.abort(err.code, details)
        self.code = grpc.StatusCode.INTERNAL
        log.exception("rpc_failed", rpc=self.rpc)
        await self.context.abort(grpc.StatusCode.INTERNAL, f"internal error in {self.rpc} (see server log)")


class ServiceServer:
    """A grpc.aio server with health, reflection, auth, metrics and graceful stop.

    ``register`` adds the service's servicers; ``service_names`` are their full
    names, for health and reflection. Health reports NOT_SERVING until
    ``set_ready(True)``.
    """

    def __init__(self, name: str, settings: ServiceSettings, register: Callable[[grpc.aio.Server], None],
                 service_names: Iterable[str], auth_token: str = "",
                 tls: grpc.ServerCredentials | None = None):
        self.name = name
        self.settings = settings
        self.service_names = list(service_names)
        self.tls = tls is not None
        rate, burst = settings.rate_limit_per_s, settings.rate_limit_burst
        limiter = RateLimiter(rate, burst) if rate else None
        interceptors = [ObservingInterceptor(name, limiter)]
        if auth_token:
            interceptors.insert(0, AuthInterceptor(auth_token))
        options = [
            ("grpc.max_receive_message_length", settings.max_message_bytes),
            ("grpc.max_send_message_length", settings.max_message_bytes),
            ("grpc.so_reuseport", 0),
        ]
        if settings.max_connection_age_s:
            # No age grace limit: calls in flight on an old connection run to their end.
            options.append(("grpc.max_connection_age_ms", int(settings.max_connection_age_s * 1000)))
        self.server = grpc.aio.server(interceptors=interceptors, options=options)
        register(self.server)
        self.health = health.aio.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.server)
        reflection.enable_server_reflection(
            [*self.service_names, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
             reflection.SERVICE_NAME], self.server)
        address = f"{settings.host}:{settings.port}"
        self.port = self.server.add_secure_port(address, tls) if tls else self.server.add_insecure_port(address)
        if self.port == 0:
            raise OSError(f"cannot bind {settings.host}:{settings.port}")
        self.metrics_port: int | None = None

    @property
    def address(self) -> str:
        return f"{self.settings.host}:{self.port}"

    async def start(self) -> None:
        await self.set_ready(False)
        await self.server.start()
        if self.settings.metrics_port:
            self.metrics_port = metrics.serve_metrics(self.settings.metrics_port, self.settings.host)
        log.info("server_started", address=self.address, metrics_port=self.metrics_port, tls=self.tls)

    async def set_ready(self, ready: bool) -> None:
        status = health_pb2.HealthCheckResponse.SERVING if ready else health_pb2.HealthCheckResponse.NOT_SERVING
        for service in ["", *self.service_names]:
            await self.health.set(service, status)
        metrics.READY.labels(self.name).set(1 if ready else 0)

    async def stop(self) -> None:
        """Graceful stop: refuse new calls, let running ones finish within the grace period."""
        await self.health.enter_graceful_shutdown()
        await self.server.stop(self.settings.grace_seconds)
        log.info("server_stopped", address=self.address)

    async def serve_until_signal(self) -> None:
        """Block until SIGTERM or SIGINT, then stop gracefully."""
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        waiter = asyncio.create_task(self.server.wait_for_termination())
        stopper = asyncio.create_task(stop.wait())
        await asyncio.wait({waiter, stopper}, return_when=asyncio.FIRST_COMPLETED)
        if stop.is_set():
            await self.stop()
        waiter.cancel()
        stopper.cancel()
