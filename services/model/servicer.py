"""gRPC servicer of the model service: a thin shell over ModelService."""

from __future__ import annotations

from attune.services.model.core import ModelService
from attune.v1 import model_pb2, model_pb2_grpc

SERVICE_NAME = model_pb2.DESCRIPTOR.services_by_name["ModelService"].full_name


class ModelServicer(model_pb2_grpc.ModelServiceServicer):
    def __init__(self, core: ModelService):
        self.core = core

    async def Chat(self, request, context):
        return await self.core.chat(request)

    async def ChatStream(self, request, context):
        async for chunk in self.core.chat_stream(request):
            yield chunk

    async def Generate(self, request, context):
        return await self.core.generate(request)

    async def CountTokens(self, request, context):
        return await self.core.count_tokens(request)

    async def GetInfo(self, request, context):
        return await self.core.get_info(request)


def register(core: ModelService):
    """A ``register`` callback for ServiceServer."""
    return lambda server: model_pb2_grpc.add_ModelServiceServicer_to_server(ModelServicer(core), server)
