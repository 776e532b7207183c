"""A query cache in SQLite: (value-function identity, mask) -> model output, never lost.

Rows are committed as soon as each batch of model calls returns, so a run killed at any point
(SIGKILL included) keeps everything computed before the batch in flight, and a restart with the
same cache file computes only what is missing. The file is in WAL mode, every write is one
``BEGIN IMMEDIATE`` transaction and readers never block writers, so several processes may share
one cache file. The identity is a hash of everything that determines an output (model, prompt,
segmentation, masking, scorer), so a changed setting never reuses stale numbers.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["QueryCache", "identity_hash", "mask_key", "SCHEMA_VERSION"]

SCHEMA_VERSION = 1
_CHUNK = 400  # SQLite's bound-parameter limit is 999 on old builds

_SCHEMA = """
CREATE TABLE IF NOT EXISTS queries (
    identity TEXT NOT NULL,
    mask BLOB NOT NULL,
    value REAL NOT NULL,
    PRIMARY KEY (identity, mask)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS identities (
    identity TEXT PRIMARY KEY,
    description TEXT NOT NULL,
    created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS memo (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"""


def identity_hash(settings: dict) -> str:
    """SHA-256 (hex) of the canonical JSON of ``settings``.

    Examples
    --------
    >>> identity_hash({"a": 1, "b": [2, 3]}) == identity_hash({"b": [2, 3], "a": 1})
    True
    >>> len(identity_hash({}))
    64
    """
    blob = json.dumps(
        {"schema": SCHEMA_VERSION, **settings}, sort_keys=True, ensure_ascii=False, default=str
    )
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def mask_key(row: np.ndarray) -> bytes:
    """Compact key of one 0/1 mask (n is part of the identity, so packing is unambiguous).

    Examples
    --------
    >>> import numpy as np
    >>> mask_key(np.array([1, 0, 1], dtype=np.uint8))
    b'\\xa0'
    """
    return np.packbits(np.asarray(row, dtype=np.uint8)).tobytes()


class QueryCache:
    """SQLite store of value-function outputs, safe for concurrent processes.

    Parameters
    ----------
    path : str or Path
        The cache file (created with its folder if missing).
    timeout : float
        Seconds to wait for another writer's lock before giving up.

    Examples
    --------
    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "q.sqlite")
    >>> c = QueryCache(path)
    >>> c.put("id1", [(b"\\x80", 1.5)])
    >>> c.get("id1", [b"\\x80", b"\\x00"])
    {b'\\x80': 1.5}
    >>> c.count("id1")
    1
    >>> c.close()
    """

    def __init__(self, path: str | Path, *, timeout: float = 60.0) -> None:
        self.path = Path(path).expanduser()
        if self.path.is_dir():
            raise IsADirectoryError(f"cache={str(self.path)!r} is a directory; give a file path")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._timeout = float(timeout)
        self._conn = sqlite3.connect(
            str(self.path), timeout=self._timeout, isolation_level=None, check_same_thread=False
        )
        self._retry(self._setup)

    def _setup(self) -> None:
        c = self._conn
        c.execute(f"PRAGMA busy_timeout = {int(self._timeout * 1000)}")
        mode = c.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise sqlite3.OperationalError(f"could not switch {self.path} to WAL mode (got {mode})")
        # With WAL, NORMAL keeps every committed row across a process crash (only power loss
        # can lose the last transactions) and avoids an fsync per batch.
        c.execute("PRAGMA synchronous = NORMAL")
        c.executescript(_SCHEMA)

    def _retry(self, fn: Any, *args: Any) -> Any:
        # busy_timeout covers most contention; schema/WAL set-up by two fresh processes at the
        # same instant can still report "locked", so retry briefly.
        deadline = time.monotonic() + self._timeout
        delay = 0.01
        while True:
            try:
                with self._lock:
                    return fn(*args)
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) and "busy" not in str(exc):
                    raise
                if time.monotonic() > deadline:
                    raise sqlite3.OperationalError(
                        f"cache {self.path} stayed locked by another process for {self._timeout:.0f} s"
                    ) from None
                time.sleep(delay)
                delay = min(delay * 2, 0.5)

    # -- rows ----------------------------------------------------------------------------------
    def get(self, identity: str, keys: Sequence[bytes]) -> dict[bytes, float]:
        """The cached outputs among ``keys`` for ``identity`` (missing keys are absent)."""
        out: dict[bytes, float] = {}
        keys = list(keys)
        for i in range(0, len(keys), _CHUNK):
            chunk = keys[i : i + _CHUNK]
            q = (
                "SELECT mask, value FROM queries WHERE identity = ? AND mask IN "
                f"({','.join('?' * len(chunk))})"
            )
            rows = self._retry(lambda q=q, chunk=chunk: self._conn.execute(q, [identity, *chunk]).fetchall())
            out.update({bytes(k): float(v) for k, v in rows})
        return out

    def put(self, identity: str, rows: Iterable[tuple[bytes, float]]) -> None:
        """Commit ``rows`` in one transaction (existing rows are kept: outputs are deterministic)."""
        rows = [(identity, k, float(v)) for k, v in rows]
        if not rows:
            return

        def write() -> None:
            c = self._conn
            c.execute("BEGIN IMMEDIATE")
            try:
                c.executemany(
                    "INSERT OR IGNORE INTO queries (identity, mask, value) VALUES (?, ?, ?)", rows
                )
                c.execute("COMMIT")
            except BaseException:
                c.execute("ROLLBACK")
                raise

        self._retry(write)

    def count(self, identity: str | None = None) -> int:
        """Number of cached rows (for one identity, or all)."""
        if identity is None:
            q, args = "SELECT COUNT(*) FROM queries", []
        else:
            q, args = "SELECT COUNT(*) FROM queries WHERE identity = ?", [identity]
        return int(self._retry(lambda: self._conn.execute(q, args).fetchone()[0]))

    # -- identities and memos --------------------------------------------------------------------
    def register(self, identity: str, description: dict) -> None:
        """Record what an identity stands for (for humans inspecting the file)."""
        blob = json.dumps(description, sort_keys=True, ensure_ascii=False, default=str)
        self._retry(
            lambda: self._conn.execute(
                "INSERT OR IGNORE INTO identities (identity, description, created) VALUES (?, ?, ?)",
                (identity, blob, time.time()),
            )
        )

    def memo_get(self, key: str) -> str | None:
        """A stored string (e.g. a generated target answer), or None."""
        row = self._retry(
            lambda: self._conn.execute("SELECT value FROM memo WHERE key = ?", (key,)).fetchone()
        )
        return None if row is None else str(row[0])

    def memo_put(self, key: str, value: str) -> None:
        self._retry(
            lambda: self._conn.execute(
                "INSERT OR IGNORE INTO memo (key, value) VALUES (?, ?)", (key, value)
            )
        )

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> QueryCache:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"QueryCache({str(self.path)!r})"
