"""The Ray executor on a real local Ray cluster (127.0.0.1, 2 CPUs), started and shut down here.

References: the serial executor (bit-identical spectra), the games' brute-force outputs over all
masks, and a per-process log of the rows each worker started computing (to count work done
twice after an actor is killed).
"""

from __future__ import annotations

import importlib.util
import os
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import interspect
from interspect import explain, explain_many, games
from interspect.engines.exact import all_masks
from interspect.queries.cache import QueryCache, mask_key
from interspect.queries.layer import Queries

if importlib.util.find_spec("ray") is None:
    pytest.skip(
        "Ray is not installed (pip install 'interspect[ray]'; CI installs it in .ci/run)",
        allow_module_level=True,
    )

import ray  # noqa: E402

from interspect.queries.ray_executor import RayExecutor  # noqa: E402

# Value functions defined here travel by value (workers cannot import this test module).
ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])


@pytest.fixture(scope="module")
def cluster():
    # Workers must import this tree's interspect (not another install): an absolute path.
    src = str(Path(interspect.__file__).resolve().parents[1])
    old = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join([src, *([old] if old else [])])
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    if ray.is_initialized():
        ray.shutdown()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, _node_ip_address="127.0.0.1")
    try:
        yield
    finally:
        ray.shutdown()
        if old is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = old


@pytest.fixture(scope="module")
def pool(cluster):
    # Half a CPU each, so Ray tasks still find a free CPU beside the two actors.
    ex = RayExecutor(num_actors=2, num_cpus=0.5).start()
    yield ex
    ex.close()


def _game():
    return games.SparseFourierGame(10, n_terms=12, max_degree=3, seed=4)


def test_ray_spectrum_is_bit_identical_to_serial(pool):
    g = _game()
    opts = {"method": "proxyspex", "budget": 300, "batch_size": 32, "seed": 7, "n_test": 64}
    serial = explain(g, 10, **opts)
    on_ray = explain(g, 10, executor=pool, **opts)
    assert on_ray.spectrum.fourier == serial.spectrum.fourier  # every coefficient, every bit
    assert on_ray.metadata["faithfulness_r2"] == serial.metadata["faithfulness_r2"]
    assert on_ray.metadata["n_model_calls"] == serial.metadata["n_model_calls"]
    # and the outputs themselves are the game's, mask by mask (brute force over all 2^10)
    X = all_masks(10)
    q = Queries(g, 10, executor=pool, batch_size=100)
    np.testing.assert_array_equal(q(X), g(X))
    assert pool.stats["batches"] >= 11 and len({ray.get(a.pid.remote()) for a in pool.actors}) == 2


def test_ray_tasks_mode_exact_equals_serial(pool):
    g = games.LinearGame(6, weights=np.arange(1.0, 7.0), intercept=0.5)
    ex = RayExecutor(mode="tasks", num_cpus=0.5, num_actors=2)
    e = explain(g, 6, method="exact", index="Moebius", executor=ex, batch_size=8)
    ref = explain(g, 6, method="exact", index="Moebius", batch_size=8)
    assert e.spectrum.fourier == ref.spectrum.fourier
    assert [it.features for it in e.top(6)] == [(5,), (4,), (3,), (2,), (1,), (0,)]
    assert ex.stats["batches"] >= 8 and ex.actors == []


class _Raises:
    n = 4

    def __call__(self, X):
        raise ValueError("bad masks for this model")


def test_value_function_error_reaches_the_caller_as_itself(pool):
    with pytest.raises(ValueError, match="bad masks for this model"):
        Queries(_Raises(), 4, executor=pool)(np.ones((3, 4), dtype=np.uint8))


def test_unpicklable_value_function_is_one_clear_error(pool):
    class Holds:
        def __init__(self):
            self.lock = threading.Lock()

        def __call__(self, X):
            return X.sum(axis=1)

    with pytest.raises(TypeError, match="cannot be pickled for Ray.*factory"):
        Queries(Holds(), 3, executor=pool)(np.ones((2, 3), dtype=np.uint8))


class _SlowLogged:
    """A linear game that sleeps per batch (like a remote model call) and logs, per worker
    process, the key of every row it starts computing."""

    def __init__(self, n: int, log_dir: str) -> None:
        self.n, self.log_dir = n, log_dir
        self.w = np.linspace(-1.0, 1.0, n)

    def __call__(self, X):
        with open(os.path.join(self.log_dir, f"{os.getpid()}.log"), "a") as f:
            f.write("".join(mask_key(x).hex() + "\n" for x in X))
            f.flush()
        time.sleep(0.3)
        return X @ self.w


def test_killed_actor_batches_are_resubmitted_and_nothing_is_lost(pool, tmp_path):
    n, m, batch = 10, 96, 8
    log_dir = tmp_path / "log"
    log_dir.mkdir()
    vf = _SlowLogged(n, str(log_dir))
    X = all_masks(n)[np.random.default_rng(0).choice(2**n, size=m, replace=False)]
    victim = pool.actors[0]
    before = dict(pool.stats)
    killed = []

    def progress(stage, done, total):
        # mid-run: after two batches came back, with batches still running on the victim
        if done >= 2 * batch and not killed:
            ray.kill(victim, no_restart=True)
            killed.append(done)

    cache = QueryCache(tmp_path / "q.sqlite")
    q = Queries(vf, n, cache=cache, identity="slow-linear", batch_size=batch, executor=pool,
                progress=progress)
    y = q(X)
    np.testing.assert_allclose(y, X @ vf.w, rtol=0, atol=1e-12)
    assert killed and q.stats["computed"] == m
    assert pool.stats["resubmitted"] > before["resubmitted"]
    assert pool.stats["replaced"] == before["replaced"] + 1 and len(pool.actors) == 2
    assert all(a is not victim for a in pool.actors)
    # the cache holds every row once
    assert cache.count("slow-linear") == m
    got = cache.get("slow-linear", [mask_key(x) for x in X])
    assert len(got) == m
    # rows started twice: at most the batches that were in flight on the killed actor
    started = [line for f in log_dir.iterdir() for line in f.read_text().split()]
    assert set(started) == {mask_key(x).hex() for x in X}
    assert len(started) - m <= pool.max_in_flight * batch
    cache.close()


def test_explain_many_on_ray_resumes_from_the_cache(pool, tmp_path):
    fns = []
    for seed in (1, 2, 3):
        g = games.SparseFourierGame(8, n_terms=6, max_degree=2, seed=seed)
        g.identity = f"sparse-8-6-2-seed{seed}"
        fns.append(g)
    opts = {"out": tmp_path / "many", "method": "exact", "index": "Moebius", "n_test": 20,
            "report": False}
    rows = explain_many(fns, executor=pool, **opts)
    assert [r["model_calls"] for r in rows] == [256, 256, 256]
    assert sorted(p.name for p in (tmp_path / "many").iterdir() if p.is_dir()) == [
        "000-sparsefouriergame", "001-sparsefouriergame", "002-sparsefouriergame"]
    for r, g in zip(rows, fns):
        assert r["r2"] == pytest.approx(1.0) and r["n"] == 8
        truth = max((k for k in g.spectrum.mobius() if len(k) >= 2), key=lambda k: abs(g.spectrum.mobius()[k]))
        assert r["top_interaction"] == " × ".join(f"x{i}" for i in truth)
    again = explain_many(fns, executor=pool, **opts)
    assert [r["model_calls"] for r in again] == [0, 0, 0]
    assert [r["top_interaction"] for r in again] == [r["top_interaction"] for r in rows]
    assert (tmp_path / "many" / "summary.csv").read_text().count("\n") == 4


@pytest.mark.llm
@pytest.mark.slow
def test_embedded_model_on_ray_is_bit_identical_to_in_process(pool):
    from llm_required import require_embedded_model

    require_embedded_model()
    from interspect.applications.language import load
    from interspect.applications.text import TextValueFunction

    lm = load("smollm2")
    vf = TextValueFunction.for_task("sentiment", lm, "A gorgeous, witty and moving film.", batch_size=8)
    assert vf.n == 6
    opts = {"method": "exact", "n_test": 16, "seed": 3}
    here = explain(vf, vf.n, **opts)  # this process: torch's default threads
    # One actor with one torch thread (one more model load is what this machine affords).
    with RayExecutor(num_actors=1, num_cpus=0.5) as one:
        there = explain(vf, vf.n, executor=one, **opts)
        assert one.stats["batches"] >= 9
    assert there.spectrum.fourier == here.spectrum.fourier
    assert there.full_output == here.full_output
    assert there.metadata["faithfulness_r2"] == here.metadata["faithfulness_r2"]


def test_explain_many_with_inputs_in_flight_at_once_gives_the_same_rows(pool, tmp_path):
    fns = []
    for seed in (5, 6, 7):
        g = games.SparseFourierGame(9, n_terms=8, max_degree=3, seed=seed)
        g.identity = f"sparse-9-8-3-seed{seed}"
        fns.append(g)
    opts = {"method": "proxyspex", "budget": 200, "n_test": 30, "report": False, "executor": pool}
    one = explain_many(fns, out=tmp_path / "one", **opts)
    three = explain_many(fns, out=tmp_path / "three", parallel_inputs=3, **opts)
    keep = ("n", "method", "queries", "model_calls", "r2", "top_interaction", "top_value")
    assert [{k: r[k] for k in keep} for r in three] == [{k: r[k] for k in keep} for r in one]
    for name in ("000-sparsefouriergame", "002-sparsefouriergame"):
        a = (tmp_path / "one" / name / "spectrum.json").read_text()
        assert (tmp_path / "three" / name / "spectrum.json").read_text() == a
    with pytest.raises(ValueError, match="parallel_inputs=2 needs an executor"):
        explain_many(fns, out=tmp_path / "x", parallel_inputs=2)
