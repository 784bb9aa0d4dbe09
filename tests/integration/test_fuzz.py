"""Fuzzing every RPC of every service: hypothesis-built requests to the real servers on 127.0.0.1.

The short version of bench/bench_fuzz.py (docs/reliability.md): PER_SERVICE requests per service, built
from the protobuf descriptors (tests/fixtures/fuzz_requests.py), the same ones on every run. The bar: no INTERNAL
and no UNKNOWN, and each server still says SERVING and answers a valid request afterwards.
"""

from __future__ import annotations

import pytest

from attune.orchestrator.service.core import OrchestratorService
from attune.orchestrator.service.settings import OrchestratorSettings
from attune.services.common import registry
from attune.services.common.errors import InvalidArgument
from attune.services.model.client import ModelClient, chat_request
from attune.services.model.weights import ensure_converted
from attune.v1 import model_pb2, orchestrator_pb2, trainer_pb2
from tests.fixtures import fuzz, fuzz_valid

# Requests per service, split evenly over its RPCs (a few dozen each); fewer where most valid requests run
# the model (about 2 s each for the extractor on two cores).
PER_SERVICE = 120
FEWER = {"extractor": 48, "judge": 60}
SERVICES = ["model", "extractor", "retrieval", "uservec", "judge", "trainer", "orchestrator"]


@pytest.fixture(scope="module")
async def fleet(model_core, embedder, data_dir, tmp_path_factory):
    fleet = await fuzz.serve_all(model_core, embedder, data_dir, ensure_converted(data_dir),
                                 tmp_path_factory.mktemp("fuzz"))
    yield fleet
    await fleet.close()


def test_every_registered_service_and_rpc_is_fuzzed(fleet):
    assert sorted(SERVICES) == sorted(d.name for d in registry.services())
    for name, target in fleet.targets.items():
        assert set(target.valid) == {fuzz.name_of(rpc) for rpc in target.rpcs}, f"{name}: a valid request for every RPC"


@pytest.mark.parametrize("service", SERVICES)
async def test_fuzzed_requests_get_no_internal_error_and_the_server_stays_up(fleet, service):
    target = fleet.targets[service]
    count = FEWER.get(service, PER_SERVICE)
    requests = target.requests(count)
    outcome = await fuzz.run(target, requests)
    print(f"\n{service}: {outcome.sent} requests, {dict(outcome.codes)}, {outcome.details}")
    assert outcome.sent == len(requests) >= count
    assert not outcome.failures, "\n".join(outcome.failures)
    # Not vacuous: some requests got through, some were refused for their input, some for their token.
    assert outcome.codes["OK"] > 0 and outcome.codes["INVALID_ARGUMENT"] > 0 and outcome.codes["UNAUTHENTICATED"] > 0
    assert await fuzz.still_serving(target) == ("SERVING", "OK")


async def test_malformed_request_bytes_are_refused_as_invalid_argument(fleet):
    failures, refused = [], 0
    for target in fleet.targets.values():
        outcome = await fuzz.run(target, target.requests(4 * len(target.rpcs), bad=True))
        failures += outcome.failures
        refused += outcome.codes["INVALID_ARGUMENT"]
    assert not failures, "\n".join(failures)
    assert refused, "some were refused as no valid message"


async def test_the_fuzz_model_refuses_more_tokens_than_its_limit(fleet):
    """The fuzz stays cheap because the model service caps what one request may ask for."""
    async with ModelClient(fleet.targets["model"].address, token=fuzz.TOKEN) as client:
        with pytest.raises(InvalidArgument, match="sampling.max_tokens: 17 is out of range 1..16"):
            await client.chat(chat_request([("user", "Hi")], max_tokens=17))
        reply = await client.chat(chat_request([("user", "Hi")], max_tokens=16))
        assert 0 < reply.usage.completion_tokens <= 16
        info = await client.get_info()
        assert info.max_context == fuzz.MODEL_LIMITS["max_context"]


@pytest.mark.parametrize("unit", ["x", "😀"])
async def test_an_error_quoting_a_huge_input_keeps_its_status(fleet, unit):
    huge = unit * 20_000
    cases = [("model", "Chat", model_pb2.ChatRequest(messages=fuzz_valid.MESSAGES, adapter=huge), "NOT_FOUND"),
             ("trainer", "SubmitJob", trainer_pb2.TrainJobSpec(kind="lora", adapter_name="a", max_steps=1,
                                                               data_path=huge), "INVALID_ARGUMENT")]
    got = []
    for service, rpc_name, request, _ in cases:
        target = fleet.targets[service]
        rpc = next(r for r in target.rpcs if fuzz.name_of(r) == rpc_name)
        async with fuzz.channel(target.address) as channel:
            code, _, _ = await fuzz.call(channel, rpc, fuzz.Request(rpc_name, request.SerializeToString()), 60)
        got.append(code.name)
    assert got == [expected for *_, expected in cases]


async def test_a_run_cancelled_as_soon_as_it_started_ends_cancelled(fleet, data_dir, tmp_path):
    fuzzed = fleet.targets["orchestrator"].core
    core = OrchestratorService(OrchestratorSettings(runs_dir=tmp_path), fuzzed.common, model=fuzzed.model)
    await core.start()
    try:
        await core.start_run(fleet.targets["orchestrator"].valid["StartRun"])
        run = await core.cancel_run(orchestrator_pb2.GetRunRequest(run_id="fuzz-run"))
        assert run.state == "cancelled"
    finally:
        await core.close()


async def test_stop_strings_are_bounded(fleet):
    """Found by the long fuzz: transformers prepares each new stop string against the whole vocabulary on the
    generate thread (about 12 ms a character here), so one request with a long one held every caller."""
    async with ModelClient(fleet.targets["model"].address, token=fuzz.TOKEN) as client:
        for stop in (["x" * 33], ["a", "b", "c", "d", "e"]):
            request = chat_request([("user", "Hi")], max_tokens=2)
            request.sampling.stop.extend(stop)
            with pytest.raises(InvalidArgument, match="sampling.stop"):
                await client.chat(request)
        request = chat_request([("user", "Hi")], max_tokens=2)
        request.sampling.stop.extend(["\n", "\n\n", ".", "x" * 32])
        assert (await client.chat(request)).usage.completion_tokens > 0


async def test_a_temperature_near_zero_is_refused_not_an_internal_error(fleet):
    """Found by the long fuzz: a temperature of 1.4e-45 made the logits inf and sampling failed with INTERNAL,
    for every request in its batch."""
    async with ModelClient(fleet.targets["model"].address, token=fuzz.TOKEN) as client:
        request = model_pb2.GenerateRequest(prompt="Once upon a time",
                                            sampling={"max_tokens": 2, "temperature": 1.4e-45})
        with pytest.raises(InvalidArgument, match="sampling.temperature"):
            await client.generate(request)
        request.sampling.temperature = 0.001  # a float32 at or just above the bound
        assert (await client.generate(request)).usage.completion_tokens > 0
