"""Executors: where the query layer runs a value function on a list of mask batches.

An executor has one method, ``map(value_fn, batches)``, that yields ``(index, outputs)`` pairs as
batches finish, in any order. The query layer alone validates outputs, writes the cache and reports
progress, so an executor only has to run batches: the in-process :class:`SerialExecutor`, the
:class:`ProcessExecutor` that spreads them over worker processes on this machine, and executors
that spread them over a cluster beside them.
"""

from __future__ import annotations

import math
import multiprocessing
import os
import pickle
import sys
import weakref
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np

__all__ = ["Executor", "SerialExecutor", "ProcessExecutor", "resolve_executor", "EXECUTORS"]


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


# -- worker processes ------------------------------------------------------------------------------
# Module-level state and functions, so spawn/forkserver workers find them by import: each worker
# unpickles the value function once (in the pool's initializer), not once per task.
_WORKER_FN: Callable[[np.ndarray], Any] | None = None

_THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "VECLIB_MAXIMUM_THREADS")


def _init_worker(payload: bytes, threads: int | None) -> None:
    global _WORKER_FN
    if threads is not None:
        # Before the value function is unpickled (which imports its libraries), so OpenMP/BLAS
        # start with this many threads: n_jobs workers x all cores each would oversubscribe.
        for var in _THREAD_VARS:
            os.environ[var] = str(threads)
    _WORKER_FN = pickle.loads(payload)
    if threads is not None:
        from threadpoolctl import threadpool_limits

        threadpool_limits(limits=threads)
        if "torch" in sys.modules:
            sys.modules["torch"].set_num_threads(threads)


def _run_chunk(X: np.ndarray) -> np.ndarray:
    assert _WORKER_FN is not None, "worker started without a value function"
    return np.asarray(_WORKER_FN(X))


def _available_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _shutdown(pool: ProcessPoolExecutor) -> None:
    pool.shutdown(wait=True, cancel_futures=True)


class ProcessExecutor:
    """Runs batches in a pool of worker processes on this machine (``concurrent.futures``).

    Each batch is cut into chunks of rows (a value function's outputs are one per row, so a chunk
    is a batch of its own); chunks run in parallel and each batch is yielded once all its chunks
    are back. The value function is pickled once per :meth:`map` and unpickled once per worker; the
    pool stays up between calls with the same value function (an engine calls the query layer
    several times) and is shut down by :meth:`close`, ``with``, or when the executor is garbage
    collected. The query layer closes an executor it made from the name ``"process"``.

    Workers are started with ``spawn`` by default (no fork of a process that holds threads or a
    model), so the value function must be picklable: a module-level function or an instance of a
    module-level class. As with any spawn-based pool, a script that uses it must guard its entry
    point with ``if __name__ == "__main__":``.

    Parameters
    ----------
    n_jobs : int, optional
        Worker processes (default: the CPUs this process may run on).
    start_method : {"spawn", "forkserver", "fork"}
        How workers are started; ``"spawn"`` works on every platform.
    chunk_size : int, optional
        Rows per task (default: each batch cut into about ``4 * n_jobs`` chunks, for balance).
    threads_per_worker : int or None
        BLAS/OpenMP/torch threads in each worker (default 1: parallelism is across processes);
        ``None`` leaves the libraries' defaults.

    Examples
    --------
    >>> import numpy as np
    >>> from interspect.games import DummyGame
    >>> with ProcessExecutor(n_jobs=2) as ex:
    ...     out = dict(ex.map(DummyGame(3, active=(0, 2)), [np.eye(3, dtype=np.uint8), np.ones((2, 3), dtype=np.uint8)]))
    >>> [out[i].tolist() for i in sorted(out)]
    [[0.0, 0.0, 0.0], [1.0, 1.0]]
    """

    def __init__(
        self,
        n_jobs: int | None = None,
        *,
        start_method: Literal["spawn", "forkserver", "fork"] = "spawn",
        chunk_size: int | None = None,
        threads_per_worker: int | None = 1,
    ) -> None:
        from interspect.core.validation import check_choice, check_positive_int

        self.n_jobs = _available_cpus() if n_jobs is None else check_positive_int(n_jobs, "n_jobs")
        methods = multiprocessing.get_all_start_methods()
        self.start_method = check_choice(start_method, "start_method", methods)
        self.chunk_size = None if chunk_size is None else check_positive_int(chunk_size, "chunk_size")
        self.threads_per_worker = (
            None if threads_per_worker is None
            else check_positive_int(threads_per_worker, "threads_per_worker")
        )
        self._pool: ProcessPoolExecutor | None = None
        self._payload: bytes | None = None
        self._finalizer: Any = None

    def _pool_for(self, value_fn: Callable[[np.ndarray], Any]) -> ProcessPoolExecutor:
        try:
            payload = pickle.dumps(value_fn, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as exc:
            raise TypeError(
                "executor='process' ships the value function to worker processes by pickling, but "
                f"{type(value_fn).__name__} cannot be pickled ({exc}); use a module-level function "
                "or class instance, or executor='serial'"
            ) from exc
        if self._pool is None or payload != self._payload:
            self.close()
            ctx = multiprocessing.get_context(self.start_method)
            self._pool = ProcessPoolExecutor(
                max_workers=self.n_jobs, mp_context=ctx, initializer=_init_worker,
                initargs=(payload, self.threads_per_worker),
            )
            self._payload = payload
            self._finalizer = weakref.finalize(self, _shutdown, self._pool)
        return self._pool

    def map(
        self, value_fn: Callable[[np.ndarray], Any], batches: Sequence[np.ndarray]
    ) -> Iterator[tuple[int, Any]]:
        if not batches:
            return
        pool = self._pool_for(value_fn)
        chunks: dict[Future, tuple[int, int]] = {}
        parts: list[list[Any]] = []
        for i, X in enumerate(batches):
            m = len(X)
            size = self.chunk_size or max(1, math.ceil(m / (4 * self.n_jobs)))
            starts = list(range(0, m, size)) or [0]
            parts.append([None] * len(starts))
            for j, s in enumerate(starts):
                chunks[pool.submit(_run_chunk, X[s : s + size])] = (i, j)
        pending = set(chunks)
        try:
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for fut in done:
                    i, j = chunks[fut]
                    parts[i][j] = fut.result()
                    if all(p is not None for p in parts[i]):
                        yield i, np.concatenate([np.asarray(p, dtype=float).reshape(-1) for p in parts[i]])
        except BrokenProcessPool as exc:
            self.close()
            raise RuntimeError(
                "a worker process of executor='process' died (killed, out of memory, or the value "
                "function crashed the interpreter); outputs returned so far are kept by the query layer"
            ) from exc
        finally:
            for fut in pending:
                fut.cancel()

    def close(self) -> None:
        """Shut the worker processes down (a later :meth:`map` starts new ones)."""
        if self._finalizer is not None:
            self._finalizer()
        self._pool = self._payload = self._finalizer = None

    def __enter__(self) -> ProcessExecutor:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __getstate__(self) -> dict:
        # A pool does not travel; a copy starts its own.
        state = self.__dict__.copy()
        state.update(_pool=None, _payload=None, _finalizer=None)
        return state

    def __repr__(self) -> str:
        return f"ProcessExecutor(n_jobs={self.n_jobs}, start_method={self.start_method!r})"


#: Names accepted by ``executor=`` wherever it is a parameter.
EXECUTORS = ("serial", "process", "ray")


def resolve_executor(executor: Any) -> Executor:
    """``None``/``"serial"`` -> :class:`SerialExecutor`; ``"process"`` -> :class:`ProcessExecutor`
    over all available CPUs; an object with ``map`` is used as it is."""
    if executor is None or executor == "serial":
        return SerialExecutor()
    if executor == "process":
        return ProcessExecutor()
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
