from attune.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Opinion(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    OPINION_UNSPECIFIED: _ClassVar[Opinion]
    OPINION_YES: _ClassVar[Opinion]
    OPINION_NO: _ClassVar[Opinion]
    OPINION_UNJUDGED: _ClassVar[Opinion]
OPINION_UNSPECIFIED: Opinion
OPINION_YES: Opinion
OPINION_NO: Opinion
OPINION_UNJUDGED: Opinion

class JudgeInfoRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class JudgeInfo(_message.Message):
    __slots__ = ("model", "backend", "prompt_hash", "seed")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    BACKEND_FIELD_NUMBER: _ClassVar[int]
    PROMPT_HASH_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    model: str
    backend: str
    prompt_hash: str
    seed: int
    def __init__(self, model: _Optional[str] = ..., backend: _Optional[str] = ..., prompt_hash: _Optional[str] = ..., seed: _Optional[int] = ...) -> None: ...

class Verdict(_message.Message):
    __slots__ = ("passed", "score", "reason", "usage", "decided_by", "unjudged", "checker", "llm", "preferences", "judge", "positions")
    PASSED_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    USAGE_FIELD_NUMBER: _ClassVar[int]
    DECIDED_BY_FIELD_NUMBER: _ClassVar[int]
    UNJUDGED_FIELD_NUMBER: _ClassVar[int]
    CHECKER_FIELD_NUMBER: _ClassVar[int]
    LLM_FIELD_NUMBER: _ClassVar[int]
    PREFERENCES_FIELD_NUMBER: _ClassVar[int]
    JUDGE_FIELD_NUMBER: _ClassVar[int]
    POSITIONS_FIELD_NUMBER: _ClassVar[int]
    passed: bool
    score: float
    reason: str
    usage: _common_pb2.TokenUsage
    decided_by: str
    unjudged: bool
    checker: Opinion
    llm: Opinion
    preferences: _containers.RepeatedCompositeFieldContainer[PreferenceVerdict]
    judge: JudgeInfo
    positions: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, passed: _Optional[bool] = ..., score: _Optional[float] = ..., reason: _Optional[str] = ..., usage: _Optional[_Union[_common_pb2.TokenUsage, _Mapping]] = ..., decided_by: _Optional[str] = ..., unjudged: _Optional[bool] = ..., checker: _Optional[_Union[Opinion, str]] = ..., llm: _Optional[_Union[Opinion, str]] = ..., preferences: _Optional[_Iterable[_Union[PreferenceVerdict, _Mapping]]] = ..., judge: _Optional[_Union[JudgeInfo, _Mapping]] = ..., positions: _Optional[_Iterable[str]] = ...) -> None: ...

class TaskSuccessRequest(_message.Message):
    __slots__ = ("context", "problem", "reference_answer", "answer", "programmatic")
    CONTEXT_FIELD_NUMBER: _ClassVar[int]
    PROBLEM_FIELD_NUMBER: _ClassVar[int]
    REFERENCE_ANSWER_FIELD_NUMBER: _ClassVar[int]
    ANSWER_FIELD_NUMBER: _ClassVar[int]
    PROGRAMMATIC_FIELD_NUMBER: _ClassVar[int]
    context: _common_pb2.RequestContext
    problem: str
    reference_answer: str
    answer: str
    programmatic: Opinion
    def __init__(self, context: _Optional[_Union[_common_pb2.RequestContext, _Mapping]] = ..., problem: _Optional[str] = ..., reference_answer: _Optional[str] = ..., answer: _Optional[str] = ..., programmatic: _Optional[_Union[Opinion, str]] = ...) -> None: ...

class ComplianceRequest(_message.Message):
    __slots__ = ("context", "query", "reply", "preferences")
    CONTEXT_FIELD_NUMBER: _ClassVar[int]
    QUERY_FIELD_NUMBER: _ClassVar[int]
    REPLY_FIELD_NUMBER: _ClassVar[int]
    PREFERENCES_FIELD_NUMBER: _ClassVar[int]
    context: _common_pb2.RequestContext
    query: str
    reply: str
    preferences: _containers.RepeatedCompositeFieldContainer[_common_pb2.PreferenceCard]
    def __init__(self, context: _Optional[_Union[_common_pb2.RequestContext, _Mapping]] = ..., query: _Optional[str] = ..., reply: _Optional[str] = ..., preferences: _Optional[_Iterable[_Union[_common_pb2.PreferenceCard, _Mapping]]] = ...) -> None: ...

class PreferenceVerdict(_message.Message):
    __slots__ = ("card_id", "satisfied", "reason", "decided_by", "unjudged", "checker", "llm")
    CARD_ID_FIELD_NUMBER: _ClassVar[int]
    SATISFIED_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    DECIDED_BY_FIELD_NUMBER: _ClassVar[int]
    UNJUDGED_FIELD_NUMBER: _ClassVar[int]
    CHECKER_FIELD_NUMBER: _ClassVar[int]
    LLM_FIELD_NUMBER: _ClassVar[int]
    card_id: str
    satisfied: bool
    reason: str
    decided_by: str
    unjudged: bool
    checker: Opinion
    llm: Opinion
    def __init__(self, card_id: _Optional[str] = ..., satisfied: _Optional[bool] = ..., reason: _Optional[str] = ..., decided_by: _Optional[str] = ..., unjudged: _Optional[bool] = ..., checker: _Optional[_Union[Opinion, str]] = ..., llm: _Optional[_Union[Opinion, str]] = ...) -> None: ...

class ComplianceVerdict(_message.Message):
    __slots__ = ("verdicts", "compliance", "usage", "judge")
    VERDICTS_FIELD_NUMBER: _ClassVar[int]
    COMPLIANCE_FIELD_NUMBER: _ClassVar[int]
    USAGE_FIELD_NUMBER: _ClassVar[int]
    JUDGE_FIELD_NUMBER: _ClassVar[int]
    verdicts: _containers.RepeatedCompositeFieldContainer[PreferenceVerdict]
    compliance: float
    usage: _common_pb2.TokenUsage
    judge: JudgeInfo
    def __init__(self, verdicts: _Optional[_Iterable[_Union[PreferenceVerdict, _Mapping]]] = ..., compliance: _Optional[float] = ..., usage: _Optional[_Union[_common_pb2.TokenUsage, _Mapping]] = ..., judge: _Optional[_Union[JudgeInfo, _Mapping]] = ...) -> None: ...

class ConflictRequest(_message.Message):
    __slots__ = ("context", "query", "reply", "triggered", "expected_card_id")
    CONTEXT_FIELD_NUMBER: _ClassVar[int]
    QUERY_FIELD_NUMBER: _ClassVar[int]
    REPLY_FIELD_NUMBER: _ClassVar[int]
    TRIGGERED_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_CARD_ID_FIELD_NUMBER: _ClassVar[int]
    context: _common_pb2.RequestContext
    query: str
    reply: str
    triggered: _containers.RepeatedCompositeFieldContainer[_common_pb2.PreferenceCard]
    expected_card_id: str
    def __init__(self, context: _Optional[_Union[_common_pb2.RequestContext, _Mapping]] = ..., query: _Optional[str] = ..., reply: _Optional[str] = ..., triggered: _Optional[_Iterable[_Union[_common_pb2.PreferenceCard, _Mapping]]] = ..., expected_card_id: _Optional[str] = ...) -> None: ...

class OverPersonalizationRequest(_message.Message):
    __slots__ = ("context", "query", "reply", "inapplicable")
    CONTEXT_FIELD_NUMBER: _ClassVar[int]
    QUERY_FIELD_NUMBER: _ClassVar[int]
    REPLY_FIELD_NUMBER: _ClassVar[int]
    INAPPLICABLE_FIELD_NUMBER: _ClassVar[int]
    context: _common_pb2.RequestContext
    query: str
    reply: str
    inapplicable: _containers.RepeatedCompositeFieldContainer[_common_pb2.PreferenceCard]
    def __init__(self, context: _Optional[_Union[_common_pb2.RequestContext, _Mapping]] = ..., query: _Optional[str] = ..., reply: _Optional[str] = ..., inapplicable: _Optional[_Iterable[_Union[_common_pb2.PreferenceCard, _Mapping]]] = ...) -> None: ...
