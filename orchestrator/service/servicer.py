"""gRPC servicer of the orchestrator service: a thin shell over OrchestratorService."""

from __future__ import annotations

from attune.orchestrator.service.core import OrchestratorService
from attune.v1 import orchestrator_pb2_grpc


class OrchestratorServicer(orchestrator_pb2_grpc.OrchestratorServiceServicer):
    def __init__(self, core: OrchestratorService):
        self.core = core

    async def StartRun(self, request, context):
        return await self.core.start_run(request)

    async def GetRun(self, request, context):
        return await self.core.get_run(request)

    async def ListRuns(self, request, context):
        return await self.core.list_runs(request)

    async def WatchRun(self, request, context):
        async for event in self.core.watch_run(request):
            yield event

    async def CancelRun(self, request, context):
        return await self.core.cancel_run(request)

    async def GetReport(self, request, context):
        return await self.core.get_report(request)


def register(core: OrchestratorService):
    """A ``register`` callback for ServiceServer."""
    return lambda server: orchestrator_pb2_grpc.add_OrchestratorServiceServicer_to_server(
        OrchestratorServicer(core), server)
