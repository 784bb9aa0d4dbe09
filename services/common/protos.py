"""Small helpers for protobuf messages shared by the services."""

from __future__ import annotations

from typing import TypeVar

from google.protobuf.message import Message

M = TypeVar("M", bound=Message)


def copy_message(message: M) -> M:
    """A deep copy: a service hands out copies, never the messages it keeps changing."""
    copy = type(message)()
    copy.CopyFrom(message)
    return copy
