"""Input checks shared by every entry point.

Each check raises one ``ValueError``/``TypeError`` that names the offending argument, says what
was wrong and what is accepted, so a user never has to read a traceback from deep inside numpy.
"""

from __future__ import annotations

import numbers
import os
from collections.abc import Iterable
from typing import Any

import numpy as np

__all__ = [
    "check_n",
    "check_masks",
    "check_outputs",
    "check_positive_int",
    "check_choice",
    "check_seed",
    "check_memory",
    "memory_limit",
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
    """Turn ``seed`` (None, a non-negative int or a Generator) into a private
    ``numpy.random.Generator``: the one seed rule of every entry point (``explain``,
    ``explain_text``, the engines, the CLI). Nothing else is accepted: not ``1.7``, not ``"5"``,
    not ``True``.

    The global numpy RNG is never touched, so the same seed always gives the same result.

    Examples
    --------
    >>> int(check_seed(3).integers(10)) == int(check_seed(3).integers(10))
    True
    >>> check_seed(1.7)
    Traceback (most recent call last):
    TypeError: seed must be None, a non-negative integer or a numpy Generator, got float 1.7
    """
    if seed is None or isinstance(seed, np.random.Generator):
        return np.random.default_rng(seed)
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise TypeError(
            f"seed must be None, a non-negative integer or a numpy Generator, got "
            f"{type(seed).__name__} {seed!r}"
        )
    if seed < 0:
        raise ValueError(f"seed must be None, a non-negative integer or a numpy Generator, got {seed}")
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


def check_outputs(y: Any, m: int, name: str = "value_fn", *, finite: bool = True) -> np.ndarray:
    """``m`` outputs as real floats: what a value function returned for ``m`` masks, or a vector of
    samples. Complex values with a non-zero imaginary part are refused (never silently dropped);
    ``finite=False`` lets NaN/inf through for a caller that handles them."""
    if np.iscomplexobj(y):
        arr = np.asarray(y)
        if np.any(arr.imag != 0):
            first = arr.reshape(-1)[int(np.flatnonzero(arr.reshape(-1).imag)[0])]
            raise TypeError(
                f"{name} returned complex values (e.g. {complex(first)!r}); outputs must be real "
                "floats: take .real or abs() of the score yourself"
            )
        y = arr.real
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
    if finite and not np.all(np.isfinite(arr)):
        bad = np.flatnonzero(~np.isfinite(arr))
        raise ValueError(
            f"{name} returned {len(bad)} non-finite value(s) (NaN or inf), first at row {int(bad[0])}: "
            f"{arr[bad[0]]!r}; a value function must return finite floats"
        )
    return arr


def memory_limit() -> int | None:
    """This machine's physical memory in bytes (None where the OS does not say)."""
    try:
        return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    except (AttributeError, ValueError, OSError):
        return None


def _gib(nbytes: float) -> str:
    return f"{nbytes / 2**30:,.1f} GiB"


def check_memory(need: float, what: str) -> None:
    """Refuse up front a run that would need more than the machine's physical memory (it would
    otherwise die deep inside numpy with ``MemoryError``, or swap the machine to a halt).

    ``need`` is a lower estimate of the bytes ``what`` allocates at its peak.

    Examples
    --------
    >>> check_memory(1024, "a tiny run")
    >>> check_memory(2.0**80, "proxyspex with budget=10**21 at n=40")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ValueError: proxyspex with budget=10**21 at n=40 would need at least 1,125,899,906,842,624.0 GiB of memory, more than this machine has ...
    """
    limit = memory_limit()
    if limit is not None and need > limit:
        raise ValueError(
            f"{what} would need at least {_gib(need)} of memory, more than this machine has "
            f"({_gib(limit)}); lower the budget"
        )
