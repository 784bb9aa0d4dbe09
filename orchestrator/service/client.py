"""Client of the orchestrator service, with the same interface as OrchestratorService."""

from __future__ import annotations

from collections.abc import AsyncIterator

from attune.services.common.client import GrpcClient
from attune.v1 import orchestrator_pb2, orchestrator_pb2_grpc

# A watch lasts as long as its run: days for a large one.
WATCH_TIMEOUT_S = 30 * 24 * 3600.0


class OrchestratorClient(GrpcClient):
    def __init__(self, target: str, **kwargs):
        kwargs.setdefault("max_message_bytes", 64 * 1024 * 1024)  # reports carry their plots
        super().__init__(target, **kwargs)
        self.stub = orchestrator_pb2_grpc.OrchestratorServiceStub(self.channel)

    async def start_run(self, request: orchestrator_pb2.StartRunRequest) -> orchestrator_pb2.Run:
        return await self.unary(self.stub.StartRun, request)

    async def get_run(self, request: orchestrator_pb2.GetRunRequest) -> orchestrator_pb2.Run:
        return await self.unary(self.stub.GetRun, request)

    async def list_runs(self, request: orchestrator_pb2.ListRunsRequest | None = None
                        ) -> orchestrator_pb2.ListRunsResponse:
        return await self.unary(self.stub.ListRuns, request or orchestrator_pb2.ListRunsRequest())

    async def watch_run(self, request: orchestrator_pb2.GetRunRequest,
                        timeout_s: float = WATCH_TIMEOUT_S) -> AsyncIterator[orchestrator_pb2.RunProgress]:
        async for event in self.stream(self.stub.WatchRun, request, timeout_s):
            yield event

    async def cancel_run(self, request: orchestrator_pb2.GetRunRequest) -> orchestrator_pb2.Run:
        return await self.unary(self.stub.CancelRun, request)

    async def get_report(self, request: orchestrator_pb2.GetReportRequest) -> orchestrator_pb2.Report:
        return await self.unary(self.stub.GetReport, request)
