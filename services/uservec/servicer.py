"""gRPC servicer of the user-vector service: a thin shell over UserVectorService."""

from __future__ import annotations

from attune.services.uservec.core import UserVectorService
from attune.v1 import uservec_pb2, uservec_pb2_grpc

SERVICE_NAME = uservec_pb2.DESCRIPTOR.services_by_name["UserVectorService"].full_name


class UserVectorServicer(uservec_pb2_grpc.UserVectorServiceServicer):
    def __init__(self, core: UserVectorService):
        self.core = core

    async def GetVectors(self, request, context):
        return await self.core.get_vectors(request)

    async def UpdateFromReward(self, request, context):
        return await self.core.update_from_reward(request)

    async def ResetSession(self, request, context):
        return await self.core.reset_session(request)

    async def ResetUser(self, request, context):
        return await self.core.reset_user(request)

    async def RestoreUser(self, request, context):
        return await self.core.restore_user(request)


def register(core: UserVectorService):
    """A ``register`` callback for ServiceServer."""
    return lambda server: uservec_pb2_grpc.add_UserVectorServiceServicer_to_server(UserVectorServicer(core), server)
