"""Checking a submitted TrainJobSpec in full before a job exists: kind, scope, adapter name, steps, rate, seed,
the kind's parameters, the base model folder and every row of the data file.

``validated_spec`` returns a copy with the defaults filled in (learning rate, parameters, base model) and the
paths made absolute; a bad field is an InvalidArgument that names it.
"""

from __future__ import annotations

import asyncio
import math
import re
from pathlib import Path

from pydantic import ValidationError

from attune.services.common.errors import InvalidArgument
from attune.services.common.protos import copy_message
from attune.services.common.validation import check_id
from attune.services.trainer.jobs import KINDS
from attune.v1 import trainer_pb2

SCOPES = ("global", "user", "cluster")
MAX_STEPS = 100_000
MAX_SEED = 2**32 - 1  # numpy's seed range, which the training libraries seed from
# No ".": PEFT names the adapter's torch modules after it, and a module name cannot hold one.
ADAPTER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,127}")


async def validated_spec(spec: trainer_pb2.TrainJobSpec, default_base_model: str) -> trainer_pb2.TrainJobSpec:
    """A copy of ``spec`` with defaults filled in and paths made absolute; InvalidArgument names a bad field.
    ``default_base_model`` is the trainer's (settings.base_model), for a spec that names none."""
    kind = _kind(spec.kind)
    out = copy_message(spec)
    out.scope = _scope(spec.scope, spec.scope_id)
    out.adapter_name = _adapter_name(spec.adapter_name)
    out.max_steps = _max_steps(spec.max_steps)
    out.learning_rate = _learning_rate(spec.learning_rate) or kind.DEFAULT_LEARNING_RATE
    out.seed = _seed(spec.seed)
    out.params_json = _params(kind, spec.params_json)
    out.base_model = _base_model(spec.base_model or default_base_model)
    out.data_path = str(await asyncio.to_thread(_data_path, kind, spec.data_path))
    return out


def _kind(kind: str):
    if kind not in KINDS:
        raise InvalidArgument("kind", f"unknown kind {kind!r}; available: {', '.join(KINDS)}")
    return KINDS[kind]


def _scope(scope: str, scope_id: str) -> str:
    scope = scope or "global"
    if scope not in SCOPES:
        raise InvalidArgument("scope", f"unknown scope {scope!r}; one of {', '.join(SCOPES)}")
    if scope == "global" and scope_id:
        raise InvalidArgument("scope_id", "must be empty for a global adapter")
    if scope != "global":
        check_id("scope_id", scope_id)
    return scope


def _adapter_name(name: str) -> str:
    check_id("adapter_name", name)
    if not ADAPTER_NAME.fullmatch(name):
        raise InvalidArgument("adapter_name", f"{name!r} is not a plain folder name: 1-128 letters, digits, "
                              "'_' or '-', starting with a letter or digit (no '.': PEFT cannot load it)")
    return name


def _max_steps(steps: int) -> int:
    if not 1 <= steps <= MAX_STEPS:
        raise InvalidArgument("max_steps", f"{steps} is out of range 1..{MAX_STEPS}")
    return steps


def _learning_rate(rate: float) -> float:
    if not math.isfinite(rate) or not 0 <= rate <= 1:
        raise InvalidArgument("learning_rate", f"{rate} is out of range 0..1 (0: the kind's default)")
    return rate


def _seed(seed: int) -> int:
    if not 0 <= seed <= MAX_SEED:
        raise InvalidArgument("seed", f"{seed} is out of range 0..{MAX_SEED}")
    return seed


def _params(kind, params_json: str) -> str:
    """The kind's parameters with every default filled in, as JSON."""
    try:
        params = kind.Params.model_validate_json(params_json or "{}")
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise InvalidArgument("params_json", f"{where + ': ' if where else ''}{first['msg']}") from None
    check = getattr(kind, "check_params", None)
    if check is not None:
        try:
            check(params)
        except (OSError, ValueError) as err:  # OSError: a path in the params the file system cannot hold
            raise InvalidArgument("params_json", str(err)) from None
    return params.model_dump_json()


def _base_model(base_model: str) -> str:
    """A local model folder, absolute; "" stays "" (the embedded model)."""
    if not base_model:
        return ""
    path = _local_path("base_model", base_model)
    if not _is_file(path / "config.json"):
        raise InvalidArgument("base_model", f"{base_model!r} is not a local model folder (no config.json)")
    return str(path)


def _data_path(kind, data_path: str) -> Path:
    """The data file, absolute, after the kind has checked every row (runs in a thread)."""
    if not data_path:
        raise InvalidArgument("data_path", "must not be empty")
    path = _local_path("data_path", data_path)
    if not _is_file(path):
        raise InvalidArgument("data_path", f"{data_path!r} is not a file")
    try:
        kind.check_data(path)
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as err:
        raise InvalidArgument("data_path", f"{data_path}: {err}") from None
    return path


def _local_path(field: str, value: str) -> Path:
    """``value`` as an absolute path; one that names nothing a file system can hold (a NUL byte, an unknown
    ``~user``) is the caller's error, not the service's."""
    try:
        return Path(value).expanduser().resolve()
    except (RuntimeError, ValueError) as err:
        raise InvalidArgument(field, f"is not a usable local path: {err}") from None


def _is_file(path: Path) -> bool:
    """Whether ``path`` is a file; a name longer than the file system allows is none (is_file raises there)."""
    try:
        return path.is_file()
    except OSError:
        return False
