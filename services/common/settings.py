"""Typed settings from ATTUNE_* environment variables.

Each service declares a ``ServiceSettings`` subclass with its own prefix
(``ATTUNE_MODEL_`` ...). ``load`` builds it and turns a validation failure into
one readable line that names the environment variable.
"""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

from pydantic import Field, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class SettingsError(ValueError):
    """A bad ATTUNE_* value; the message names the variable."""


class CommonSettings(BaseSettings):
    """Settings every process reads (prefix ATTUNE_)."""

    model_config = SettingsConfigDict(env_prefix="ATTUNE_", extra="ignore")

    data_dir: Path = Field(Path(".attune"), description="Converted models, stores, logs, run state.")
    auth_token: str = Field("", description="Shared token; when set every RPC must carry it.")
    log_level: str = Field("info", pattern="^(debug|info|warning|error)$")
    log_json: bool = True
    # Deadline of one call from a client of a service. A model call waits for its batch: on a small CPU
    # with eight sessions at once that took more than two minutes.
    client_timeout_s: float = Field(600.0, gt=0)
    # A call to a service that is down or restarting waits for it within its deadline (gRPC's wait_for_ready),
    # so a service restarted mid-run costs time, not sessions; false: such a call fails after its retries.
    client_wait_for_ready: bool = True
    # TLS (services/common/tls.py): PEM files. A certificate and key make servers serve TLS only; a CA makes
    # clients speak TLS and trust it; tls_client_auth makes servers require client certificates (mutual TLS).
    tls_cert: Path | None = None
    tls_key: Path | None = None
    tls_ca: Path | None = None
    tls_client_auth: bool = False
    # The name checked in a server's certificate when the target does not carry it (an IP address).
    tls_server_name: str = ""

    @model_validator(mode="after")
    def _tls_pairs(self):
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("tls_cert and tls_key go together: set both or neither")
        if self.tls_client_auth and (self.tls_ca is None or self.tls_cert is None):
            raise ValueError("tls_client_auth needs tls_ca (to verify clients) and tls_cert/tls_key (to serve TLS)")
        return self


class ServiceSettings(BaseSettings):
    """Network settings of one gRPC service; subclasses set the env prefix."""

    model_config = SettingsConfigDict(env_prefix="ATTUNE_SERVICE_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = Field(50051, ge=0, le=65535)
    metrics_port: int = Field(0, ge=0, le=65535, description="0 disables the /metrics endpoint.")
    max_message_bytes: int = Field(4 * 1024 * 1024, ge=1024)
    grace_seconds: float = Field(5.0, ge=0)
    # Connections are recycled after this long so clients re-resolve a headless
    # Service's DNS and reach pods added by scaling up; 0 keeps them forever.
    max_connection_age_s: float = Field(300.0, ge=0)
    # Calls per second one client (its address) may make, and how many it may make at once before the rate
    # applies (0: one second's worth); beyond them RESOURCE_EXHAUSTED. 0 calls/s: no limit. Health is never limited.
    rate_limit_per_s: float = Field(0.0, ge=0)
    rate_limit_burst: int = Field(0, ge=0)


S = TypeVar("S", bound=BaseSettings)


def load(cls: type[S], **overrides) -> S:
    """Build settings from the environment (and overrides), naming the bad variable on failure."""
    try:
        return cls(**overrides)
    except ValidationError as err:
        prefix = cls.model_config.get("env_prefix", "")
        problems = []
        for e in err.errors():
            name = "_".join(str(p) for p in e["loc"]).upper()
            problems.append(f"{prefix}{name}={e.get('input')!r}: {e['msg']}")
        raise SettingsError("invalid settings: " + "; ".join(problems)) from None
