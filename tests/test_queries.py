"""The query layer (the one caller of value functions), the method registry and the CLI's error split."""

from __future__ import annotations

import numpy as np
import pytest

import interspect
from interspect import exact, games
from interspect.engines.exact import all_masks
from interspect.engines.registry import (
    DEFAULT_N_TEST,
    DEFAULT_SEED,
    METHODS,
    check_budget,
    run_method,
    seed_of_test_masks,
)
from interspect.queries.cache import QueryCache
from interspect.queries.executors import SerialExecutor, resolve_executor
from interspect.queries.layer import NonFiniteOutputError, Queries, as_queries
from interspect.queries.progress import Progress


class Recording:
    """A value function that records every batch it is given (and may scribble on it)."""

    def __init__(self, n: int, *, scribble: bool = False, identity: str | None = "rec") -> None:
        self.n = n
        self.scribble = scribble
        self.batches: list[np.ndarray] = []
        self.game = games.SparseFourierGame(n, n_terms=6, max_degree=3, seed=2)
        if identity is not None:
            self.identity = identity

    def __call__(self, X: np.ndarray) -> np.ndarray:
        self.batches.append(X.copy())
        y = self.game(X)
        if self.scribble:
            X[:] = 1 - X  # a careless value function writing into its input
        return y


def test_value_function_gets_copies_and_engines_keep_their_masks():
    n = 10
    careful, careless = Recording(n), Recording(n, scribble=True)
    for engine in ("proxyspex", "spex", "exact", "banzhaf"):
        budget = 1024 if engine == "exact" else 600
        a = run_method(engine, careful, n, budget, seed=3)
        b = run_method(engine, careless, n, budget, seed=3)
        assert a == b, engine
    masks = all_masks(n)[::5]
    q = Queries(careless, n)
    before = masks.copy()
    q(masks)
    assert np.array_equal(masks, before)


def test_batches_counts_dedup_and_progress():
    n = 6
    f = Recording(n)
    seen = []
    q = Queries(f, n, batch_size=7, dedup=True, progress=lambda stage, done, total: seen.append((stage, done, total)))
    X = np.vstack([all_masks(n)[:20], all_masks(n)[:5]])
    q.expect(len(X))
    y = q(X)
    # Equal up to the game's own rounding on other batch shapes.
    np.testing.assert_allclose(y, f.game(X), rtol=0, atol=1e-12)
    assert [len(b) for b in f.batches] == [7, 7, 6]  # 20 distinct masks in batches of 7
    assert q.stats == {"requested": 25, "computed": 20, "from_cache": 0, "duplicates": 5}
    assert q.n_queries == 25
    assert seen[-1] == ("query", 25, 25) and all(s == "query" for s, _, _ in seen)
    # Without dedup every row is computed, in order.
    g = Recording(n)
    Queries(g, n)(X)
    assert sum(len(b) for b in g.batches) == 25


def test_cache_serves_rows_and_keeps_finite_rows_of_a_failing_batch(tmp_path):
    n = 5
    path = tmp_path / "q.sqlite"
    X = all_masks(n)

    class Flaky(Recording):
        def __call__(self, X):
            y = super().__call__(X)
            y[(X.sum(axis=1) == n)] = np.nan  # the all-ones mask fails
            return y

    flaky = Flaky(n)
    q = Queries(flaky, n, cache=path, batch_size=8)
    with pytest.raises(NonFiniteOutputError, match="non-finite score") as info:
        q(X)
    assert "\n" not in str(info.value) and isinstance(info.value, ValueError)
    with QueryCache(path) as c:
        assert c.count("rec") == 31  # every finite output, including the failing batch's
    good = Recording(n)
    q2 = Queries(good, n, cache=path)
    np.testing.assert_allclose(q2(X), good.game(X), rtol=0, atol=1e-12)
    assert q2.stats["from_cache"] == 31 and q2.stats["computed"] == 1
    assert sum(len(b) for b in good.batches) == 1


def test_cache_needs_an_identity_and_outputs_are_validated(tmp_path):
    with pytest.raises(ValueError, match="cache needs an identity"):
        Queries(lambda X: X.sum(axis=1), 3, cache=tmp_path / "q.sqlite")
    with pytest.raises(TypeError, match="value_fn must be callable"):
        Queries(None, 3)
    with pytest.raises(TypeError, match="complex values"):
        Queries(lambda X: X.sum(axis=1) + 1j, 3)(all_masks(3))
    real = Queries(lambda X: X.sum(axis=1) + 0j, 3)(all_masks(3))  # zero imaginary part is fine
    np.testing.assert_array_equal(real, all_masks(3).sum(axis=1))
    with pytest.raises(ValueError, match=r"shape \(8,\)"):
        Queries(lambda X: np.zeros(3), 3)(all_masks(3))
    with pytest.raises(ValueError, match="n=3 columns"):
        Queries(lambda X: X.sum(axis=1), 3)(np.ones((2, 4)))


def test_as_queries_shares_one_layer_and_checks_n():
    q = Queries(Recording(4), 4)
    assert as_queries(q, 4) is q
    with pytest.raises(ValueError, match="n=4 features, but n=5"):
        as_queries(q, 5)
    with pytest.raises(TypeError, match="already a Queries"):
        Queries(q, 4)


def test_executor_seam():
    class Reversed:
        """Runs batches last first: the layer must put every output back in its place."""

        def __init__(self):
            self.calls = 0

        def map(self, value_fn, batches):
            for i in reversed(range(len(batches))):
                self.calls += 1
                yield i, value_fn(batches[i])

    ex = Reversed()
    g = games.SparseFourierGame(8, n_terms=5, seed=1)
    X = all_masks(8)
    q = Queries(g, 8, executor=ex, batch_size=50)
    np.testing.assert_allclose(q(X), g(X), rtol=0, atol=1e-12)
    assert ex.calls == 6
    assert isinstance(resolve_executor(None), SerialExecutor)
    with pytest.raises(ValueError, match="executor='gpu' is not supported"):
        resolve_executor("gpu")
    with pytest.raises(TypeError, match="map"):
        resolve_executor(object())


def test_one_progress_convention():
    with pytest.raises(TypeError, match="progress must be True, False or a callable"):
        Progress("yes")
    calls = []
    g = games.SparseFourierGame(12, n_terms=5, max_degree=2, seed=0)
    for method in ("spex", "proxyspex", "exact", "lime"):
        calls.clear()
        budget = 4096 if method == "exact" else 800
        s = run_method(method, g, 12, budget, progress=lambda stage, done, total: calls.append((stage, done, total)))
        query = [c for c in calls if c[0] == "query"]
        assert query and query[-1][1] == query[-1][2] == s.n_queries, method
    e = interspect.explain(g, 12, method="proxyspex", budget=500, n_test=20,
                           progress=lambda stage, done, total: calls.append((stage, done, total)))
    assert calls[-1][0] == "query" and calls[-1][1] == 500 + 1 + 20 == calls[-1][2]
    assert e.metadata["n_model_calls"] == 521 - e.metadata["n_duplicates"]


def test_registry_one_signature_and_shared_defaults():
    g = games.HierarchicalGame(8, n_top=2, seed=1)
    ref = exact(g, 8)
    for name, spec in METHODS.items():
        budget = max(spec.min_budget(8, 5), 256)
        s = run_method(name, g, 8, budget, seed=DEFAULT_SEED, max_degree=3)
        assert isinstance(s, interspect.Spectrum) and s.n == 8 and 0 < s.n_queries <= max(budget, 256), name
        if name in ("exact", "proxyspex"):
            # All 2^8 masks: these fits are exact (ProxySPEX transforms all samples exactly).
            assert np.allclose(s.predict(all_masks(8)), ref.predict(all_masks(8))), name
    assert DEFAULT_N_TEST == 200 and seed_of_test_masks(0) != 0 and seed_of_test_masks(None) is None
    with pytest.raises(ValueError, match="method='proxyspex' needs budget >= 8"):
        check_budget("proxyspex", 10, 5)
    with pytest.raises(ValueError, match="supports n <= 20"):
        check_budget("exact", 21, 10**7)
    with pytest.raises(ValueError, match="method='shap' is not supported; accepted values: 'auto', 'exact'"):
        run_method("shap", g, 8, 100)
    for bad, error in ((1.7, TypeError), ("5", TypeError), (True, TypeError), (-1, ValueError)):
        with pytest.raises(error, match="seed must be None, a non-negative integer or a numpy Generator"):
            interspect.explain(g, 8, method="exact", seed=bad)
    a = interspect.explain(g, 8, method="proxyspex", budget=100, seed=np.random.default_rng(4), n_test=10)
    b = interspect.explain(g, 8, method="proxyspex", budget=100, seed=np.random.default_rng(4), n_test=10)
    assert a.spectrum == b.spectrum and a.metadata["faithfulness_r2"] == b.metadata["faithfulness_r2"]


def test_entry_points_live_at_the_top_level():
    for name in ("explain", "explain_text", "Explanation", "spex", "proxyspex", "exact", "faithfulness", "games"):
        assert getattr(interspect, name) is not None
    import importlib

    importlib.import_module("interspect.engines.spex")
    assert callable(interspect.explain) and callable(interspect.spex)


def test_cli_tells_a_usage_error_from_a_bug(capsys, monkeypatch):
    from interspect.interface import cli

    def user_mistake(args):
        return interspect.explain(lambda X: X.sum(axis=1), 4, method="proxyspex", budget=3)

    def bug(args):
        return np.zeros(3) + np.zeros(4)  # numpy raises: not a message for the user

    for func, code, text in ((user_mistake, 2, "needs budget >= 8"), (bug, 1, "this is a bug")):
        monkeypatch.setattr(cli, "run_bench", func)
        parser = cli.build_parser()
        monkeypatch.setattr(cli, "build_parser", lambda parser=parser, func=func: _with_func(parser, func))
        assert cli.main(["bench", "--task", "synthetic"]) == code
        err = capsys.readouterr().err
        assert text in err and err.count("\n") == 1 and "Traceback" not in err
    with pytest.raises(SystemExit) as info:
        cli.main(["bench", "--budget", "zero"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "usage:" not in err


def _with_func(parser, func):
    parser._subparsers._group_actions[0].choices["bench"].set_defaults(func=func)
    return parser
