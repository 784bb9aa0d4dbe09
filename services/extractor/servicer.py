"""gRPC servicer of the extractor service."""

from __future__ import annotations

from attune.services.extractor.core import ExtractorService
from attune.v1 import extractor_pb2, extractor_pb2_grpc

SERVICE_NAME = extractor_pb2.DESCRIPTOR.services_by_name["ExtractorService"].full_name


class ExtractorServicer(extractor_pb2_grpc.ExtractorServiceServicer):
    def __init__(self, core: ExtractorService):
        self.core = core

    async def Extract(self, request, context):
        return await self.core.extract(request)


def register(core: ExtractorService):
    return lambda server: extractor_pb2_grpc.add_ExtractorServiceServicer_to_server(ExtractorServicer(core), server)
