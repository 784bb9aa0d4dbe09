"""structlog JSON logs with run/user/session ids bound per request."""

from __future__ import annotations

import logging
import sys
from contextlib import contextmanager

import structlog


def setup_logging(service: str, level: str = "info", json: bool = True) -> None:
    """Configure structlog for one process; every line carries ``service``."""
    logging.basicConfig(stream=sys.stderr, level=level.upper(), format="%(message)s")
    renderer = structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer()
    def add_service(logger, method, event):
        event.setdefault("service", service)
        return event

    structlog.configure(
        processors=[
            add_service,
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        # sys.stderr as it is at each call, not at configuration: a stream swapped out since (a test's capture,
        # closed after it) must not receive later lines.
        logger_factory=lambda *args: structlog.PrintLogger(sys.stderr),
        cache_logger_on_first_use=False,
    )


def get_logger(name: str | None = None):
    return structlog.get_logger(name)


@contextmanager
def request_context(context) -> None:
    """Bind the ids of an attune.v1.RequestContext to every log line inside the block."""
    ids = {k: getattr(context, k) for k in ("run_id", "user_id", "session_id", "caller_role", "method")
           if context is not None and getattr(context, k, "")}
    with structlog.contextvars.bound_contextvars(**ids):
        yield
