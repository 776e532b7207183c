"""A Ray executor: mask batches run on a pool of Ray actors (or Ray tasks) on a cluster.

``Queries(..., executor=RayExecutor(...))`` (or ``executor="ray"``) sends each batch of masks to a
Ray worker and streams the outputs back as batches finish. The driver stays the only process that
validates outputs, writes the SQLite cache and reports progress (the query layer does that), so
no two machines ever write one cache file.

Two ways to run a batch:

- **actors** (default): a pool of long-lived actors, each holding its own replica of the value
  function. The value function is shipped to the object store once per run and unpickled once
  per actor (a language model backend pickles as a reference and is loaded once per actor
  process); or each actor builds it once with ``factory()``. ``num_cpus``/``num_gpus`` are
  per actor, so ``num_gpus=1`` gives each replica its own GPU.
- **tasks**: one stateless Ray task per batch, for plain picklable functions that hold no model
  (e.g. retraining a small model on a training subset per mask).

An actor (or task worker) that dies has its unfinished batches resubmitted, to a fresh actor
started in its place, so the run completes with nothing lost; each batch may be retried
``max_retries`` times. An exception raised by the value function itself is not retried: it
reaches the caller as it would in-process. Outputs are whatever the value function returned for
the same batch the query layer would have run in-process, so the same seed gives a bit-identical
result to the serial executor (for a deterministic value function: one whose output depends only
on the mask, not on the process or the thread count).

Ray comes with the ``ray`` extra (``pip install 'interspect[ray]'``) and is imported only when
batches are first run.
"""

from __future__ import annotations

import os
import threading
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Literal

import numpy as np

from interspect.core.validation import check_choice, check_positive_int

__all__ = ["RayExecutor"]

_INSTALL_HINT = "pip install 'interspect[ray]'"


def _import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise ImportError(
            f"executor='ray' needs Ray, which is not installed; install it with `{_INSTALL_HINT}`"
        ) from None
    return ray


def _system_errors(ray: Any) -> tuple[type[BaseException], ...]:
    """The errors that mean the worker (not the value function) failed: the batch is resubmitted."""
    ex = ray.exceptions
    names = ("RayActorError", "WorkerCrashedError", "ObjectLostError", "OwnerDiedError",
             "NodeDiedError", "LocalRayletDiedError", "OutOfMemoryError")  # fmt: skip
    return tuple(getattr(ex, n) for n in names if isinstance(getattr(ex, n, None), type))


class _Replica:
    """The body of one Ray actor: holds value functions, loaded once each, and runs batches."""

    #: Value functions kept per actor (``explain_many`` ships one per input; older ones go).
    KEEP = 8

    def __init__(self, factory: Callable[[], Any] | None, threads: int | None) -> None:
        if threads is not None:
            # One replica per core: a torch model must not spawn a thread per core in every actor.
            try:
                import torch

                torch.set_num_threads(threads)
            except ImportError:
                pass
        self._factory = factory
        self._fns: dict[str, Any] = {}

    def _get(self, key: str, boxed: list) -> Any:
        fn = self._fns.get(key)
        if fn is None:
            if self._factory is not None:
                fn = self._factory()
            else:
                import ray

                fn = ray.get(boxed[0])  # unpickled once per actor, not once per batch
            if len(self._fns) >= self.KEEP:
                self._fns.pop(next(iter(self._fns)))
            self._fns[key] = fn
        return fn

    def run(self, key: str, boxed: list, X: np.ndarray) -> Any:
        return self._get(key, boxed)(X)

    def pid(self) -> int:
        return os.getpid()


def _run_task(fn: Any, X: np.ndarray) -> Any:
    return fn(X)


class RayExecutor:
    """Runs the query layer's mask batches on Ray actors (or tasks); see the module docstring.

    Parameters
    ----------
    address : str, optional
        The cluster to connect to (``"auto"``, ``"ray://head:10001"``, ...) when Ray is not yet
        initialised in this process; ``None`` connects to ``$RAY_ADDRESS`` or starts a local
        cluster. An already initialised Ray is used as it is.
    mode : {"actors", "tasks"}
        A pool of actors that each hold a replica (for models), or one task per batch (for plain
        picklable functions).
    num_actors : int, optional
        Actors in the pool (default: as many as the cluster's CPUs, or GPUs when ``num_gpus > 0``,
        allow at ``num_cpus``/``num_gpus`` each). In ``"tasks"`` mode: tasks in flight.
    num_cpus, num_gpus : float
        Ray resources per actor (or per task). ``num_gpus=1`` pins each replica to its own GPU.
    threads : int, optional
        Torch threads per actor (default: ``num_cpus`` rounded up, at least 1).
    factory : callable, optional
        Picklable ``factory() -> value function``, called once per actor (for example one that
        loads a model on the actor's GPU). The driver's value function is then used only for its
        identity and cache; the factory must build a function with the same outputs.
    max_in_flight : int
        Batches queued per actor at once (2 hides the round trip behind the running batch).
    max_retries : int
        How often one batch may be resubmitted after its worker died.
    init_options : dict, optional
        Extra keyword arguments for ``ray.init`` (e.g. ``runtime_env``, ``num_cpus`` of a local
        cluster), used only when this executor starts Ray.

    Attributes
    ----------
    stats : dict
        ``batches`` run, ``resubmitted`` batches (their worker died), ``replaced`` actors.

    Examples
    --------
    Nothing starts until batches are run:

    >>> ex = RayExecutor(num_actors=2, max_retries=1)
    >>> ex
    RayExecutor(mode='actors', num_actors=2, num_cpus=1.0, num_gpus=0.0)
    >>> from interspect import explain, games  # doctest: +SKIP
    >>> e = explain(games.DummyGame(6, active=(1, 4)), 6, method="exact", executor=ex)  # doctest: +SKIP
    """

    def __init__(
        self,
        *,
        address: str | None = None,
        mode: Literal["actors", "tasks"] = "actors",
        num_actors: int | None = None,
        num_cpus: float = 1.0,
        num_gpus: float = 0.0,
        threads: int | None = None,
        factory: Callable[[], Any] | None = None,
        max_in_flight: int = 2,
        max_retries: int = 3,
        init_options: dict[str, Any] | None = None,
    ) -> None:
        if address is not None and (not isinstance(address, str) or not address):
            raise TypeError(f"address must be a Ray address string or None, got {address!r}")
        self.mode = check_choice(mode, "mode", ("actors", "tasks"))
        self.num_actors = None if num_actors is None else check_positive_int(num_actors, "num_actors")
        for name, v in (("num_cpus", num_cpus), ("num_gpus", num_gpus)):
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not (v >= 0 and np.isfinite(v)):
                raise ValueError(f"{name} must be a finite number >= 0, got {v!r}")
        if num_cpus == 0 and num_gpus == 0 and mode == "tasks":
            raise ValueError("num_cpus and num_gpus are both 0: Ray tasks need some resource to be scheduled by")
        self.num_cpus, self.num_gpus = float(num_cpus), float(num_gpus)
        self.threads = (
            max(1, int(np.ceil(self.num_cpus))) if threads is None else check_positive_int(threads, "threads")
        )
        if factory is not None and not callable(factory):
            raise TypeError(f"factory must be a callable returning a value function, got {type(factory).__name__}")
        if factory is not None and mode == "tasks":
            raise ValueError("factory= builds a replica per actor; it needs mode='actors'")
        self.factory = factory
        self.max_in_flight = check_positive_int(max_in_flight, "max_in_flight")
        self.max_retries = check_positive_int(max_retries, "max_retries", minimum=0)
        if init_options is not None and not isinstance(init_options, dict):
            raise TypeError(f"init_options must be a dict of ray.init arguments, got {type(init_options).__name__}")
        self.address = address
        self.init_options = dict(init_options or {})
        self.actors: list[Any] = []
        self.stats = {"batches": 0, "resubmitted": 0, "replaced": 0}
        self._ray: Any = None
        self._started_ray = False
        self._lock = threading.Lock()
        self._shipped: tuple[Any, str, Any] | None = None  # (value_fn, key, object ref)
        self._runs = 0
        self._task: Any = None
        self._actor_cls: Any = None

    # -- cluster and pool ----------------------------------------------------------------------
    def _connect(self) -> Any:
        if self._ray is None:
            ray = _import_ray()
            if not ray.is_initialized():
                opts = {"include_dashboard": False, "log_to_driver": False, **self.init_options}
                ray.init(address=self.address, **opts)
                self._started_ray = True
            self._ray = ray
        return self._ray

    def _pool_size(self) -> int:
        if self.num_actors is not None:
            return self.num_actors
        res = self._ray.cluster_resources()
        if self.num_gpus > 0:
            return max(1, int(res.get("GPU", 0) // self.num_gpus))
        if self.num_cpus > 0:
            return max(1, int(res.get("CPU", 1) // self.num_cpus))
        return max(1, int(res.get("CPU", 1)))

    def _new_actor(self) -> Any:
        ray = self._ray
        if self._actor_cls is None:
            self._actor_cls = ray.remote(_Replica)
        return self._actor_cls.options(num_cpus=self.num_cpus, num_gpus=self.num_gpus, max_restarts=0).remote(
            self.factory, self.threads
        )

    def start(self) -> RayExecutor:
        """Connect to Ray and start the actor pool now (else it starts with the first batches)."""
        self._connect()
        if self.mode == "actors" and not self.actors:
            self.actors = [self._new_actor() for _ in range(self._pool_size())]
        return self

    def _ship(self, value_fn: Any) -> tuple[str, list]:
        """The key and boxed object reference under which actors find ``value_fn`` (put once)."""
        if self.factory is not None:
            return "factory", [None]
        if self._shipped is None or self._shipped[0] is not value_fn:
            self._runs += 1
            try:
                ref = self._ray.put(value_fn)
            except Exception as exc:
                raise TypeError(
                    f"the value function ({type(value_fn).__name__}) cannot be pickled for Ray "
                    f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}); "
                    "give RayExecutor(factory=...) a picklable function that builds it on each actor"
                ) from None
            self._shipped = (value_fn, f"fn{self._runs}", ref)
        return self._shipped[1], [self._shipped[2]]

    # -- the executor protocol -----------------------------------------------------------------
    def map(
        self, value_fn: Callable[[np.ndarray], Any], batches: Sequence[np.ndarray]
    ) -> Iterator[tuple[int, Any]]:
        """Run ``value_fn`` on every batch on the cluster; yield ``(index, outputs)`` as they finish."""
        if len(batches) == 0:
            return
        self.start()
        ray = self._ray
        system = _system_errors(ray)
        with self._lock:
            key, boxed = self._ship(value_fn)
            fn_ref = boxed[0]
        queue: deque[int] = deque(range(len(batches)))
        tries = [0] * len(batches)
        pending: dict[Any, tuple[int, Any]] = {}  # object ref -> (batch index, actor or None)
        load: dict[int, int] = {}  # id(actor) -> batches in flight on it
        remote_task = None
        if self.mode == "tasks":
            if self._task is None:
                # Retries are ours (counted, bounded), not Ray's.
                self._task = ray.remote(_run_task).options(
                    num_cpus=self.num_cpus, num_gpus=self.num_gpus, max_retries=0
                )
            remote_task = self._task
        capacity = self._pool_size() * self.max_in_flight if self.mode == "tasks" else 0
        try:
            while queue or pending:
                self._submit(queue, pending, load, batches, key, boxed, fn_ref, remote_task, capacity)
                ready, _ = ray.wait(list(pending), num_returns=1)
                for ref in ready:
                    i, actor = pending.pop(ref)
                    if actor is not None:
                        load[id(actor)] = load.get(id(actor), 1) - 1
                    try:
                        out = ray.get(ref)
                    except system as exc:
                        tries[i] += 1
                        if tries[i] > self.max_retries:
                            raise RuntimeError(
                                f"batch {i} of {len(batches)} failed on {tries[i]} Ray workers in a "
                                f"row (last: {type(exc).__name__}); the outputs of the other "
                                "batches are kept"
                            ) from None
                        self.stats["resubmitted"] += 1
                        if actor is not None:
                            self._replace(actor, load)
                        queue.appendleft(i)
                        continue
                    except ray.exceptions.RayTaskError as exc:
                        # The value function itself raised: the caller sees its own exception.
                        cause = exc.as_instanceof_cause()
                        raise cause from None
                    self.stats["batches"] += 1
                    yield i, out
        finally:
            # An abandoned run (an error, a consumer that stopped) leaves no work queued.
            for ref in pending:
                try:
                    ray.cancel(ref)
                except Exception:  # noqa: BLE001 - cancelling is best effort
                    pass

    def _submit(self, queue, pending, load, batches, key, boxed, fn_ref, remote_task, capacity) -> None:
        if self.mode == "tasks":
            while queue and len(pending) < capacity:
                i = queue.popleft()
                pending[remote_task.remote(fn_ref, batches[i])] = (i, None)
            return
        if not self.actors:
            raise RuntimeError("every Ray actor of the pool died and none could be started in their place")
        # Fill the least-loaded actors first, up to max_in_flight batches each.
        while queue:
            actor = min(self.actors, key=lambda a: load.get(id(a), 0))
            if load.get(id(actor), 0) >= self.max_in_flight:
                break
            i = queue.popleft()
            pending[actor.run.remote(key, boxed, batches[i])] = (i, actor)
            load[id(actor)] = load.get(id(actor), 0) + 1

    def _replace(self, dead: Any, load: dict[int, int]) -> None:
        """Swap a dead actor for a fresh one (its replica is loaded again on first use)."""
        with self._lock:
            if not any(a is dead for a in self.actors):
                return  # another of its batches already reported the death
            self.actors = [a for a in self.actors if a is not dead]
            self.actors.append(self._new_actor())
            self.stats["replaced"] += 1

    # -- lifetime ------------------------------------------------------------------------------
    def close(self) -> None:
        """Kill the actors (their resources go back to the cluster); shut Ray down if this
        executor started it. The executor can be used again: a new pool starts on demand."""
        ray = self._ray
        if ray is None:
            return
        for a in self.actors:
            try:
                ray.kill(a)
            except Exception:  # noqa: BLE001 - the actor may be gone already
                pass
        self.actors = []
        self._shipped = None
        self._task = None
        if self._started_ray and ray.is_initialized():
            ray.shutdown()
        self._ray = None
        self._started_ray = False

    def __enter__(self) -> RayExecutor:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __del__(self) -> None:
        # An executor made for one explain (executor="ray") frees its actors' CPUs/GPUs when it
        # goes; Ray itself stays up for the rest of the process (it stops at exit).
        try:
            if self._ray is not None and self.actors and self._ray.is_initialized():
                for a in self.actors:
                    self._ray.kill(a)
        except Exception:  # noqa: BLE001 - interpreter shutdown
            pass

    def __repr__(self) -> str:
        return (
            f"RayExecutor(mode={self.mode!r}, num_actors={self.num_actors}, "
            f"num_cpus={self.num_cpus}, num_gpus={self.num_gpus})"
        )
