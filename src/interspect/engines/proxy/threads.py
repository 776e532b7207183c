"""Independent fits side by side in threads (``n_jobs``).

ProxySPEX's work at a given budget is a handful of independent pipelines — the tree searches at
each depth and their candidate configurations, and each cross-fitting fold's tree fit and
selection. Giving each its own thread beats giving one tree fit many threads: at a few thousand
samples a boosting round is too short for the tree library's OpenMP threads to pay off, while
LightGBM, XGBoost and numpy's LAPACK release the GIL for the length of their calls. Threads, not
processes: the samples are shared, nothing is pickled, and a thread starts in microseconds.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from typing import Any, TypeVar

__all__ = ["Split", "blas_threads"]

T = TypeVar("T")
R = TypeVar("R")


class Split:
    """``n_jobs`` threads (default 1) shared among ``tasks`` independent tasks: ``workers``
    threads run tasks, each task's own library calls get ``per_task`` threads (the product stays
    within ``n_jobs``). A context manager: leaving it waits for running tasks and cancels queued
    ones, so limits entered around it (BLAS threads) hold until every task is done.

    Examples
    --------
    >>> with Split(4, tasks=3) as sp:
    ...     sp.workers, sp.per_task, sp.map(lambda v: v * v, [1, 2, 3])
    (3, 1, [1, 4, 9])
    >>> Split(1, tasks=5).workers, Split(8, tasks=2).per_task
    (1, 4)
    """

    def __init__(self, n_jobs: int | None, *, tasks: int) -> None:
        n_jobs = max(1, n_jobs or 1)
        self.workers = max(1, min(n_jobs, tasks))
        self.per_task = max(1, n_jobs // self.workers)
        self._pool: ThreadPoolExecutor | None = None

    def __enter__(self) -> Split:
        if self.workers > 1:
            self._pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="interspect-fit")
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def map(self, fn: Callable[[T], R], items: Iterable[T]) -> list[R]:
        """``[fn(item) for item in items]``, in order; side by side when there are workers. The
        first failed task's exception (in item order) is raised; leaving the context then cancels
        the tasks not yet started and waits for the running ones."""
        if self._pool is None:
            return [fn(item) for item in items]
        return list(self._pool.map(fn, items))

    def submit(self, fn: Callable[[], R]) -> Callable[[], R]:
        """Start ``fn()``; returns what waits for its result (runs it at once without workers)."""
        if self._pool is None:
            out = fn()
            return lambda: out
        return self._pool.submit(fn).result


_CONTROLLER: Any = None
_CONTROLLER_LOCK = threading.Lock()


def blas_threads(limit: int) -> AbstractContextManager[Any]:
    """At most ``limit`` BLAS threads inside the ``with`` block (process-wide, as BLAS's own
    setting is). The loaded libraries are found once per process: ``threadpool_limits`` looks
    for them on every entry, which showed in profiles of fits at a few hundred samples.

    Examples
    --------
    >>> with blas_threads(1):
    ...     pass
    """
    global _CONTROLLER
    with _CONTROLLER_LOCK:
        if _CONTROLLER is None:
            from threadpoolctl import ThreadpoolController

            _CONTROLLER = ThreadpoolController()
    return _CONTROLLER.limit(limits=max(1, int(limit)), user_api="blas")
