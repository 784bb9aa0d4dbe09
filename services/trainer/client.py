"""Client of the trainer service, with the same interface as TrainerService, and ``wait_for_job``."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from attune.services.common.client import GrpcClient
from attune.services.common.errors import DeadlineExceeded, Unavailable
from attune.services.trainer.core import TERMINAL
from attune.v1 import trainer_pb2, trainer_pb2_grpc

# Deadline of one WatchJob stream: training runs for hours, far beyond a unary call's.
WATCH_TIMEOUT_S = 24 * 3600.0
# Pause before watching again after the stream broke (a restarting server, a dropped connection).
REWATCH_DELAY_S = 1.0


class TrainerClient(GrpcClient):
    def __init__(self, target: str, **kwargs):
        super().__init__(target, **kwargs)
        self.stub = trainer_pb2_grpc.TrainerServiceStub(self.channel)

    async def submit_job(self, spec: trainer_pb2.TrainJobSpec) -> trainer_pb2.TrainJob:
        return await self.unary(self.stub.SubmitJob, spec)

    async def get_job(self, request: trainer_pb2.GetJobRequest) -> trainer_pb2.TrainJob:
        return await self.unary(self.stub.GetJob, request)

    async def list_jobs(self, request: trainer_pb2.ListJobsRequest) -> trainer_pb2.ListJobsResponse:
        return await self.unary(self.stub.ListJobs, request)

    async def cancel_job(self, request: trainer_pb2.GetJobRequest) -> trainer_pb2.TrainJob:
        return await self.unary(self.stub.CancelJob, request)

    async def watch_job(self, request: trainer_pb2.GetJobRequest,
                        timeout_s: float = WATCH_TIMEOUT_S) -> AsyncIterator[trainer_pb2.TrainJob]:
        async for job in self.stream(self.stub.WatchJob, request, timeout_s):
            yield job


async def wait_for_job(trainer, job_id: str, timeout_s: float) -> trainer_pb2.TrainJob:
    """The job once finished (succeeded, failed or cancelled), from a TrainerService or a TrainerClient.

    Watches the job and watches again if the stream breaks; raises DeadlineExceeded
    after ``timeout_s`` (the job keeps running: cancel it if it is no longer wanted).
    """

    async def last_state() -> trainer_pb2.TrainJob:
        while True:
            try:
                async for job in trainer.watch_job(trainer_pb2.GetJobRequest(job_id=job_id)):
                    if job.state in TERMINAL:
                        return job
            except Unavailable:
                pass
            await asyncio.sleep(REWATCH_DELAY_S)

    try:
        return await asyncio.wait_for(last_state(), timeout_s)
    except TimeoutError:
        raise DeadlineExceeded(f"job {job_id} not finished after {timeout_s:g}s") from None
