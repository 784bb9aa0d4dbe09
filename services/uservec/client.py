"""Client of the user-vector service, with the same interface as UserVectorService."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from attune.services.common.client import GrpcClient
from attune.v1 import common_pb2, uservec_pb2, uservec_pb2_grpc


class UserVectorClient(GrpcClient):
    def __init__(self, target: str, **kwargs):
        super().__init__(target, **kwargs)
        self.stub = uservec_pb2_grpc.UserVectorServiceStub(self.channel)

    async def get_vectors(self, request: uservec_pb2.GetVectorsRequest) -> uservec_pb2.UserVectors:
        return await self.unary(self.stub.GetVectors, request)

    async def update_from_reward(self, request: uservec_pb2.UpdateFromRewardRequest) -> uservec_pb2.UserVectors:
        return await self.unary(self.stub.UpdateFromReward, request)

    async def reset_session(self, request: uservec_pb2.ResetRequest) -> uservec_pb2.UserVectors:
        return await self.unary(self.stub.ResetSession, request)

    async def reset_user(self, request: uservec_pb2.ResetRequest) -> uservec_pb2.UserVectors:
        return await self.unary(self.stub.ResetUser, request)

    async def restore_user(self, request: uservec_pb2.RestoreUserRequest) -> uservec_pb2.UserVectors:
        return await self.unary(self.stub.RestoreUser, request)


def update_request(user_id: str, reward: float, candidate_vectors: np.ndarray | Sequence[Sequence[float]] = (),
                   probabilities: Sequence[float] = (), chosen: Sequence[int] = (),
                   **context) -> uservec_pb2.UpdateFromRewardRequest:
    """An UpdateFromRewardRequest from plain values (item vectors as rows of an array)."""
    return uservec_pb2.UpdateFromRewardRequest(
        context=context, user_id=user_id, reward=reward,
        candidate_vectors=[common_pb2.Vector(values=np.asarray(v, dtype=np.float32).tolist())
                           for v in candidate_vectors],
        probabilities=[float(p) for p in probabilities], chosen=[int(i) for i in chosen])


def vectors(message: uservec_pb2.UserVectors) -> tuple[np.ndarray, np.ndarray]:
    """(z_long, z_short) of a UserVectors message as float32 arrays."""
    return (np.array(message.z_long.values, dtype=np.float32), np.array(message.z_short.values, dtype=np.float32))
