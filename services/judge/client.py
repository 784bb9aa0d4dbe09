"""Client of the judge service, with the same interface as JudgeService."""

from __future__ import annotations

from attune.services.common.client import GrpcClient
from attune.v1 import judge_pb2, judge_pb2_grpc

YES, NO, UNJUDGED = judge_pb2.OPINION_YES, judge_pb2.OPINION_NO, judge_pb2.OPINION_UNJUDGED


def opinion(value: bool | None) -> int:
    """A request's programmatic opinion: None (no program decided) is UNJUDGED."""
    return UNJUDGED if value is None else (YES if value else NO)


class JudgeClient(GrpcClient):
    def __init__(self, target: str, **kwargs):
        super().__init__(target, **kwargs)
        self.stub = judge_pb2_grpc.JudgeServiceStub(self.channel)

    async def judge_task_success(self, request: judge_pb2.TaskSuccessRequest) -> judge_pb2.Verdict:
        return await self.unary(self.stub.JudgeTaskSuccess, request)

    async def judge_compliance(self, request: judge_pb2.ComplianceRequest) -> judge_pb2.ComplianceVerdict:
        return await self.unary(self.stub.JudgeCompliance, request)

    async def judge_conflict(self, request: judge_pb2.ConflictRequest) -> judge_pb2.Verdict:
        return await self.unary(self.stub.JudgeConflict, request)

    async def judge_over_personalization(self, request: judge_pb2.OverPersonalizationRequest) -> judge_pb2.Verdict:
        return await self.unary(self.stub.JudgeOverPersonalization, request)

    async def get_info(self, request: judge_pb2.JudgeInfoRequest | None = None) -> judge_pb2.JudgeInfo:
        return await self.unary(self.stub.GetInfo, request or judge_pb2.JudgeInfoRequest())
