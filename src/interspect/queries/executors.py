"""Executors: where the query layer runs a value function on a list of mask batches.

An executor has one method, ``map(value_fn, batches)``, that yields ``(index, outputs)`` pairs as
batches finish, in any order. The query layer alone validates outputs, writes the cache and reports
progress, so an executor only has to run batches: the in-process :class:`SerialExecutor` here,
and executors that spread batches over processes or a cluster beside it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np

__all__ = ["Executor", "SerialExecutor", "resolve_executor", "EXECUTORS"]


@runtime_checkable
class Executor(Protocol):
    """Runs a value function on batches of masks; see the module docstring."""

    def map(
        self, value_fn: Callable[[np.ndarray], Any], batches: Sequence[np.ndarray]
    ) -> Iterator[tuple[int, Any]]: ...


class SerialExecutor:
    """Runs every batch in this process, one after another, in order.

    Examples
    --------
    >>> import numpy as np
    >>> ex = SerialExecutor()
    >>> [(i, out.tolist()) for i, out in ex.map(lambda X: X.sum(axis=1), [np.eye(2, dtype=np.uint8)])]
    [(0, [1, 1])]
    """

    def map(
        self, value_fn: Callable[[np.ndarray], Any], batches: Sequence[np.ndarray]
    ) -> Iterator[tuple[int, Any]]:
        for i, X in enumerate(batches):
            yield i, value_fn(X)

    def __repr__(self) -> str:
        return "SerialExecutor()"


#: Names accepted by ``executor=`` wherever it is a parameter.
EXECUTORS = ("serial", "ray")


def resolve_executor(executor: Any) -> Executor:
    """``None``/``"serial"`` -> :class:`SerialExecutor`; an object with ``map`` is used as it is."""
    if executor is None or executor == "serial":
        return SerialExecutor()
    if executor == "ray":  # a pool of Ray actors on the cluster Ray finds or starts
        from interspect.queries.ray_executor import RayExecutor

        return RayExecutor()
    if isinstance(executor, str):
        raise ValueError(
            f"executor={executor!r} is not supported; accepted values: "
            f"{', '.join(map(repr, EXECUTORS))} or an object with a map(value_fn, batches) method"
        )
    if not callable(getattr(executor, "map", None)):
        raise TypeError(
            f"executor must be one of {', '.join(map(repr, EXECUTORS))} or an object with a "
            f"map(value_fn, batches) method, got {type(executor).__name__}"
        )
    return executor
