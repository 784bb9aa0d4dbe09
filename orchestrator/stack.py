"""`make up` / `make down`: every service as a local process, no Docker needed.

Every service of the registry (services/common/registry.py) runs, peers first, as
``python -m attune.services <name>`` (the Python of this environment, or the one
``ATTUNE_<NAME>_PYTHON`` names) on its registered ports, with its log under
``<data_dir>/logs`` and its process id under ``<data_dir>/run``; ``up`` waits
until gRPC health says SERVING, ``down`` stops exactly the processes ``up``
started (by process id), gracefully first.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from attune.services.common import registry, tls
from attune.services.common.client import GrpcClient
from attune.services.common.errors import DeadlineExceeded
from attune.services.common.registry import ServiceDescription
from attune.services.common.settings import CommonSettings, SettingsError, load


@dataclass
class ServiceState:
    spec: ServiceDescription
    pid: int | None
    running: bool
    health: str
    log: Path


def from_environment(spec: ServiceDescription, environ: dict[str, str] | None = None) -> ServiceDescription:
    """The service on the ports ATTUNE_<NAME>_PORT and _METRICS_PORT say, where set (a machine whose
    registered ports are taken, two stacks side by side)."""
    environ = os.environ if environ is None else environ
    try:
        ports = {key: int(environ[f"{spec.env_prefix}{key.upper()}"])
                 for key in ("port", "metrics_port") if environ.get(f"{spec.env_prefix}{key.upper()}")}
    except ValueError as err:
        raise SettingsError(f"{spec.env_prefix}PORT / METRICS_PORT: not a number ({err})") from None
    return dataclasses.replace(spec, **ports)


class LocalStack:
    def __init__(self, data_dir: Path, services: list[ServiceDescription] | None = None):
        self.data_dir = data_dir
        self.services = [from_environment(s) for s in registry.services()] if services is None else services
        self.run_dir = data_dir / "run"
        self.log_dir = data_dir / "logs"

    def _pidfile(self, spec: ServiceDescription) -> Path:
        return self.run_dir / f"{spec.name}.pid"

    def _pid(self, spec: ServiceDescription) -> int | None:
        try:
            pid = int(self._pidfile(spec).read_text())
        except (FileNotFoundError, ValueError):
            return None
        return pid if _alive(pid) else None

    def _env(self, spec: ServiceDescription) -> dict[str, str]:
        env = dict(os.environ)
        env.setdefault("ATTUNE_DATA_DIR", str(self.data_dir))
        for peer in self.services:
            env.setdefault(peer.target_env, peer.default_target)
        env.setdefault(f"{spec.env_prefix}PORT", str(spec.port))
        env.setdefault(f"{spec.env_prefix}METRICS_PORT", str(spec.metrics_port))
        return env

    def start(self, spec: ServiceDescription) -> int:
        """Start one service unless it already runs; returns its process id."""
        pid = self._pid(spec)
        if pid is not None:
            return pid
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        env = self._env(spec)
        python = env.get(spec.python_env) or sys.executable
        if not os.access(python, os.X_OK):
            raise SettingsError(f"{spec.python_env}={python!r} is not an executable Python")
        with open(self.log_dir / f"{spec.name}.log", "ab") as log:
            proc = subprocess.Popen([python, "-m", "attune.services", spec.name], stdout=log,
                                    stderr=subprocess.STDOUT, env=env, start_new_session=True)
        tmp = self._pidfile(spec).with_suffix(".tmp")
        tmp.write_text(str(proc.pid))
        os.replace(tmp, self._pidfile(spec))
        return proc.pid

    async def up(self, timeout_s: float = 600) -> list[ServiceState]:
        """Start every service and wait until each is SERVING (or its process died)."""
        for spec in self.services:
            self.start(spec)
        for spec in self.services:
            await self._wait_serving(spec, timeout_s)
        return await self.status()

    async def _wait_serving(self, spec: ServiceDescription, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        async with _health_client(spec) as client:
            while True:
                if self._pid(spec) is None:
                    raise RuntimeError(f"{spec.name} exited during start; see {self.log_dir / spec.name}.log")
                try:
                    await client.wait_ready(timeout_s=min(2.0, max(deadline - time.monotonic(), 0.1)))
                    return
                except DeadlineExceeded:
                    if time.monotonic() > deadline:
                        raise DeadlineExceeded(f"{spec.name} not SERVING after {timeout_s:.0f}s") from None

    def down(self, timeout_s: float = 30) -> list[str]:
        """Stop what ``up`` started: SIGTERM, then SIGKILL after ``timeout_s``. Returns names stopped."""
        stopped = []
        for spec in reversed(self.services):
            pid = self._pid(spec)
            if pid is not None:
                _terminate(pid, timeout_s)
                stopped.append(spec.name)
            self._pidfile(spec).unlink(missing_ok=True)
        return stopped

    async def status(self) -> list[ServiceState]:
        states = []
        for spec in self.services:
            pid = self._pid(spec)
            health = "STOPPED"
            if pid is not None:
                async with _health_client(spec) as client:
                    try:
                        health = await client.health(timeout_s=2)
                    except Exception:  # noqa: BLE001 - any failure means not answering
                        health = "NOT_ANSWERING"
            states.append(ServiceState(spec, pid, pid is not None, health, self.log_dir / f"{spec.name}.log"))
        return states


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        waited, _ = os.waitpid(pid, os.WNOHANG)
        return waited == 0
    except ChildProcessError:
        return True


def _terminate(pid: int, timeout_s: float) -> None:
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    if _alive(pid):
        os.kill(pid, signal.SIGKILL)


def _health_client(spec: ServiceDescription) -> GrpcClient:
    """A client for health checks only, with the TLS the started services read from the same environment."""
    common = load(CommonSettings)
    return GrpcClient(spec.default_target, max_attempts=1, credentials=tls.channel_credentials(common),
                      options=tls.channel_options(common))
