"""Outputs that arrived before a failure travel on the exception, so nothing paid for is lost.

A model call that fails part-way (an endpoint that dies after 13 of 16 answers, a kill signal in
the middle of a batch) raises its usual one-line error, with the outputs it already has attached:
:func:`attach_partial` puts them on the exception (NaN where an output is missing, and, from the
value function, the masks they belong to); every level on the way up may reshape them
(:func:`map_partial`: a scorer turns label log-probabilities into a margin, the text value
function maps prompts back to masks) and re-raise the same exception; the query layer finally
writes the finite outputs to its cache and re-raises it. The error a caller sees is the original
one (e.g. ``ConnectionError``), so code that catches it keeps working. The attribute pickles with
the exception, so it survives executors that run batches in other processes.

Examples
--------
>>> import numpy as np
>>> try:
...     try:
...         raise attach_partial(ConnectionError("endpoint down"), np.array([[1.0, 0.5], [np.nan, np.nan]]))
...     except ConnectionError as exc:
...         raise map_partial(exc, lambda lp: lp[:, 0] - lp[:, 1])
... except ConnectionError as exc:
...     partial_of(exc)[0].tolist()
[0.5, nan]
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = ["attach_partial", "partial_of", "map_partial"]

_ATTR = "interspect_partial"


def attach_partial(exc: BaseException, outputs: Any, masks: Any = None) -> BaseException:
    """Attach ``outputs`` (NaN where missing) and optionally the ``masks`` they belong to; returns
    ``exc`` so that ``raise attach_partial(exc, ...)`` reads naturally."""
    out = np.asarray(outputs, dtype=float)
    m = None if masks is None else np.asarray(masks, dtype=np.uint8)
    try:
        setattr(exc, _ATTR, (out, m))
    except (AttributeError, TypeError):  # an exception type without a __dict__: nothing to keep
        pass
    return exc


def partial_of(exc: BaseException) -> tuple[np.ndarray, np.ndarray | None] | None:
    """``(outputs, masks or None)`` attached to ``exc``, or None."""
    value = getattr(exc, _ATTR, None)
    return value if isinstance(value, tuple) and len(value) == 2 else None


def map_partial(exc: BaseException, fn: Callable[[np.ndarray], Any]) -> BaseException:
    """Replace the attached outputs by ``fn(outputs)`` (masks unchanged); returns ``exc``."""
    found = partial_of(exc)
    if found is not None:
        attach_partial(exc, fn(found[0]), found[1])
    return exc
