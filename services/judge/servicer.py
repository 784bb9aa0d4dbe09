"""gRPC servicer of the judge service: a thin shell over JudgeService."""

from __future__ import annotations

from attune.services.judge.core import JudgeService
from attune.v1 import judge_pb2_grpc


class JudgeServicer(judge_pb2_grpc.JudgeServiceServicer):
    def __init__(self, core: JudgeService):
        self.core = core

    async def JudgeTaskSuccess(self, request, context):
        return await self.core.judge_task_success(request)

    async def JudgeCompliance(self, request, context):
        return await self.core.judge_compliance(request)

    async def JudgeConflict(self, request, context):
        return await self.core.judge_conflict(request)

    async def JudgeOverPersonalization(self, request, context):
        return await self.core.judge_over_personalization(request)

    async def GetInfo(self, request, context):
        return await self.core.get_info(request)


def register(core: JudgeService):
    """A ``register`` callback for ServiceServer."""
    return lambda server: judge_pb2_grpc.add_JudgeServiceServicer_to_server(JudgeServicer(core), server)
