from attune.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class UpsertCardsRequest(_message.Message):
    __slots__ = ("context", "cards")
    CONTEXT_FIELD_NUMBER: _ClassVar[int]
    CARDS_FIELD_NUMBER: _ClassVar[int]
    context: _common_pb2.RequestContext
    cards: _containers.RepeatedCompositeFieldContainer[_common_pb2.PreferenceCard]
    def __init__(self, context: _Optional[_Union[_common_pb2.RequestContext, _Mapping]] = ..., cards: _Optional[_Iterable[_Union[_common_pb2.PreferenceCard, _Mapping]]] = ...) -> None: ...

class UpsertCardsResponse(_message.Message):
    __slots__ = ("card_ids",)
    CARD_IDS_FIELD_NUMBER: _ClassVar[int]
    card_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, card_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class RetrieveRequest(_message.Message):
    __slots__ = ("context", "user_id", "query", "top_k", "select_k", "rerank", "use_user_vector")
    CONTEXT_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    QUERY_FIELD_NUMBER: _ClassVar[int]
    TOP_K_FIELD_NUMBER: _ClassVar[int]
    SELECT_K_FIELD_NUMBER: _ClassVar[int]
    RERANK_FIELD_NUMBER: _ClassVar[int]
    USE_USER_VECTOR_FIELD_NUMBER: _ClassVar[int]
    context: _common_pb2.RequestContext
    user_id: str
    query: str
    top_k: int
    select_k: int
    rerank: bool
    use_user_vector: bool
    def __init__(self, context: _Optional[_Union[_common_pb2.RequestContext, _Mapping]] = ..., user_id: _Optional[str] = ..., query: _Optional[str] = ..., top_k: _Optional[int] = ..., select_k: _Optional[int] = ..., rerank: _Optional[bool] = ..., use_user_vector: _Optional[bool] = ...) -> None: ...

class ScoredCard(_message.Message):
    __slots__ = ("card", "dense_score", "rerank_score", "probability", "item_vector", "selected", "condition_score", "search_score")
    CARD_FIELD_NUMBER: _ClassVar[int]
    DENSE_SCORE_FIELD_NUMBER: _ClassVar[int]
    RERANK_SCORE_FIELD_NUMBER: _ClassVar[int]
    PROBABILITY_FIELD_NUMBER: _ClassVar[int]
    ITEM_VECTOR_FIELD_NUMBER: _ClassVar[int]
    SELECTED_FIELD_NUMBER: _ClassVar[int]
    CONDITION_SCORE_FIELD_NUMBER: _ClassVar[int]
    SEARCH_SCORE_FIELD_NUMBER: _ClassVar[int]
    card: _common_pb2.PreferenceCard
    dense_score: float
    rerank_score: float
    probability: float
    item_vector: _common_pb2.Vector
    selected: bool
    condition_score: float
    search_score: float
    def __init__(self, card: _Optional[_Union[_common_pb2.PreferenceCard, _Mapping]] = ..., dense_score: _Optional[float] = ..., rerank_score: _Optional[float] = ..., probability: _Optional[float] = ..., item_vector: _Optional[_Union[_common_pb2.Vector, _Mapping]] = ..., selected: _Optional[bool] = ..., condition_score: _Optional[float] = ..., search_score: _Optional[float] = ...) -> None: ...

class RetrieveResponse(_message.Message):
    __slots__ = ("candidates", "reranker", "usage")
    CANDIDATES_FIELD_NUMBER: _ClassVar[int]
    RERANKER_FIELD_NUMBER: _ClassVar[int]
    USAGE_FIELD_NUMBER: _ClassVar[int]
    candidates: _containers.RepeatedCompositeFieldContainer[ScoredCard]
    reranker: str
    usage: _common_pb2.TokenUsage
    def __init__(self, candidates: _Optional[_Iterable[_Union[ScoredCard, _Mapping]]] = ..., reranker: _Optional[str] = ..., usage: _Optional[_Union[_common_pb2.TokenUsage, _Mapping]] = ...) -> None: ...

class ListCardsRequest(_message.Message):
    __slots__ = ("user_id",)
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    def __init__(self, user_id: _Optional[str] = ...) -> None: ...

class ListCardsResponse(_message.Message):
    __slots__ = ("cards",)
    CARDS_FIELD_NUMBER: _ClassVar[int]
    cards: _containers.RepeatedCompositeFieldContainer[_common_pb2.PreferenceCard]
    def __init__(self, cards: _Optional[_Iterable[_Union[_common_pb2.PreferenceCard, _Mapping]]] = ...) -> None: ...

class DeleteCardRequest(_message.Message):
    __slots__ = ("user_id", "card_id")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    CARD_ID_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    card_id: str
    def __init__(self, user_id: _Optional[str] = ..., card_id: _Optional[str] = ...) -> None: ...

class DeleteUserRequest(_message.Message):
    __slots__ = ("user_id",)
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    def __init__(self, user_id: _Optional[str] = ...) -> None: ...

class DeleteResponse(_message.Message):
    __slots__ = ("deleted",)
    DELETED_FIELD_NUMBER: _ClassVar[int]
    deleted: int
    def __init__(self, deleted: _Optional[int] = ...) -> None: ...
