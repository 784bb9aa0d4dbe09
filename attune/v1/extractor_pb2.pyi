from attune.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ExtractRequest(_message.Message):
    __slots__ = ("context", "user_id", "turns", "known_cards")
    CONTEXT_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    TURNS_FIELD_NUMBER: _ClassVar[int]
    KNOWN_CARDS_FIELD_NUMBER: _ClassVar[int]
    context: _common_pb2.RequestContext
    user_id: str
    turns: _containers.RepeatedCompositeFieldContainer[_common_pb2.Message]
    known_cards: _containers.RepeatedCompositeFieldContainer[_common_pb2.PreferenceCard]
    def __init__(self, context: _Optional[_Union[_common_pb2.RequestContext, _Mapping]] = ..., user_id: _Optional[str] = ..., turns: _Optional[_Iterable[_Union[_common_pb2.Message, _Mapping]]] = ..., known_cards: _Optional[_Iterable[_Union[_common_pb2.PreferenceCard, _Mapping]]] = ...) -> None: ...

class ExtractResponse(_message.Message):
    __slots__ = ("cards", "rejected", "usage", "removed_card_ids")
    CARDS_FIELD_NUMBER: _ClassVar[int]
    REJECTED_FIELD_NUMBER: _ClassVar[int]
    USAGE_FIELD_NUMBER: _ClassVar[int]
    REMOVED_CARD_IDS_FIELD_NUMBER: _ClassVar[int]
    cards: _containers.RepeatedCompositeFieldContainer[_common_pb2.PreferenceCard]
    rejected: _containers.RepeatedScalarFieldContainer[str]
    usage: _common_pb2.TokenUsage
    removed_card_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, cards: _Optional[_Iterable[_Union[_common_pb2.PreferenceCard, _Mapping]]] = ..., rejected: _Optional[_Iterable[str]] = ..., usage: _Optional[_Union[_common_pb2.TokenUsage, _Mapping]] = ..., removed_card_ids: _Optional[_Iterable[str]] = ...) -> None: ...
