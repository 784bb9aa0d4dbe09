"""Transport security and limits of every service's server, on the real uservec service (the cheapest core;
the server code is shared by all): TLS and mutual TLS with a CA made in the test, the rate limit per client,
the request size limit, and TLS settings that do not fit together."""

from __future__ import annotations

import asyncio

import pytest

from attune.services.common import tls
from attune.services.common.errors import ResourceExhausted, Unavailable
from attune.services.common.healthcheck import check
from attune.services.common.settings import CommonSettings, SettingsError, load
from attune.services.uservec.client import UserVectorClient
from attune.v1 import uservec_pb2
from tests.fixtures.tls import make_pki
from tests.fixtures.uservec import start_uservec_server

TOKEN = "security-token"
REQUEST = uservec_pb2.GetVectorsRequest(user_id="alice")


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return make_pki(tmp_path_factory.mktemp("pki"))


def client(server, *, common: CommonSettings | None = None, token: str = TOKEN) -> UserVectorClient:
    common = common or CommonSettings()
    return UserVectorClient(server.address, token=token, timeout_s=10, max_attempts=1,
                            credentials=tls.channel_credentials(common), options=tls.channel_options(common))


async def answers(server, **kwargs) -> bool:
    async with client(server, **kwargs) as c:
        try:
            await c.get_vectors(REQUEST)
        except Unavailable:
            return False
    return True


async def test_tls_server_talks_tls_only_to_clients_that_trust_its_ca(uservec_core, pki, tmp_path):
    served = CommonSettings(tls_cert=pki.server_cert, tls_key=pki.server_key)
    server = await start_uservec_server(uservec_core, token=TOKEN, credentials=tls.server_credentials(served))
    try:
        assert await answers(server, common=CommonSettings(tls_ca=pki.ca))
        assert not await answers(server), "a plaintext client gets no answer"
        stranger = make_pki(tmp_path / "other", "another CA")
        assert not await answers(server, common=CommonSettings(tls_ca=stranger.ca)), "a CA it does not trust"
        # The probe is synchronous: off the loop that serves.
        probe = await asyncio.to_thread(check, server.address, "", 5.0, CommonSettings(tls_ca=pki.ca))
        assert probe == (True, "SERVING")
        assert not (await asyncio.to_thread(check, server.address))[0], "the health probe speaks TLS too"
    finally:
        await server.stop()


async def test_mutual_tls_wants_a_client_certificate_from_the_ca(uservec_core, pki):
    served = CommonSettings(tls_cert=pki.server_cert, tls_key=pki.server_key, tls_ca=pki.ca, tls_client_auth=True)
    server = await start_uservec_server(uservec_core, token=TOKEN, credentials=tls.server_credentials(served))
    try:
        assert not await answers(server, common=CommonSettings(tls_ca=pki.ca)), "no client certificate"
        with_cert = CommonSettings(tls_ca=pki.ca, tls_cert=pki.client_cert, tls_key=pki.client_key)
        assert await answers(server, common=with_cert)
    finally:
        await server.stop()


async def test_the_rate_limit_is_per_client_and_spares_health(uservec_core):
    # One call per 1000 s after a burst of 3: the 4th call is refused however slow the machine is.
    server = await start_uservec_server(uservec_core, token=TOKEN, rate_limit_per_s=0.001, rate_limit_burst=3)
    try:
        async with client(server) as c:
            for _ in range(3):
                await c.get_vectors(REQUEST)
            with pytest.raises(ResourceExhausted, match="rate limit of uservec"):
                await c.get_vectors(REQUEST)
            assert [await c.health() for _ in range(5)] == ["SERVING"] * 5
    finally:
        await server.stop()


async def test_a_request_over_the_size_limit_is_refused(uservec_core):
    server = await start_uservec_server(uservec_core, token=TOKEN, max_message_bytes=4096)
    try:
        async with client(server) as c:
            await c.get_vectors(REQUEST)
            with pytest.raises(ResourceExhausted):
                await c.get_vectors(uservec_pb2.GetVectorsRequest(user_id="a" * 8192))
    finally:
        await server.stop()


@pytest.mark.parametrize(("env", "message"), [
    ({"ATTUNE_TLS_CERT": "/x.crt"}, "tls_cert and tls_key go together"),
    ({"ATTUNE_TLS_CLIENT_AUTH": "true"}, "tls_client_auth needs tls_ca"),
])
def test_tls_settings_that_do_not_fit_are_refused_at_start(monkeypatch, env, message):
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(SettingsError, match=message):
        load(CommonSettings)


def test_an_unreadable_certificate_is_named(tmp_path):
    settings = CommonSettings(tls_cert=tmp_path / "missing.crt", tls_key=tmp_path / "missing.key")
    with pytest.raises(SettingsError, match="ATTUNE_TLS_CERT=.*missing.crt"):
        tls.server_credentials(settings)


async def test_bytes_that_are_no_message_are_invalid_argument(uservec_core):
    """Garbage on the wire is INVALID_ARGUMENT, not grpc's UNKNOWN."""
    import grpc

    from attune.services.common.server import AUTH_HEADER

    server = await start_uservec_server(uservec_core, token=TOKEN)
    metadata = ((AUTH_HEADER, f"Bearer {TOKEN}"),)
    try:
        async with grpc.aio.insecure_channel(server.address) as channel:
            call = channel.unary_unary("/attune.v1.UserVectorService/GetVectors")
            garbage = b"\x0a\x05\xff\xfe\xfd\xfc\xfb"  # field 1, a string holding invalid UTF-8
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await call(garbage, timeout=10, metadata=metadata)
            assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT, caught.value.details()
            assert "not a valid message" in caught.value.details()
    finally:
        await server.stop()


def test_error_details_are_cut_below_the_header_limit():
    """An error quoting a huge input keeps its status: gRPC carries details in a 16 KiB header."""
    from attune.services.common.server import MAX_DETAILS_BYTES, _short

    assert _short("short") == "short"
    cut = _short("x" * 100_000)
    assert len(cut) < MAX_DETAILS_BYTES + 60 and cut.endswith(f"({100_000 - MAX_DETAILS_BYTES} more characters cut)")
    # Past ASCII every UTF-8 byte is sent as three ('%F0'): a four-byte character costs twelve.
    cut = _short("\U0001F600" * 20_000)
    assert cut.count("\U0001F600") == MAX_DETAILS_BYTES // 12 and cut.endswith("more characters cut)")
