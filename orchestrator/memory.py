"""Open the services an assistant or a benchmark run needs: in process, or as gRPC clients.

Both give one ``Services`` object with the same interfaces, so PersonalizedLLM,
the methods and the runner never know which they got. ``needs`` names the
services to open besides the model; the others stay absent. Both openers work
from the service registry (services/common/registry.py): a registered service
is opened here with no other edit.
"""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

from attune.services.common import registry
from attune.services.common.launch import BuildContext, build_core, open_client
from attune.services.common.settings import CommonSettings, load

MEMORY_SERVICES = ("extractor", "retrieval", "uservec")


class Services:
    """The opened services by name (``services.model``, ``services.retrieval``...); absent ones are None."""

    def __init__(self, model: Any = None, **others: Any):
        self.opened: dict[str, Any] = {"model": model, **others}
        self.stack = AsyncExitStack()

    def __getattr__(self, name: str) -> Any:
        if name in ("opened", "stack"):
            raise AttributeError(name)
        return self.opened.get(name)

    def __setattr__(self, name: str, value: Any) -> None:
        if name in ("opened", "stack"):
            object.__setattr__(self, name, value)
        else:
            self.opened[name] = value

    async def close(self) -> None:
        await self.stack.aclose()


def with_peers(needs: tuple[str, ...]) -> list[str]:
    """``needs`` plus the model and every required peer, in start order."""
    wanted = {"model", *needs}
    for desc in reversed(registry.services()):
        if desc.name in wanted:
            wanted.update(desc.peers)
    return [d.name for d in registry.services() if d.name in wanted]


async def open_clients(common: CommonSettings, wait_s: float = 60,
                       needs: tuple[str, ...] = MEMORY_SERVICES) -> Services:
    """Clients of the running services (``attune up``, compose, a cluster), once each says SERVING."""
    services = Services()
    try:
        for name in with_peers(needs):
            client = open_client(name, common)
            services.stack.push_async_callback(client.close)
            setattr(services, name, client)
        await asyncio.gather(*[c.wait_ready(timeout_s=wait_s) for c in services.opened.values()])
    except BaseException:
        await services.close()
        raise
    return services


async def open_in_process(common: CommonSettings, model=None, needs: tuple[str, ...] = MEMORY_SERVICES,
                          state_dir: Path | None = None) -> Services:
    """The cores in this process, built by the registry's factories; stores under ``state_dir``
    (default: the data directory). The model is loaded unless given."""
    state_dir = state_dir or common.data_dir
    services = Services(model)
    try:
        for name in with_peers(needs):
            if services.opened.get(name) is None:
                setattr(services, name, await _open_core(name, services, common, state_dir))
    except BaseException:
        await services.close()
        raise
    return services


async def _open_core(name: str, services: Services, common: CommonSettings, state_dir: Path):
    desc = registry.get(name)
    # In process every core also sees the model core (the trainer publishes where it reads adapters).
    peers = {p: services.opened[p] for p in ("model", *desc.peers, *desc.optional_peers)
             if services.opened.get(p) is not None}
    core = await build_core(desc, BuildContext(load(desc.settings_class()), common, state_dir, peers))
    services.stack.push_async_callback(core.close)
    await core.start()
    return core
