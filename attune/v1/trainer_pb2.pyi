from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class TrainJobSpec(_message.Message):
    __slots__ = ("kind", "scope", "scope_id", "base_model", "data_path", "adapter_name", "max_steps", "learning_rate", "seed", "params_json")
    KIND_FIELD_NUMBER: _ClassVar[int]
    SCOPE_FIELD_NUMBER: _ClassVar[int]
    SCOPE_ID_FIELD_NUMBER: _ClassVar[int]
    BASE_MODEL_FIELD_NUMBER: _ClassVar[int]
    DATA_PATH_FIELD_NUMBER: _ClassVar[int]
    ADAPTER_NAME_FIELD_NUMBER: _ClassVar[int]
    MAX_STEPS_FIELD_NUMBER: _ClassVar[int]
    LEARNING_RATE_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    PARAMS_JSON_FIELD_NUMBER: _ClassVar[int]
    kind: str
    scope: str
    scope_id: str
    base_model: str
    data_path: str
    adapter_name: str
    max_steps: int
    learning_rate: float
    seed: int
    params_json: str
    def __init__(self, kind: _Optional[str] = ..., scope: _Optional[str] = ..., scope_id: _Optional[str] = ..., base_model: _Optional[str] = ..., data_path: _Optional[str] = ..., adapter_name: _Optional[str] = ..., max_steps: _Optional[int] = ..., learning_rate: _Optional[float] = ..., seed: _Optional[int] = ..., params_json: _Optional[str] = ...) -> None: ...

class TrainJob(_message.Message):
    __slots__ = ("job_id", "spec", "state", "step", "loss", "adapter_path", "error", "tokens")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    SPEC_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    STEP_FIELD_NUMBER: _ClassVar[int]
    LOSS_FIELD_NUMBER: _ClassVar[int]
    ADAPTER_PATH_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    TOKENS_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    spec: TrainJobSpec
    state: str
    step: int
    loss: float
    adapter_path: str
    error: str
    tokens: int
    def __init__(self, job_id: _Optional[str] = ..., spec: _Optional[_Union[TrainJobSpec, _Mapping]] = ..., state: _Optional[str] = ..., step: _Optional[int] = ..., loss: _Optional[float] = ..., adapter_path: _Optional[str] = ..., error: _Optional[str] = ..., tokens: _Optional[int] = ...) -> None: ...

class GetJobRequest(_message.Message):
    __slots__ = ("job_id",)
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    def __init__(self, job_id: _Optional[str] = ...) -> None: ...

class ListJobsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListJobsResponse(_message.Message):
    __slots__ = ("jobs",)
    JOBS_FIELD_NUMBER: _ClassVar[int]
    jobs: _containers.RepeatedCompositeFieldContainer[TrainJob]
    def __init__(self, jobs: _Optional[_Iterable[_Union[TrainJob, _Mapping]]] = ...) -> None: ...
