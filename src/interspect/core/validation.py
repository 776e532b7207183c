"""Input checks shared by every entry point.

Each check raises one ``ValueError``/``TypeError`` that names the offending argument, says what
was wrong and what is accepted, so a user never has to read a traceback from deep inside numpy.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

__all__ = [
    "check_n",
    "check_masks",
    "check_outputs",
    "check_positive_int",
    "check_choice",
    "check_seed",
    "call_value_fn",
]


def check_positive_int(value: Any, name: str, *, minimum: int = 1) -> int:
    """Return ``value`` as an int, or raise if it is not an integer ``>= minimum``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(
            f"{name} must be an integer >= {minimum}, got {type(value).__name__} {value!r}"
        )
    if value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value}")
    return int(value)


def check_n(n: Any, name: str = "n") -> int:
    """Validate the number of features."""
    return check_positive_int(n, name, minimum=1)


def check_choice(value: Any, name: str, choices: Iterable[str]) -> str:
    """Raise unless ``value`` is one of ``choices`` (case-sensitive)."""
    choices = tuple(choices)
    if value not in choices:
        raise ValueError(
            f"{name}={value!r} is not supported; accepted values: {', '.join(map(repr, choices))}"
        )
    return value


def check_seed(seed: Any) -> np.random.Generator:
    """Turn ``seed`` (None, int or Generator) into a private ``numpy.random.Generator``.

    The global numpy RNG is never touched, so the same seed always gives the same result.
    """
    if seed is None or isinstance(seed, np.random.Generator):
        return np.random.default_rng(seed)
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise TypeError(
            f"seed must be None, a non-negative integer or a numpy Generator, got {seed!r}"
        )
    return np.random.default_rng(int(seed))


def check_masks(X: Any, n: int | None = None, name: str = "X") -> np.ndarray:
    """Return ``X`` as a C-contiguous ``(m, n)`` uint8 array of 0/1 or raise.

    Accepts bool, integer or float arrays whose entries are exactly 0 or 1; a 1-d array is taken
    as a single mask.
    """
    arr = np.asarray(X)
    if arr.dtype == object:
        raise TypeError(f"{name} must be a numeric 0/1 array of shape (m, n), got dtype object")
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim != 2:
        raise ValueError(
            f"{name} must be a 2-d array of shape (m, n) (one mask per row), got shape {arr.shape}"
        )
    if n is not None and arr.shape[1] != n:
        raise ValueError(f"{name} must have n={n} columns (one per feature), got shape {arr.shape}")
    if arr.dtype == np.uint8 or arr.dtype == bool:
        out = arr.astype(np.uint8, copy=False)
        if arr.dtype == np.uint8 and arr.size and out.max() > 1:
            raise ValueError(
                f"{name} must contain only 0 and 1 (1 = feature kept), found value {int(out.max())}"
            )
        return np.ascontiguousarray(out)
    if not np.issubdtype(arr.dtype, np.number):
        raise TypeError(f"{name} must be a numeric 0/1 array, got dtype {arr.dtype}")
    if arr.size:
        bad = (arr != 0) & (arr != 1)
        if bad.any():
            raise ValueError(
                f"{name} must contain only 0 and 1 (1 = feature kept), found value {arr[bad].flat[0]!r}"
            )
    return np.ascontiguousarray(arr.astype(np.uint8))


def check_outputs(y: Any, m: int, name: str = "value_fn") -> np.ndarray:
    """Validate what a value function returned for ``m`` masks: ``m`` finite floats."""
    try:
        arr = np.asarray(y, dtype=float)
    except (TypeError, ValueError) as exc:
        raise TypeError(
            f"{name} must return {m} floats (one per mask), got {type(y).__name__}"
        ) from exc
    arr = arr.reshape(-1) if arr.ndim > 1 and arr.size == m else arr
    if arr.shape != (m,):
        raise ValueError(
            f"{name} must return an array of shape ({m},) (one float per mask), got shape {arr.shape}"
        )
    if not np.all(np.isfinite(arr)):
        bad = np.flatnonzero(~np.isfinite(arr))
        raise ValueError(
            f"{name} returned {len(bad)} non-finite value(s) (NaN or inf), first at row {int(bad[0])}: "
            f"{arr[bad[0]]!r}; a value function must return finite floats"
        )
    return arr


def call_value_fn(
    value_fn: Callable[[np.ndarray], Any],
    X: np.ndarray,
    *,
    batch_size: int | None = None,
    progress: Any = None,
) -> np.ndarray:
    """Evaluate ``value_fn`` on masks ``X`` in batches and validate every output.

    ``progress`` may be a callable ``progress(done, total)`` or a tqdm-like object with
    ``update``; it is called after each batch.
    """
    if not callable(value_fn):
        raise TypeError(
            f"value_fn must be callable (masks of shape (m, n) -> m floats), got {type(value_fn).__name__}"
        )
    m = X.shape[0]
    if m == 0:
        return np.zeros(0)
    step = m if batch_size is None else max(1, int(batch_size))
    out = np.empty(m, dtype=float)
    for start in range(0, m, step):
        stop = min(m, start + step)
        out[start:stop] = check_outputs(value_fn(X[start:stop]), stop - start)
        if progress is not None:
            if hasattr(progress, "update"):
                progress.update(stop - start)
            else:
                progress(stop, m)
    return out


class StageProgress:
    """The ``progress`` argument of the algorithms: ``True`` shows a tqdm bar per stage, a callable
    is called as ``progress(stage, done, total)``, ``False`` reports nothing.

    ``stage(name, total)`` returns the per-stage reporter ``(done, total) -> None`` (or None when
    nothing is reported); ``close()`` closes the bars.
    """

    def __init__(self, progress: Any, algorithm: str) -> None:
        if not (isinstance(progress, (bool, np.bool_)) or progress is None or callable(progress)):
            raise TypeError(f"progress must be True, False or a callable progress(stage, done, total), got {progress!r}")
        self.progress = False if progress is None else progress
        self.algorithm = algorithm
        self._bars: list[Any] = []

    def stage(self, name: str, total: int) -> Callable[[int, int], None] | None:
        progress = self.progress
        if progress is False:
            return None
        if progress is True:
            from tqdm.auto import tqdm

            bar = tqdm(total=total, desc=f"{self.algorithm} {name}", leave=False)
            self._bars.append(bar)

            def tick(done: int, tot: int) -> None:
                bar.update(done - bar.n)

            return tick
        return lambda done, tot: progress(name, done, tot)

    def close(self) -> None:
        for bar in self._bars:
            bar.close()
        self._bars.clear()
