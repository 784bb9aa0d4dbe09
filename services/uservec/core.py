"""UserVectorService: per-user z_long / z_short, REINFORCE updates, persisted in SQLite.

The in-process object, the gRPC servicer and the client all speak the
attune.v1 messages, so a caller can hold either this class or
``UserVectorClient`` and see the same results and the same errors.

Every request is validated in full before anything is written: a bad request
raises InvalidArgument naming the field and leaves the store as it was. Writes
go through one writer thread; updates that arrive while a commit is running
are committed together in the next transaction (one fsync for the group), each
in its own savepoint, and each caller is answered only after its commit.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

import numpy as np
import structlog

from attune.services.common.errors import InvalidArgument, NotFound, Unavailable
from attune.services.common.logging import get_logger, request_context
from attune.services.common.policy import PolicyConfig, policy_from_env, reinforce
from attune.services.common.validation import check_id
from attune.services.uservec.settings import UserVecSettings
from attune.services.uservec.store import Txn, UserState, UserVecStore
from attune.v1 import common_pb2, uservec_pb2

log = get_logger(__name__)

T = TypeVar("T")

# Probabilities must sum to 1 within this (they travel as float32).
PROBABILITY_SUM_TOLERANCE = 1e-3


def to_message(state: UserState) -> uservec_pb2.UserVectors:
    return uservec_pb2.UserVectors(
        user_id=state.user_id, z_long=common_pb2.Vector(values=state.z_long.tolist()),
        z_short=common_pb2.Vector(values=state.z_short.tolist()), baseline=state.baseline,
        updates=state.updates, known=state.known)


class UserVectorService:
    """Dual user vectors over a SQLite store; ``data_dir`` holds the file unless settings name one."""

    def __init__(self, settings: UserVecSettings, data_dir: Path | str, policy: PolicyConfig | None = None):
        self.settings = settings
        # The policy's configuration (ATTUNE_POLICY_*): its dimension and step sizes.
        self.config = policy or PolicyConfig()
        self.db_path = settings.resolved_db_path(Path(data_dir))
        self.store: UserVecStore | None = None
        self.ready = False
        self._writer: ThreadPoolExecutor | None = None
        self._reader: ThreadPoolExecutor | None = None
        self._pending: list[tuple[Callable[[Txn], object], asyncio.Future]] = []
        self._flusher: asyncio.Task | None = None

    async def start(self) -> None:
        """Open (or create) the store; raises StoreError when its dimension is not the configured one."""
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="uservec-write")
        self._reader = ThreadPoolExecutor(2, thread_name_prefix="uservec-read")
        loop = asyncio.get_running_loop()
        try:
            # Opened on the writer thread, whose connection then serves every write.
            self.store = await loop.run_in_executor(
                self._writer, lambda: UserVecStore(self.db_path, self.config.dim, self.settings.busy_timeout_s))
        except BaseException:
            self._shutdown_executors()
            raise
        users = await loop.run_in_executor(self._writer, self.store.count)
        self.ready = True
        log.info("uservec_store_open", path=str(self.db_path), dim=self.config.dim, users=users)

    async def close(self) -> None:
        self.ready = False
        while self._flusher is not None and not self._flusher.done():
            await asyncio.shield(self._flusher)
        if self.store is not None:
            store, self.store = self.store, None
            await asyncio.get_running_loop().run_in_executor(self._writer, store.close)
        self._shutdown_executors()

    def _shutdown_executors(self) -> None:
        for executor in (self._writer, self._reader):
            if executor is not None:
                executor.shutdown(wait=True)
        self._writer = self._reader = None

    # ---- the interface ----------------------------------------------------

    async def get_vectors(self, request: uservec_pb2.GetVectorsRequest) -> uservec_pb2.UserVectors:
        """The user's vectors; an unknown user gets the new-user defaults (known=False) and nothing is written."""
        user_id = self._user_id(request.user_id)
        with _bound(user_id):
            state = await self._read(lambda store: store.get_or_default(user_id))
            return to_message(state)

    async def update_from_reward(self, request: uservec_pb2.UpdateFromRewardRequest) -> uservec_pb2.UserVectors:
        """One REINFORCE step from a reward; an unknown user is created from the defaults first."""
        user_id = self._user_id(request.user_id)
        reward = self._reward(request.reward)
        items, probabilities, chosen = self._candidates(request)
        config = self.config

        request_id = self._request_id(request.request_id)

        def step(txn: Txn) -> UserState:
            current = txn.get_or_default(user_id)
            if request_id and txn.applied(user_id, request_id):
                return current  # a retry of an update already applied: answer, change nothing
            with np.errstate(all="ignore"):
                z_long, z_short, baseline = reinforce(
                    current.z_long.astype(np.float64), current.z_short.astype(np.float64), current.baseline,
                    reward, items, probabilities, chosen, config)
                z_long, z_short = z_long.astype(np.float32), z_short.astype(np.float32)
            if not (np.isfinite(z_long).all() and np.isfinite(z_short).all() and math.isfinite(baseline)):
                raise InvalidArgument("candidate_vectors", "the update would make the user vectors non-finite")
            stored = txn.put(current.evolve(z_long=z_long, z_short=z_short, baseline=baseline,
                                            updates=current.updates + 1))
            if request_id:
                txn.mark_applied(user_id, request_id)
            return stored.evolve(known=current.known)  # known=False here: this update created the user

        with request_context(request.context), _bound(user_id):
            state = await self._write(step)
            if not state.known:
                log.info("user_created", reason="update_from_reward")
            log.debug("user_updated", reward=reward, candidates=len(items), chosen=chosen, updates=state.updates,
                      baseline=state.baseline)
            return to_message(state.evolve(known=True))

    async def reset_session(self, request: uservec_pb2.ResetRequest) -> uservec_pb2.UserVectors:
        """Zero the user's z_short (a new session); z_long, baseline and the count stay."""
        user_id = self._user_id(request.user_id)

        def step(txn: Txn) -> UserState:
            current = txn.get(user_id)
            if current is None:
                raise NotFound(f"unknown user {user_id!r}")
            return txn.put(current.evolve(z_short=np.zeros_like(current.z_short)))

        with _bound(user_id):
            state = await self._write(step)
            log.info("session_reset")
            return to_message(state)

    async def reset_user(self, request: uservec_pb2.ResetRequest) -> uservec_pb2.UserVectors:
        """Forget the user; returns the new-user defaults (known=False) the user would now start from."""
        user_id = self._user_id(request.user_id)

        def step(txn: Txn) -> UserState:
            if not txn.delete(user_id):
                raise NotFound(f"unknown user {user_id!r}")
            return txn.defaults(user_id)

        with _bound(user_id):
            state = await self._write(step)
            log.info("user_reset")
            return to_message(state)

    async def restore_user(self, request: uservec_pb2.RestoreUserRequest) -> uservec_pb2.UserVectors:
        """Write a saved state back exactly and forget the user's applied request ids; known=False forgets
        the user."""
        saved = request.state
        user_id = self._user_id(saved.user_id)
        if saved.known:
            restored = UserState(user_id, self._saved_vector(saved.z_long, "state.z_long"),
                                 self._saved_vector(saved.z_short, "state.z_short"), saved.baseline, saved.updates)
            if not math.isfinite(restored.baseline) or restored.updates < 0:
                raise InvalidArgument("state", "baseline must be finite and updates not negative")

        def step(txn: Txn) -> UserState:
            if not saved.known:
                txn.delete(user_id)
                return txn.defaults(user_id)
            txn.forget_applied(user_id)
            return txn.put(restored)

        with _bound(user_id):
            state = await self._write(step)
            log.info("user_restored", known=saved.known, updates=state.updates)
            return to_message(state)

    def _saved_vector(self, vector: common_pb2.Vector, field: str) -> np.ndarray:
        values = np.array(vector.values, dtype=np.float32)
        if values.shape != (self.config.dim,):
            raise InvalidArgument(field, f"has {values.size} values; this service's dimension is {self.config.dim}")
        if not np.isfinite(values).all():
            raise InvalidArgument(field, "must be finite")
        return values

    # ---- validation -------------------------------------------------------

    def _user_id(self, user_id: str) -> str:
        return check_id("user_id", user_id, self.settings.max_user_id_chars)

    @staticmethod
    def _request_id(request_id: str) -> str:
        if len(request_id) > 128:
            raise InvalidArgument("request_id", f"is {len(request_id)} characters long; at most 128 are allowed")
        return request_id

    @staticmethod
    def _reward(reward: float) -> float:
        if not math.isfinite(reward):
            raise InvalidArgument("reward", f"must be a finite number, got {reward}")
        if not -1.0 <= reward <= 1.0:
            raise InvalidArgument("reward", f"{reward} is out of range -1..1")
        return float(reward)

    def _candidates(self, request: uservec_pb2.UpdateFromRewardRequest) -> tuple[np.ndarray, np.ndarray, list[int]]:
        dim = self.config.dim
        count = len(request.candidate_vectors)
        for i, vector in enumerate(request.candidate_vectors):
            if len(vector.values) != dim:
                raise InvalidArgument(f"candidate_vectors[{i}]", f"has {len(vector.values)} values; the user "
                                      f"vectors have dimension {dim}")
        items = np.array([vector.values for vector in request.candidate_vectors], dtype=np.float64).reshape(
            count, dim)
        if count and not np.isfinite(items).all():
            bad = int(np.flatnonzero(~np.isfinite(items).all(axis=1))[0])
            raise InvalidArgument(f"candidate_vectors[{bad}]", "values must be finite")

        probabilities = np.array(request.probabilities, dtype=np.float64)
        if len(probabilities) != count:
            raise InvalidArgument("probabilities", f"has {len(probabilities)} values for {count} candidates")
        if count:
            bad = np.flatnonzero(~np.isfinite(probabilities) | (probabilities < 0))
            if len(bad):
                raise InvalidArgument(f"probabilities[{int(bad[0])}]",
                                      f"{probabilities[bad[0]]} is not a probability (finite, >= 0)")
            total = float(probabilities.sum())
            if abs(total - 1.0) > PROBABILITY_SUM_TOLERANCE:
                raise InvalidArgument("probabilities", f"sum to {total:.6g}, not 1")

        chosen = list(request.chosen)
        seen: set[int] = set()
        for i, index in enumerate(chosen):
            if not 0 <= index < count:
                raise InvalidArgument(f"chosen[{i}]", f"index {index} is out of range 0..{count - 1}"
                                      if count else f"index {index} given, but there are no candidates")
            if index in seen:
                raise InvalidArgument(f"chosen[{i}]", f"index {index} is given twice")
            seen.add(index)
        return items, probabilities, chosen

    # ---- store access off the event loop ---------------------------------

    def _check_ready(self) -> UserVecStore:
        if not self.ready or self.store is None:
            raise Unavailable("user-vector store is not open")
        return self.store

    async def _read(self, fn: Callable[[UserVecStore], T]) -> T:
        store = self._check_ready()
        return await asyncio.get_running_loop().run_in_executor(self._reader, fn, store)

    async def _write(self, op: Callable[[Txn], T]) -> T:
        """Run ``op`` in a write transaction, grouped with other writes waiting at the same time."""
        self._check_ready()
        future = asyncio.get_running_loop().create_future()
        self._pending.append((op, future))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush())
        return await future

    async def _flush(self) -> None:
        loop = asyncio.get_running_loop()
        while self._pending:
            limit = self.settings.max_write_batch
            batch, self._pending = self._pending[:limit], self._pending[limit:]
            # A caller that gave up before its write started gets nothing written.
            batch = [(op, future) for op, future in batch if not future.done()]
            if not batch:
                continue
            try:
                results = await loop.run_in_executor(self._writer, self.store.apply, [op for op, _ in batch])
            except Exception as err:  # noqa: BLE001 - the commit failed: nothing of the batch is stored
                log.exception("uservec_commit_failed", batch=len(batch))
                for _, future in batch:
                    if not future.done():
                        future.set_exception(Unavailable(f"user-vector store write failed: {err}"))
                continue
            for (_, future), result in zip(batch, results, strict=True):
                if future.done():
                    continue
                if isinstance(result, Exception):
                    future.set_exception(result)
                else:
                    future.set_result(result)


@contextmanager
def _bound(user_id: str) -> Iterator[None]:
    with structlog.contextvars.bound_contextvars(user_id=user_id):
        yield


async def build(context) -> UserVectorService:
    """The registry's factory: the SQLite file under the state directory unless ``db_path`` names one."""
    return UserVectorService(context.settings, context.state_dir, policy_from_env())
