"""Input checks every service applies the same way, so an id one service accepts no peer refuses."""

from __future__ import annotations

from pydantic import ValidationError

from attune.services.common.errors import InvalidArgument

MAX_ID_CHARS = 256


def check_id(field: str, value: str, max_chars: int = MAX_ID_CHARS) -> str:
    """A user, card or request id: not blank, at most ``max_chars``, no control characters."""
    if not value or not value.strip():
        raise InvalidArgument(field, "must not be empty")
    if len(value) > max_chars:
        raise InvalidArgument(field, f"is {len(value)} characters long; at most {max_chars} are allowed")
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise InvalidArgument(field, "must not contain control characters")
    return value


def validation_problems(err: ValidationError, root: str) -> str:
    """Every failing field of a pydantic error as ``dotted.path: reason``, joined by "; " (``root`` for the whole)."""
    return "; ".join(f"{'.'.join(str(p) for p in e['loc']) or root}: {e['msg']}" for e in err.errors())
