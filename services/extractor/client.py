"""Client of the extractor service, with the same interface as ExtractorService."""

from __future__ import annotations

from attune.services.common.client import GrpcClient
from attune.v1 import extractor_pb2, extractor_pb2_grpc


class ExtractorClient(GrpcClient):
    def __init__(self, target: str, **kwargs):
        super().__init__(target, **kwargs)
        self.stub = extractor_pb2_grpc.ExtractorServiceStub(self.channel)

    async def extract(self, request: extractor_pb2.ExtractRequest) -> extractor_pb2.ExtractResponse:
        return await self.unary(self.stub.Extract, request)
