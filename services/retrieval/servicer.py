"""gRPC servicer of the retrieval service: a thin shell over RetrievalService."""

from __future__ import annotations

from attune.services.retrieval.core import RetrievalService
from attune.v1 import retrieval_pb2, retrieval_pb2_grpc

SERVICE_NAME = retrieval_pb2.DESCRIPTOR.services_by_name["RetrievalService"].full_name


class RetrievalServicer(retrieval_pb2_grpc.RetrievalServiceServicer):
    def __init__(self, core: RetrievalService):
        self.core = core

    async def UpsertCards(self, request, context):
        return await self.core.upsert_cards(request)

    async def Retrieve(self, request, context):
        return await self.core.retrieve(request)

    async def ListCards(self, request, context):
        return await self.core.list_cards(request)

    async def DeleteCard(self, request, context):
        return await self.core.delete_card(request)

    async def DeleteUser(self, request, context):
        return await self.core.delete_user(request)


def register(core: RetrievalService):
    """A ``register`` callback for ServiceServer."""
    return lambda server: retrieval_pb2_grpc.add_RetrievalServiceServicer_to_server(RetrievalServicer(core), server)
