from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class StartRunRequest(_message.Message):
    __slots__ = ("experiment_yaml", "run_id", "shards")
    EXPERIMENT_YAML_FIELD_NUMBER: _ClassVar[int]
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    SHARDS_FIELD_NUMBER: _ClassVar[int]
    experiment_yaml: str
    run_id: str
    shards: int
    def __init__(self, experiment_yaml: _Optional[str] = ..., run_id: _Optional[str] = ..., shards: _Optional[int] = ...) -> None: ...

class Run(_message.Message):
    __slots__ = ("run_id", "state", "output_dir", "progress", "error", "experiment_name", "methods", "launcher", "shards", "job")
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_DIR_FIELD_NUMBER: _ClassVar[int]
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    EXPERIMENT_NAME_FIELD_NUMBER: _ClassVar[int]
    METHODS_FIELD_NUMBER: _ClassVar[int]
    LAUNCHER_FIELD_NUMBER: _ClassVar[int]
    SHARDS_FIELD_NUMBER: _ClassVar[int]
    JOB_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    state: str
    output_dir: str
    progress: RunProgress
    error: str
    experiment_name: str
    methods: _containers.RepeatedScalarFieldContainer[str]
    launcher: str
    shards: int
    job: str
    def __init__(self, run_id: _Optional[str] = ..., state: _Optional[str] = ..., output_dir: _Optional[str] = ..., progress: _Optional[_Union[RunProgress, _Mapping]] = ..., error: _Optional[str] = ..., experiment_name: _Optional[str] = ..., methods: _Optional[_Iterable[str]] = ..., launcher: _Optional[str] = ..., shards: _Optional[int] = ..., job: _Optional[str] = ...) -> None: ...

class RunProgress(_message.Message):
    __slots__ = ("run_id", "sessions_done", "sessions_total", "prompt_tokens", "completion_tokens", "errors", "state", "phase", "sessions_resumed", "elapsed_s", "eta_s")
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    SESSIONS_DONE_FIELD_NUMBER: _ClassVar[int]
    SESSIONS_TOTAL_FIELD_NUMBER: _ClassVar[int]
    PROMPT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    COMPLETION_TOKENS_FIELD_NUMBER: _ClassVar[int]
    ERRORS_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    PHASE_FIELD_NUMBER: _ClassVar[int]
    SESSIONS_RESUMED_FIELD_NUMBER: _ClassVar[int]
    ELAPSED_S_FIELD_NUMBER: _ClassVar[int]
    ETA_S_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    sessions_done: int
    sessions_total: int
    prompt_tokens: int
    completion_tokens: int
    errors: int
    state: str
    phase: str
    sessions_resumed: int
    elapsed_s: float
    eta_s: float
    def __init__(self, run_id: _Optional[str] = ..., sessions_done: _Optional[int] = ..., sessions_total: _Optional[int] = ..., prompt_tokens: _Optional[int] = ..., completion_tokens: _Optional[int] = ..., errors: _Optional[int] = ..., state: _Optional[str] = ..., phase: _Optional[str] = ..., sessions_resumed: _Optional[int] = ..., elapsed_s: _Optional[float] = ..., eta_s: _Optional[float] = ...) -> None: ...

class GetRunRequest(_message.Message):
    __slots__ = ("run_id",)
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    def __init__(self, run_id: _Optional[str] = ...) -> None: ...

class ListRunsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListRunsResponse(_message.Message):
    __slots__ = ("runs",)
    RUNS_FIELD_NUMBER: _ClassVar[int]
    runs: _containers.RepeatedCompositeFieldContainer[Run]
    def __init__(self, runs: _Optional[_Iterable[_Union[Run, _Mapping]]] = ...) -> None: ...

class GetReportRequest(_message.Message):
    __slots__ = ("run_id", "format")
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    format: str
    def __init__(self, run_id: _Optional[str] = ..., format: _Optional[str] = ...) -> None: ...

class Report(_message.Message):
    __slots__ = ("run_id", "format", "content")
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    format: str
    content: bytes
    def __init__(self, run_id: _Optional[str] = ..., format: _Optional[str] = ..., content: _Optional[bytes] = ...) -> None: ...
