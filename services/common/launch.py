"""Build and run any registered service: one ``serve`` for all of them.

``python -m attune.services NAME`` (or ``python -m attune.services.NAME``) reads
the service's settings, opens clients of its peers, builds its core through the
registry's factory and serves it with health, reflection, auth, metrics and
graceful shutdown (services/common/server.py). The in-process opener
(attune.orchestrator.memory) builds cores through the same factories.

A core is built cheaply and then ``start``ed. With ``start="before_port"`` the
core starts before the port opens, so a bad store stops the process at once; with
``"after_port"`` the port opens first and health says NOT_SERVING until the
required peers answer and the core has started (a model still loading).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from attune.services.common import registry, tls
from attune.services.common.errors import AttuneError
from attune.services.common.logging import get_logger, setup_logging
from attune.services.common.server import ServiceServer
from attune.services.common.settings import CommonSettings, SettingsError, load

log = get_logger(__name__)

# How long an after_port service waits for its required peers to say SERVING.
PEER_WAIT_S = 600.0


@dataclass
class BuildContext:
    """What a service's ``build`` factory gets."""

    settings: Any
    common: CommonSettings
    # Where the core keeps its state: the data directory, or a run's own folder in process.
    state_dir: Path
    # Peers by name (cores in process, clients over gRPC); an optional peer that is off is absent.
    peers: dict[str, Any] = field(default_factory=dict)


def open_client(name: str, common: CommonSettings, target: str | None = None, **kwargs):
    """A gRPC client of service ``name`` at ``target`` (default: ATTUNE_<NAME>_TARGET), with the token and TLS
    of ``common``."""
    desc = registry.get(name)
    kwargs.setdefault("timeout_s", common.client_timeout_s)
    kwargs.setdefault("credentials", tls.channel_credentials(common))
    kwargs.setdefault("options", tls.channel_options(common))
    kwargs.setdefault("wait_for_ready", common.client_wait_for_ready)
    return desc.client_class()(target or registry.target(name), token=common.auth_token, **kwargs)


def peer_clients(desc: registry.ServiceDescription, common: CommonSettings) -> dict[str, Any]:
    """Clients of the peers a service calls; an optional peer with an empty target is left out."""
    clients = {}
    for name in (*desc.peers, *desc.optional_peers):
        target = registry.target(name)
        if target or name in desc.peers:
            clients[name] = open_client(name, common, target)
    return clients


async def build_core(desc: registry.ServiceDescription, context: BuildContext):
    return await registry.resolve(desc.build)(context)


def server_for(name: str, core, settings=None, token: str = "", credentials=None) -> ServiceServer:
    """A ServiceServer (not yet started) serving ``core`` as the registered service ``name``; TLS with
    ``credentials`` (tls.server_credentials)."""
    desc = registry.get(name)
    settings = settings if settings is not None else desc.settings_class()(port=0)
    return ServiceServer(name, settings, registry.resolve(desc.register)(core), [desc.health_name], token,
                         credentials)


async def serve_core(name: str, core, *, token: str = "", ready: bool = True, credentials=None,
                     **settings) -> ServiceServer:
    """Serve an already built core on a free loopback port, or the ``port`` given (tests, benchmarks); returns
    the started server."""
    server = server_for(name, core, registry.get(name).settings_class()(**{"port": 0, **settings}), token,
                        credentials)
    await server.start()
    await server.set_ready(ready)
    return server


async def serve(name: str, settings=None, common: CommonSettings | None = None) -> None:
    """Serve one service until SIGTERM or SIGINT."""
    desc = registry.get(name)
    common = common or load(CommonSettings)
    settings = settings or load(desc.settings_class())
    peers = peer_clients(desc, common)
    core = None
    try:
        core = await build_core(desc, BuildContext(settings, common, common.data_dir, peers))
        if desc.start == "before_port":
            await core.start()
        server = server_for(name, core, settings, common.auth_token, tls.server_credentials(common))
        await server.start()
        warm = asyncio.create_task(_warm_up(desc, core, server, peers))
        try:
            await server.serve_until_signal()
        finally:
            warm.cancel()
    finally:
        if core is not None:
            await core.close()
        for client in peers.values():
            await client.close()


async def _warm_up(desc: registry.ServiceDescription, core, server: ServiceServer, peers: dict) -> None:
    """Say SERVING once the required peers answer and the core has started."""
    try:
        await asyncio.gather(*(peers[p].wait_ready(timeout_s=PEER_WAIT_S) for p in desc.peers))
        if desc.start == "after_port":
            await core.start()
    except Exception:
        log.exception("service_start_failed", service=desc.name)
        await server.stop()
        raise
    await server.set_ready(True)
    log.info("service_ready", service=desc.name, address=server.address, health_name=desc.health_name)


def main(name: str | None = None, argv: list[str] | None = None) -> None:
    """Entry point: ``python -m attune.services [NAME]`` (NAME defaults to $ATTUNE_SERVICE)."""
    parser = argparse.ArgumentParser(prog="python -m attune.services", description="Run one attune service.")
    if name is None:
        parser.add_argument("name", nargs="?", default=os.environ.get("ATTUNE_SERVICE"),
                            help="service name (default: $ATTUNE_SERVICE)")
    parser.add_argument("--listen-all", action="store_true",
                        help="containers: listen on 0.0.0.0 and serve /metrics on the registered port, "
                             "unless ATTUNE_<NAME>_HOST / _METRICS_PORT say otherwise")
    args = parser.parse_args(argv)
    name = name or args.name
    try:
        if not name:
            raise SettingsError("name a service (python -m attune.services NAME) or set ATTUNE_SERVICE")
        desc = registry.get(name)
        common = load(CommonSettings)
        setup_logging(name, common.log_level, common.log_json)
        overrides = {}
        if args.listen_all:
            overrides = {"host": os.environ.get(f"{desc.env_prefix}HOST", "0.0.0.0"),
                         "metrics_port": int(os.environ.get(f"{desc.env_prefix}METRICS_PORT", desc.metrics_port))}
        asyncio.run(serve(name, load(desc.settings_class(), **overrides), common))
    except (SettingsError, AttuneError, OSError, registry.UnknownService, RuntimeError, ValueError) as err:
        log.error("service_start_failed", service=name, error=str(err))
        print(f"{name or 'attune'}: {err}", file=sys.stderr)
        sys.exit(2)
