"""The query layer: the one place in interspect where a value function is called.

Every engine (exact, SPEX, ProxySPEX, the baselines), every evaluation and ``explain`` asks for
model outputs through a :class:`Queries` object. It

- validates the masks it is given and hands the value function **a copy** of each batch, so a
  value function that writes into its input cannot corrupt an engine's samples;
- serves repeated masks and masks already in the SQLite cache without calling the value function,
  and commits every batch's outputs to the cache as soon as the batch returns (a killed run loses
  at most the batch in flight);
- validates every output (one real, finite float per mask) and keeps the finite outputs of a batch
  that also returned NaN/inf before it raises, and those a value function that failed part-way
  attached to its error (:mod:`interspect.queries.partial`) before it lets the error through;
- counts (``stats``), reports progress through the one ``progress`` convention and runs batches
  on an executor (:mod:`interspect.queries.executors`), the seam where other executors plug in.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from interspect.core.validation import check_masks, check_n, check_outputs, check_positive_int
from interspect.queries.cache import QueryCache
from interspect.queries.executors import Executor, resolve_executor
from interspect.queries.partial import partial_of
from interspect.queries.progress import Progress, ProgressArg

__all__ = ["Queries", "as_queries", "NonFiniteOutputError", "mask_keys", "default_batch_size", "DEDUP_MAX_N"]

#: ``explain`` remembers masks for de-duplication up to this many features (a key costs n/8
#: bytes per row; SPEX at n = 100,000 would need gigabytes of keys).
DEDUP_MAX_N = 4096


class NonFiniteOutputError(ValueError, FloatingPointError):
    """A value function returned NaN or inf for some masks (the finite outputs were kept)."""


def mask_keys(X: np.ndarray) -> list[bytes]:
    """One compact key per row of a 0/1 mask batch (``n`` is part of the cache identity, so packing
    is unambiguous); row ``i``'s key equals :func:`interspect.queries.cache.mask_key` of it."""
    packed = np.packbits(X, axis=1)
    return [row.tobytes() for row in packed]


def default_batch_size(n: int) -> int:
    """Rows per value-function call when nobody says: about 32 MB of uint8 masks, at least 256."""
    return int(max(256, (1 << 25) // max(n, 1)))


def _batch_size_of(value_fn: Any, n: int) -> int:
    own = getattr(value_fn, "batch_size", None)
    if isinstance(own, (int, np.integer)) and not isinstance(own, bool) and own > 0:
        return int(own)
    return default_batch_size(n)


class Queries:
    """A value function as the engines see it: masks ``(m, n)`` -> ``m`` floats, counted and cached.

    Parameters
    ----------
    value_fn : callable
        ``value_fn(X) -> y``: an ``(m, n)`` uint8 array of 0/1 masks (1 = feature kept) to ``m``
        real floats.
    n : int
        Number of features.
    cache : str, Path, QueryCache or None
        SQLite file (or open cache) that keeps every computed output; needs an identity.
    identity : str, optional
        What the cache files outputs under (default: ``value_fn.identity``). Two value functions
        with one identity must give the same outputs.
    executor : "serial" or executor object, optional
        Where batches run (default: in this process); see :mod:`interspect.queries.executors`.
    batch_size : int, optional
        Rows per value-function call and per cache commit (default: ``value_fn.batch_size`` if it
        has one, else about 32 MB of masks).
    progress : bool, callable or Progress
        The ``progress`` convention (:mod:`interspect.queries.progress`); stage ``"query"``.
    dedup : bool, optional
        Compute each distinct mask once per run (default: when a cache is used; ``explain`` turns
        it on for ``n <= 4096``, where keeping a key per mask is cheap).

    Attributes
    ----------
    stats : dict
        ``requested`` rows asked for, ``computed`` rows the value function computed,
        ``from_cache`` rows served from the cache, ``duplicates`` rows that repeated a mask
        already computed in this run.

    Examples
    --------
    >>> import numpy as np
    >>> calls = []
    >>> def f(X):
    ...     calls.append(len(X))
    ...     return X.sum(axis=1)
    >>> q = Queries(f, 3, dedup=True)
    >>> q(np.array([[1, 1, 0], [1, 1, 0], [0, 0, 1]])).tolist()
    [2.0, 2.0, 1.0]
    >>> q.stats
    {'requested': 3, 'computed': 2, 'from_cache': 0, 'duplicates': 1}
    """

    def __init__(
        self,
        value_fn: Callable[[np.ndarray], Any],
        n: int,
        *,
        cache: str | Path | QueryCache | None = None,
        identity: str | None = None,
        executor: str | Executor | None = None,
        batch_size: int | None = None,
        progress: ProgressArg | Progress = False,
        dedup: bool | None = None,
    ) -> None:
        if isinstance(value_fn, Queries):
            raise TypeError("value_fn is already a Queries object; use it directly (as_queries does)")
        if not callable(value_fn):
            raise TypeError(
                f"value_fn must be callable (masks of shape (m, n) -> m floats), got {type(value_fn).__name__}"
            )
        self.value_fn = value_fn
        self.n = check_n(n)
        self.executor = resolve_executor(executor)
        # An executor made here from its name (worker processes, say) is ours to shut down.
        self._owns_executor = isinstance(executor, str)
        self.batch_size = (
            _batch_size_of(value_fn, self.n)
            if batch_size is None
            else check_positive_int(batch_size, "batch_size")
        )
        self.progress = progress if isinstance(progress, Progress) else Progress(progress)
        self.cache = cache if isinstance(cache, QueryCache) or cache is None else QueryCache(cache)
        if identity is None:
            identity = getattr(value_fn, "identity", None)
        if self.cache is not None and not isinstance(identity, str):
            raise ValueError(
                "cache needs an identity to file outputs under: the value function has no string "
                "attribute `identity`; pass identity='...' (a hash of everything that determines "
                "an output)"
            )
        self.identity = identity
        if self.cache is not None:
            describe = getattr(value_fn, "describe", None)
            self.cache.register(identity, describe() if callable(describe) else {"n": self.n})
        self.dedup = self.cache is not None or bool(dedup)
        self._memo: dict[bytes, float] = {}
        self.stats = {"requested": 0, "computed": 0, "from_cache": 0, "duplicates": 0}
        self._expected = 0
        self._tick = None

    # -- counting and progress ---------------------------------------------------------------------
    @property
    def n_queries(self) -> int:
        """Rows asked for so far (what an engine spent, whether computed or served from the cache)."""
        return self.stats["requested"]

    def expect(self, rows: int) -> None:
        """Announce that at least ``rows`` more rows will be asked for (sets the bar's total, for an
        ETA); callers at several levels may announce the same rows, the largest announcement wins."""
        self._expected = max(self._expected, self.stats["requested"] + int(rows))

    def _report(self, done: int) -> None:
        if not self.progress.enabled:
            return
        if self._tick is None:
            self._tick = self.progress.stage("query", max(self._expected, done))
        self._tick(done, max(self._expected, done))

    # -- the call --------------------------------------------------------------------------------
    def __call__(self, X: Any) -> np.ndarray:
        """Outputs for masks ``X`` (``(m, n)`` 0/1, 1 = feature kept), one float per row."""
        X = check_masks(X, self.n)
        m = X.shape[0]
        start = self.stats["requested"]
        self.stats["requested"] += m
        self._expected = max(self._expected, self.stats["requested"])
        out = np.empty(m, dtype=float)
        if m == 0:
            return out
        if not self.dedup:
            self._compute(X, None, out, np.arange(m), start)
            return out
        keys = mask_keys(X)
        first: dict[bytes, int] = {}
        for i, k in enumerate(keys):
            first.setdefault(k, i)
        missing = [k for k in first if k not in self._memo]
        n_cached = 0
        if self.cache is not None and missing:
            cached = self.cache.get(self.identity, missing)
            n_cached = len(cached)
            self.stats["from_cache"] += n_cached
            self._memo.update(cached)
            missing = [k for k in missing if k not in cached]
        # Rows neither read from the cache nor computed now repeat a mask this run already has.
        self.stats["duplicates"] += m - n_cached - len(missing)
        if missing:
            rows = np.fromiter((first[k] for k in missing), dtype=np.int64, count=len(missing))
            self._compute(X[rows], missing, out, rows, start + m - len(missing))
        out[:] = [self._memo[k] for k in keys]
        self._report(start + m)
        return out

    def _compute(
        self, X: np.ndarray, keys: list[bytes] | None, out: np.ndarray, rows: np.ndarray, done: int
    ) -> None:
        """Run the value function on ``X`` in batches; write outputs to ``out[rows]``, memo, cache."""
        m = X.shape[0]
        bounds = [(s, min(m, s + self.batch_size)) for s in range(0, m, self.batch_size)]
        # Fancy indexing copies: each batch handed out is the value function's own array.
        batches = [X[s:e].copy() for s, e in bounds]
        try:
            for i, raw in self.executor.map(self.value_fn, batches):
                s, e = bounds[i]
                y = check_outputs(raw, e - s, finite=False)
                bad = ~np.isfinite(y)
                good = np.flatnonzero(~bad)
                if keys is not None:
                    self._keep(keys[s:e], y, good)
                out[rows[s:e]] = y
                self.stats["computed"] += len(good)
                done += e - s
                self._report(done)
                if bad.any():
                    j = int(np.flatnonzero(bad)[0])
                    kept = " in the cache" if self._keeps else ""
                    raise NonFiniteOutputError(
                        f"value function returned a non-finite score (NaN or inf) for {int(bad.sum())} of "
                        f"{e - s} masks in a batch, first {y[j]!r}; the {self.stats['computed']} outputs "
                        f"computed so far are kept{kept}; a value function must return finite floats"
                    )
        except NonFiniteOutputError:
            raise
        except BaseException as exc:
            # A batch that failed part-way (an endpoint that died after some answers, Ctrl-C):
            # keep the outputs that arrived, then let the original error through.
            self._keep_partial(exc)
            raise

    @property
    def _keeps(self) -> bool:
        """Whether computed outputs outlive this run (a cache that is not read-only)."""
        return self.cache is not None and not self.cache.read_only

    def _keep(self, batch_keys: list[bytes], y: np.ndarray, good: np.ndarray) -> None:
        pairs = [(batch_keys[j], float(y[j])) for j in good]
        if self.cache is not None:
            self.cache.put(self.identity, pairs)
        self._memo.update(pairs)

    def _keep_partial(self, exc: BaseException) -> None:
        """Store the finite outputs a failing value function attached to ``exc`` (see
        :mod:`interspect.queries.partial`) and say in its message how many outputs are kept."""
        found = partial_of(exc)
        kept = 0
        if found is not None and found[1] is not None and self.dedup:
            y, masks = found
            ok = masks.ndim == 2 and masks.shape[1] == self.n and y.shape == (masks.shape[0],)
            if ok:
                good = np.flatnonzero(np.isfinite(y))
                # A failure while writing the cache must not hide the original error.
                try:
                    self._keep(mask_keys(masks), y, good)
                    kept = len(good)
                except Exception:
                    kept = 0
                self.stats["computed"] += kept
        computed = self.stats["computed"]
        if not self._keeps or not isinstance(exc, Exception) or not computed:
            return
        args = exc.args
        if len(args) == 1 and isinstance(args[0], str) and "kept in the cache" not in args[0]:
            extra = f", {kept} of them from the failing batch" if kept else ""
            exc.args = (
                f"{args[0].rstrip()} [the {computed} outputs computed in this run are kept in the "
                f"cache{extra}; a rerun with the same cache computes only the rest]",
            )

    def close(self) -> None:
        """Close the progress bars and an executor made from its name (the cache stays open for the
        caller that opened it, an executor object for the caller that made it)."""
        self.progress.close()
        if self._owns_executor and callable(getattr(self.executor, "close", None)):
            self.executor.close()
        self._tick = None

    def __repr__(self) -> str:
        return f"Queries(n={self.n}, stats={self.stats}, executor={self.executor!r})"


def as_queries(
    value_fn: Callable[[np.ndarray], Any] | Queries,
    n: int,
    *,
    batch_size: int | None = None,
    progress: ProgressArg | Progress = False,
) -> Queries:
    """``value_fn`` itself when it already is a :class:`Queries` over ``n`` features (so its cache,
    counts and progress are shared), else a new in-process one (what engines call first)."""
    if isinstance(value_fn, Queries):
        if value_fn.n != n:
            raise ValueError(f"value_fn is a Queries object over n={value_fn.n} features, but n={n}")
        return value_fn
    return Queries(value_fn, n, batch_size=batch_size, progress=progress)
