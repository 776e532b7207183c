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
import os
import sqlite3
import threading
import time
import warnings
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

    A path that cannot serve as a cache is refused at once, in one line, before any model is
    loaded: a folder, a file that is not SQLite, an SQLite file of another schema (it is never
    modified), a folder that cannot be created or written. A file this process may read but not
    write is opened read-only (with a warning): it serves the outputs it holds, new outputs are
    not kept.

    Parameters
    ----------
    path : str or Path
        The cache file (created with its folder if missing).
    timeout : float
        Seconds to wait for another writer's lock before giving up.
    read_only : bool, optional
        ``True``: never write; ``False``: refuse a file that cannot be written; ``None``
        (default): read-only, with a warning, when the file cannot be written.

    Attributes
    ----------
    read_only : bool
        Whether writes are skipped.

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
    >>> QueryCache(path, read_only=True).get("id1", [b"\\x80"])
    {b'\\x80': 1.5}
    """

    def __init__(
        self, path: str | Path, *, timeout: float = 60.0, read_only: bool | None = None
    ) -> None:
        self.path = Path(path).expanduser()
        self._lock = threading.Lock()
        self._timeout = float(timeout)
        self._conn: sqlite3.Connection | None = None
        shown = repr(str(self.path))
        if self.path.is_dir():
            raise IsADirectoryError(f"cache={shown} is a directory; give a file path, e.g. {str(self.path / 'queries.sqlite')!r}")
        exists = self.path.exists()
        if exists and not self.path.is_file():
            raise ValueError(f"cache={shown} is not a regular file; give a file path")
        if exists:
            _check_header(self.path)
        else:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise type(exc)(
                    f"cannot create the folder of cache={shown}: {exc.strerror or exc}"
                    + (" (a part of the path is a file)" if isinstance(exc, (FileExistsError, NotADirectoryError)) else "")
                ) from None
        self.read_only = bool(read_only)
        # SQLite opens a file it may not write read-only without a word and fails only at the
        # first write (the layer registers an identity even when every row is cached); WAL also
        # needs to create files beside it. Ask the file system first.
        writable = not exists or (
            os.access(self.path, os.W_OK) and os.access(self.path.parent, os.W_OK | os.X_OK)
        )
        if not exists and not read_only and not os.access(self.path.parent, os.W_OK | os.X_OK):
            raise PermissionError(
                f"cannot create cache={shown}: the folder {str(self.path.parent)!r} is not "
                "writable; give another --cache path"
            )
        if not writable and read_only is False:
            raise PermissionError(f"cache={shown} cannot be written (no write permission on it or its folder)")
        if not self.read_only and writable:
            try:
                self._conn = self._connect(uri=None)
                self._retry(self._setup)
                return
            except _NotWritable as exc:
                self.close()
                if not exists:
                    raise PermissionError(
                        f"cannot create cache={shown}: the folder {str(self.path.parent)!r} is not "
                        "writable; give another --cache path"
                    ) from None
                if read_only is False:
                    raise PermissionError(f"cache={shown} cannot be written ({exc})") from None
            except BaseException:
                self.close()
                raise
        self._open_read_only(shown, warn=not read_only)

    def _connect(self, uri: str | None) -> sqlite3.Connection:
        target, flags = (str(self.path), {}) if uri is None else (uri, {"uri": True})
        try:
            return sqlite3.connect(
                target, timeout=self._timeout, isolation_level=None, check_same_thread=False, **flags
            )
        except sqlite3.OperationalError as exc:
            raise _NotWritable(str(exc)) from None

    def _open_read_only(self, shown: str, *, warn: bool) -> None:
        base = self.path.resolve().as_uri()
        # mode=ro still needs the WAL index file beside a WAL database; immutable=1 reads a file
        # in a folder nobody may write (no other process can be writing it there either).
        for query in ("?mode=ro", "?mode=ro&immutable=1"):
            try:
                self._conn = self._connect(base + query)
                self._retry(self._check_schema, False)
                self._retry(lambda: self._conn.execute("SELECT 1 FROM queries LIMIT 1").fetchall())
                break
            except OSError:
                self.close()
            except BaseException:
                self.close()
                raise
        else:
            raise PermissionError(f"cache={shown} can be neither written nor read") from None
        self.read_only = True
        if warn:
            warnings.warn(
                f"cache={shown} is read-only: the outputs it holds are used, new outputs are not "
                "kept (make it writable, or give another --cache, to keep them)",
                stacklevel=3,
            )

    def _check_schema(self, create: bool) -> None:
        """Refuse an SQLite file that is not an interspect cache (before writing anything to it)."""
        c = self._conn
        assert c is not None
        tables = {r[0] for r in c.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        shown = repr(str(self.path))
        if tables and "queries" not in tables:
            raise ValueError(
                f"cache={shown} is an SQLite file of another program (tables: "
                f"{', '.join(sorted(tables))}), not an interspect query cache; give another path"
            )
        if not tables and not create:
            raise ValueError(f"cache={shown} is an empty SQLite file, not an interspect query cache")
        for table, cols in _COLUMNS.items():
            if table not in tables:
                continue
            have = [r[1] for r in c.execute(f"PRAGMA table_info({table})")]
            if set(have) != set(cols):
                raise ValueError(
                    f"cache={shown} has a table {table!r} of another schema (columns "
                    f"{', '.join(have)}; an interspect cache has {', '.join(cols)}); give another path"
                )

    def _setup(self) -> None:
        c = self._conn
        assert c is not None
        c.execute(f"PRAGMA busy_timeout = {int(self._timeout * 1000)}")
        self._check_schema(True)
        mode = c.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise _NotWritable(f"could not switch to WAL mode (got {mode})")
        # With WAL, NORMAL keeps every committed row across a process crash (only power loss
        # can lose the last transactions) and avoids an fsync per batch.
        c.execute("PRAGMA synchronous = NORMAL")
        c.executescript(_SCHEMA)

    def _retry(self, fn: Any, *args: Any) -> Any:
        # busy_timeout covers most contention; schema/WAL set-up by two fresh processes at the
        # same instant can still report "locked", so retry briefly.
        deadline = time.monotonic() + self._timeout
        delay = 0.01
        shown = repr(str(self.path))
        while True:
            try:
                with self._lock:
                    return fn(*args)
            except sqlite3.OperationalError as exc:
                text = str(exc)
                if "locked" not in text and "busy" not in text:
                    if any(w in text for w in ("readonly", "read-only", "unable to open", "disk I/O")):
                        raise _NotWritable(text) from None
                    raise OSError(f"cache={shown}: {text}") from None
                if time.monotonic() > deadline:
                    raise TimeoutError(
                        f"cache={shown} stayed locked by another process for {self._timeout:.0f} s"
                    ) from None
                time.sleep(delay)
                delay = min(delay * 2, 0.5)
            except sqlite3.DatabaseError as exc:
                raise ValueError(
                    f"cache={shown} is not a usable SQLite database ({exc}); give another path"
                ) from None

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
        if not rows or self.read_only:
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

        self._write(write)

    def _write(self, fn: Any) -> None:
        try:
            self._retry(fn)
        except _NotWritable as exc:
            raise PermissionError(f"cannot write to cache={str(self.path)!r}: {exc}") from None

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
        if self.read_only:
            return
        blob = json.dumps(description, sort_keys=True, ensure_ascii=False, default=str)
        self._write(
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
        if self.read_only:
            return
        self._write(
            lambda: self._conn.execute(
                "INSERT OR IGNORE INTO memo (key, value) VALUES (?, ?)", (key, value)
            )
        )

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def __enter__(self) -> QueryCache:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"QueryCache({str(self.path)!r}{', read_only=True' if self.read_only else ''})"


class _NotWritable(OSError):
    """SQLite could not open or write the file (permissions, a read-only file system)."""


_COLUMNS = {
    "queries": ("identity", "mask", "value"),
    "identities": ("identity", "description", "created"),
    "memo": ("key", "value"),
}
_MAGIC = b"SQLite format 3\x00"


def _check_header(path: Path) -> None:
    """Refuse a non-empty file that is not SQLite (SQLite itself only says "file is not a database")."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(len(_MAGIC))
    except OSError as exc:
        raise type(exc)(f"cannot read cache={str(path)!r}: {exc.strerror or exc}") from None
    if head and head != _MAGIC:
        raise ValueError(
            f"cache={str(path)!r} is not an SQLite file (an interspect query cache is one); give "
            "another path or remove the file"
        )
