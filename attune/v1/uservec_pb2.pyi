from attune.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class GetVectorsRequest(_message.Message):
    __slots__ = ("user_id",)
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    def __init__(self, user_id: _Optional[str] = ...) -> None: ...

class UserVectors(_message.Message):
    __slots__ = ("user_id", "z_long", "z_short", "baseline", "updates", "known")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    Z_LONG_FIELD_NUMBER: _ClassVar[int]
    Z_SHORT_FIELD_NUMBER: _ClassVar[int]
    BASELINE_FIELD_NUMBER: _ClassVar[int]
    UPDATES_FIELD_NUMBER: _ClassVar[int]
    KNOWN_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    z_long: _common_pb2.Vector
    z_short: _common_pb2.Vector
    baseline: float
    updates: int
    known: bool
    def __init__(self, user_id: _Optional[str] = ..., z_long: _Optional[_Union[_common_pb2.Vector, _Mapping]] = ..., z_short: _Optional[_Union[_common_pb2.Vector, _Mapping]] = ..., baseline: _Optional[float] = ..., updates: _Optional[int] = ..., known: _Optional[bool] = ...) -> None: ...

class UpdateFromRewardRequest(_message.Message):
    __slots__ = ("context", "user_id", "reward", "candidate_vectors", "probabilities", "chosen", "request_id")
    CONTEXT_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    REWARD_FIELD_NUMBER: _ClassVar[int]
    CANDIDATE_VECTORS_FIELD_NUMBER: _ClassVar[int]
    PROBABILITIES_FIELD_NUMBER: _ClassVar[int]
    CHOSEN_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    context: _common_pb2.RequestContext
    user_id: str
    reward: float
    candidate_vectors: _containers.RepeatedCompositeFieldContainer[_common_pb2.Vector]
    probabilities: _containers.RepeatedScalarFieldContainer[float]
    chosen: _containers.RepeatedScalarFieldContainer[int]
    request_id: str
    def __init__(self, context: _Optional[_Union[_common_pb2.RequestContext, _Mapping]] = ..., user_id: _Optional[str] = ..., reward: _Optional[float] = ..., candidate_vectors: _Optional[_Iterable[_Union[_common_pb2.Vector, _Mapping]]] = ..., probabilities: _Optional[_Iterable[float]] = ..., chosen: _Optional[_Iterable[int]] = ..., request_id: _Optional[str] = ...) -> None: ...

class ResetRequest(_message.Message):
    __slots__ = ("user_id",)
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    def __init__(self, user_id: _Optional[str] = ...) -> None: ...

class RestoreUserRequest(_message.Message):
    __slots__ = ("state",)
    STATE_FIELD_NUMBER: _ClassVar[int]
    state: UserVectors
    def __init__(self, state: _Optional[_Union[UserVectors, _Mapping]] = ...) -> None: ...
