"""SQLite store of user vectors: one row per user, every change one atomic transaction.

The file is in WAL mode with ``synchronous=FULL``: a transaction that returned
from COMMIT is on disk, so an update that was acknowledged survives a crash of
the process (or of the machine). Every change is a read-modify-write inside
``BEGIN IMMEDIATE``, which takes the database's write lock before reading, so
parallel updates to one user, from several threads or several processes, are
serialized and none is lost.

Alongside the rows the store keeps the sum of every user's ``z_long`` (float64)
and the number of users, changed in the same transactions as the rows, so the
new-user default (the mean ``z_long`` of known users) costs O(dim), not a scan.

The calls are synchronous; the service runs them off its event loop. Each
thread gets its own connection.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TypeVar

import numpy as np

SCHEMA_VERSION = "1"

T = TypeVar("T")


class StoreError(RuntimeError):
    """The store cannot be opened as configured; the message says why and what to change."""


class DimensionMismatch(StoreError):
    pass


@dataclass(frozen=True)
class UserState:
    """One user's vectors (float32, shape [dim]) and counters."""

    user_id: str
    z_long: np.ndarray
    z_short: np.ndarray
    baseline: float = 0.0
    updates: int = 0
    updated_at: float = 0.0
    # False: not stored; these are the new-user defaults.
    known: bool = True

    def evolve(self, **changes) -> UserState:
        return replace(self, **changes)


def _blob(vector: np.ndarray) -> bytes:
    return np.ascontiguousarray(vector, dtype="<f4").tobytes()


def _vector(blob: bytes, dim: int) -> np.ndarray:
    vector = np.frombuffer(blob, dtype="<f4")
    if vector.shape != (dim,):
        raise StoreError(f"stored vector has {vector.size} values, expected {dim}")
    return vector.astype(np.float32)


_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS users (
    user_id TEXT PRIMARY KEY,
    z_long BLOB NOT NULL,
    z_short BLOB NOT NULL,
    baseline REAL NOT NULL,
    updates INTEGER NOT NULL,
    updated_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS long_sum (
    id INTEGER PRIMARY KEY CHECK (id = 0),
    users INTEGER NOT NULL,
    total BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS applied (
    user_id TEXT NOT NULL,
    request_id TEXT NOT NULL,
    applied_at REAL NOT NULL,
    PRIMARY KEY (user_id, request_id)
);
CREATE INDEX IF NOT EXISTS applied_at ON applied (applied_at);
"""

# How long a request id is remembered, so a retried update is not applied twice.
APPLIED_RETENTION_S = 24 * 3600


class Txn:
    """Reads and writes inside one open write transaction (see ``UserVecStore.transaction``)."""

    def __init__(self, conn: sqlite3.Connection, dim: int):
        self.conn = conn
        self.dim = dim
        users, total = conn.execute("SELECT users, total FROM long_sum WHERE id = 0").fetchone()
        self.users = int(users)
        self.total = np.frombuffer(total, dtype="<f8").copy()
        self._sum_changed = False

    def get(self, user_id: str) -> UserState | None:
        return _select(self.conn, user_id, self.dim)

    def defaults(self, user_id: str) -> UserState:
        """The state a user not stored starts from."""
        return _defaults(user_id, self.users, self.total, self.dim)

    def get_or_default(self, user_id: str) -> UserState:
        return self.get(user_id) or self.defaults(user_id)

    def put(self, state: UserState) -> UserState:
        """Insert or replace the user's row; returns the stored state."""
        z_long = np.asarray(state.z_long, dtype=np.float32)
        z_short = np.asarray(state.z_short, dtype=np.float32)
        if z_long.shape != (self.dim,) or z_short.shape != (self.dim,):
            raise ValueError(f"vectors must have shape ({self.dim},)")
        if not (np.isfinite(z_long).all() and np.isfinite(z_short).all() and np.isfinite(state.baseline)):
            raise ValueError("user vectors and baseline must be finite")
        old = self.conn.execute("SELECT z_long FROM users WHERE user_id = ?", (state.user_id,)).fetchone()
        stored = state.evolve(z_long=z_long, z_short=z_short, updated_at=time.time(), known=True,
                              baseline=float(state.baseline), updates=int(state.updates))
        self.conn.execute(
            "INSERT INTO users (user_id, z_long, z_short, baseline, updates, updated_at) VALUES (?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (user_id) DO UPDATE SET z_long = excluded.z_long, z_short = excluded.z_short, "
            "baseline = excluded.baseline, updates = excluded.updates, updated_at = excluded.updated_at",
            (stored.user_id, _blob(z_long), _blob(z_short), stored.baseline, stored.updates, stored.updated_at))
        self.total += z_long.astype(np.float64)
        if old is None:
            self.users += 1
        else:
            self.total -= _vector(old[0], self.dim).astype(np.float64)
        self._sum_changed = True
        return stored

    def applied(self, user_id: str, request_id: str) -> bool:
        """True when the update with this request id was already applied (a retry)."""
        return self.conn.execute("SELECT 1 FROM applied WHERE user_id = ? AND request_id = ?",
                                 (user_id, request_id)).fetchone() is not None

    def mark_applied(self, user_id: str, request_id: str) -> None:
        now = time.time()
        self.conn.execute("INSERT INTO applied (user_id, request_id, applied_at) VALUES (?, ?, ?)",
                          (user_id, request_id, now))
        self.conn.execute("DELETE FROM applied WHERE applied_at < ?", (now - APPLIED_RETENTION_S,))

    def forget_applied(self, user_id: str) -> None:
        self.conn.execute("DELETE FROM applied WHERE user_id = ?", (user_id,))

    def delete(self, user_id: str) -> bool:
        self.forget_applied(user_id)
        old = self.conn.execute("DELETE FROM users WHERE user_id = ? RETURNING z_long", (user_id,)).fetchone()
        if old is None:
            return False
        self.users -= 1
        self.total -= _vector(old[0], self.dim).astype(np.float64)
        if self.users == 0:
            self.total[:] = 0.0  # no drift carried over to the next first user
        self._sum_changed = True
        return True

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        """A nested step: on an exception its changes (rows and sum) are undone, the transaction goes on."""
        users, total, changed = self.users, self.total.copy(), self._sum_changed
        self.conn.execute("SAVEPOINT step")
        try:
            yield
        except BaseException:
            self.conn.execute("ROLLBACK TO step")
            self.conn.execute("RELEASE step")
            self.users, self.total, self._sum_changed = users, total, changed
            raise
        self.conn.execute("RELEASE step")

    def _flush(self) -> None:
        if self._sum_changed:
            self.conn.execute("UPDATE long_sum SET users = ?, total = ? WHERE id = 0",
                              (self.users, self.total.astype("<f8").tobytes()))


def _select(conn: sqlite3.Connection, user_id: str, dim: int) -> UserState | None:
    row = conn.execute("SELECT z_long, z_short, baseline, updates, updated_at FROM users WHERE user_id = ?",
                       (user_id,)).fetchone()
    if row is None:
        return None
    return UserState(user_id, _vector(row[0], dim), _vector(row[1], dim), float(row[2]), int(row[3]),
                     float(row[4]))


def _defaults(user_id: str, users: int, total: np.ndarray, dim: int) -> UserState:
    z_long = (total / users).astype(np.float32) if users > 0 else np.zeros(dim, np.float32)
    return UserState(user_id, z_long, np.zeros(dim, np.float32), known=False)


class UserVecStore:
    """User vectors of one dimension in one SQLite file."""

    def __init__(self, path: Path | str, dim: int, busy_timeout_s: float = 30.0):
        self.path = Path(path)
        self.dim = dim
        self.busy_timeout_s = busy_timeout_s
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._closed = False
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._check_intact()
            self._init_schema()
        except sqlite3.DatabaseError as err:
            self.close()
            raise StoreError(f"{self.path} is not an intact user-vector store ({err}); it is not served from. "
                             "Restore it from a backup, or move it away to start with no users") from None

    def _check_intact(self) -> None:
        """SQLite's quick_check over every page: a damaged file is refused at start, not served from."""
        problems = [row[0] for row in self._conn().execute("PRAGMA quick_check").fetchall()]
        if problems != ["ok"]:
            raise sqlite3.DatabaseError("; ".join(problems[:3]))

    # ---- connections ------------------------------------------------------

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            return conn
        if self._closed:
            raise StoreError(f"store {self.path} is closed")
        conn = sqlite3.connect(self.path, timeout=self.busy_timeout_s, isolation_level=None,
                               check_same_thread=False)
        try:
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if mode.lower() != "wal":
                raise StoreError(f"{self.path}: SQLite refused WAL mode (got {mode!r}); use a local file system")
            conn.execute("PRAGMA synchronous = FULL")
            conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout_s * 1000)}")
        except BaseException:
            conn.close()
            raise
        with self._lock:
            self._connections.append(conn)
        self._local.conn = conn
        return conn

    def _init_schema(self) -> None:
        conn = self._conn()
        with self._write(conn):
            # executescript would COMMIT; run the statements one by one inside the transaction.
            for statement in filter(str.strip, _SCHEMA.split(";")):
                conn.execute(statement)
            rows = dict(conn.execute("SELECT key, value FROM meta").fetchall())
            if "dim" not in rows:
                conn.executemany("INSERT INTO meta (key, value) VALUES (?, ?)",
                                 [("dim", str(self.dim)), ("schema_version", SCHEMA_VERSION)])
                conn.execute("INSERT INTO long_sum (id, users, total) VALUES (0, 0, ?)",
                             (np.zeros(self.dim, "<f8").tobytes(),))
            elif int(rows["dim"]) != self.dim:
                raise DimensionMismatch(
                    f"{self.path} holds user vectors of dimension {rows['dim']}, but the configured dimension is "
                    f"{self.dim}: set ATTUNE_POLICY_DIM={rows['dim']}, or point ATTUNE_USERVEC_DB_PATH at "
                    "another file")
            elif rows.get("schema_version") != SCHEMA_VERSION:
                raise StoreError(f"{self.path} has schema version {rows.get('schema_version')!r}; this build "
                                 f"reads version {SCHEMA_VERSION}")

    @contextmanager
    def _write(self, conn: sqlite3.Connection) -> Iterator[None]:
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    @contextmanager
    def transaction(self) -> Iterator[Txn]:
        """One write transaction: it holds the write lock from the first read to COMMIT."""
        conn = self._conn()
        with self._write(conn):
            txn = Txn(conn, self.dim)
            yield txn
            txn._flush()

    def close(self) -> None:
        self._closed = True
        with self._lock:
            connections, self._connections = self._connections, []
        for conn in connections:
            conn.close()
        self._local = threading.local()

    # ---- reads ------------------------------------------------------------

    def get(self, user_id: str) -> UserState | None:
        return _select(self._conn(), user_id, self.dim)

    def get_or_default(self, user_id: str) -> UserState:
        """The stored state, or (known=False) the new-user defaults; one read snapshot, nothing written."""
        conn = self._conn()
        conn.execute("BEGIN")
        try:
            state = _select(conn, user_id, self.dim)
            if state is None:
                state = self._defaults(conn, user_id)
        finally:
            conn.execute("COMMIT")
        return state

    def defaults(self, user_id: str = "") -> UserState:
        return self._defaults(self._conn(), user_id)

    def _defaults(self, conn: sqlite3.Connection, user_id: str) -> UserState:
        users, total = conn.execute("SELECT users, total FROM long_sum WHERE id = 0").fetchone()
        return _defaults(user_id, int(users), np.frombuffer(total, dtype="<f8"), self.dim)

    def count(self) -> int:
        return int(self._conn().execute("SELECT users FROM long_sum WHERE id = 0").fetchone()[0])

    def all_z_long(self) -> dict[str, np.ndarray]:
        """Every stored z_long (for checks and tools; a full scan)."""
        rows = self._conn().execute("SELECT user_id, z_long FROM users").fetchall()
        return {user_id: _vector(blob, self.dim) for user_id, blob in rows}

    # ---- writes -----------------------------------------------------------

    def update(self, user_id: str, step: Callable[[UserState], UserState]) -> UserState:
        """Atomically replace the user's state by ``step(current)``; an unknown user starts from the defaults."""
        with self.transaction() as txn:
            return txn.put(step(txn.get_or_default(user_id)))

    def delete(self, user_id: str) -> bool:
        with self.transaction() as txn:
            return txn.delete(user_id)

    def apply(self, ops: Sequence[Callable[[Txn], T]]) -> list[T | Exception]:
        """Run several operations in one transaction (one commit, one fsync).

        Each runs in its own savepoint: one that raises is undone and its
        exception takes its place in the result, the others still commit. If
        the commit itself fails, the whole call raises and nothing is stored.
        """
        results: list[T | Exception] = []
        with self.transaction() as txn:
            for op in ops:
                try:
                    with txn.savepoint():
                        results.append(op(txn))
                except Exception as err:  # noqa: BLE001 - returned to the op's caller
                    results.append(err)
        return results
