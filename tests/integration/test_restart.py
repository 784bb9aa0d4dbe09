"""A service that restarts costs its callers time, not calls: a client opened from the settings waits (within
its deadline) for a server that is down and answers once it is back on its port; with waiting turned off the
call fails with UNAVAILABLE after its retries. The real uservec service, stopped and served again."""

from __future__ import annotations

import asyncio

import pytest

from attune.services.common.errors import Unavailable
from attune.services.common.launch import open_client
from attune.services.common.settings import CommonSettings
from attune.v1 import uservec_pb2
from tests.fixtures.uservec import start_uservec_server

TOKEN = "restart-token"


async def test_a_call_waits_for_a_restarting_service(uservec_core):
    server = await start_uservec_server(uservec_core, token=TOKEN)
    target, port = server.address, server.port
    waiting = open_client("uservec", CommonSettings(auth_token=TOKEN, client_timeout_s=60), target)
    hasty = open_client("uservec", CommonSettings(auth_token=TOKEN, client_wait_for_ready=False), target,
                        max_attempts=2)
    request = uservec_pb2.GetVectorsRequest(user_id="restart")
    try:
        await waiting.get_vectors(request)
        await server.stop()
        with pytest.raises(Unavailable):
            await hasty.get_vectors(request)
        call = asyncio.create_task(waiting.get_vectors(request))
        await asyncio.sleep(1.0)
        assert not call.done(), "the call waits while the service is down"
        server = await start_uservec_server(uservec_core, token=TOKEN, port=port)
        answer = await asyncio.wait_for(call, 60)
        assert answer.user_id == "restart"
        assert await hasty.health() == "SERVING"
    finally:
        await waiting.close()
        await hasty.close()
        await server.stop()
