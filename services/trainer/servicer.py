"""gRPC servicer of the trainer service: a thin shell over TrainerService."""

from __future__ import annotations

from attune.services.trainer.core import TrainerService
from attune.v1 import trainer_pb2, trainer_pb2_grpc

SERVICE_NAME = trainer_pb2.DESCRIPTOR.services_by_name["TrainerService"].full_name


class TrainerServicer(trainer_pb2_grpc.TrainerServiceServicer):
    def __init__(self, core: TrainerService):
        self.core = core

    async def SubmitJob(self, request, context):
        return await self.core.submit_job(request)

    async def GetJob(self, request, context):
        return await self.core.get_job(request)

    async def ListJobs(self, request, context):
        return await self.core.list_jobs(request)

    async def CancelJob(self, request, context):
        return await self.core.cancel_job(request)

    async def WatchJob(self, request, context):
        async for job in self.core.watch_job(request):
            yield job


def register(core: TrainerService):
    """A ``register`` callback for ServiceServer."""
    return lambda server: trainer_pb2_grpc.add_TrainerServiceServicer_to_server(TrainerServicer(core), server)
