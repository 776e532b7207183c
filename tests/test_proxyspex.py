"""ProxySPEX: sampling, exact tree spectra, truncation, ridge re-fit and recovery of planted games.

Every check is against an independent reference: the brute-force Walsh–Hadamard transform over
all 2^n masks (``interspect.engines.exact``), the tree library's own ``predict``, or a planted truth.
"""

from __future__ import annotations

import builtins

import numpy as np
import pytest

from interspect import Spectrum, exact, faithfulness, games
from interspect.engines.exact import all_masks
from interspect.engines.proxy import (
    proxyspex,
    ridge_refit,
    select_terms,
    tree_spectrum,
    truncate,
    uniform_masks,
)

lgb = pytest.importorskip("lightgbm")


def _noisy_and_data(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = all_masks(n)
    y = X[:, 0] * X[:, 1] + X[:, 2] - 1.5 * X[:, 0] * X[:, 1] * X[:, 3] + rng.normal(0, 0.3, len(X))
    return X, y


# ----------------------------------------------------------------------------------- sampling
def test_uniform_masks_distinct_with_both_extremes() -> None:
    X = uniform_masks(12, 3000, np.random.default_rng(1))
    assert X.shape == (3000, 12) and X.dtype == np.uint8
    assert X[0].tolist() == [1] * 12 and X[1].tolist() == [0] * 12
    assert len({r.tobytes() for r in X}) == 3000
    # Uniform: each feature is kept about half the time.
    assert np.all(np.abs(X[2:].mean(axis=0) - 0.5) < 0.05)


def test_uniform_masks_budget_above_cube_returns_every_mask() -> None:
    X = uniform_masks(4, 100, np.random.default_rng(0))
    assert X.shape == (16, 4)
    assert sorted(r.tobytes() for r in X) == sorted(r.tobytes() for r in all_masks(4))
    assert X[0].tolist() == [1, 1, 1, 1] and X[1].tolist() == [0, 0, 0, 0]


# ----------------------------------------------------------------------------------- tree spectra
@pytest.mark.parametrize("zero_as_missing", [False, True])
def test_lightgbm_spectrum_is_exact_on_every_mask(zero_as_missing: bool) -> None:
    n = 7
    X, y = _noisy_and_data(n)
    params = {"objective": "regression", "max_depth": 4, "num_leaves": 16, "min_data_in_leaf": 2, "learning_rate": 0.2, "verbosity": -1, "num_threads": 1, "zero_as_missing": zero_as_missing}
    booster = lgb.train(params, lgb.Dataset(X.astype(float), y), 40)
    s = tree_spectrum(booster, n)
    pred = booster.predict(X.astype(float))
    np.testing.assert_allclose(s.predict(X), pred, atol=1e-10)
    # Same coefficients as the brute-force transform of the model's own predictions.
    ref = exact(lambda M: booster.predict(M.astype(float)), n).fourier
    got = s.fourier
    for k in set(ref) | set(got):
        assert abs(ref.get(k, 0.0) - got.get(k, 0.0)) < 1e-10, k
    assert s.degree <= 4


def test_lgbm_regressor_and_sklearn_ensembles_are_exact() -> None:
    from sklearn.ensemble import GradientBoostingRegressor, RandomForestRegressor
    from sklearn.tree import DecisionTreeRegressor

    n = 6
    X, y = _noisy_and_data(n, seed=3)
    models = [
        lgb.LGBMRegressor(n_estimators=30, max_depth=3, min_child_samples=2, verbose=-1, n_jobs=1).fit(X.astype(float), y),
        DecisionTreeRegressor(max_depth=4, random_state=0).fit(X, y),
        RandomForestRegressor(n_estimators=15, max_depth=3, random_state=0).fit(X, y),
        GradientBoostingRegressor(n_estimators=20, max_depth=2, random_state=0).fit(X, y),
    ]
    for model in models:
        s = tree_spectrum(model, n)
        np.testing.assert_allclose(s.predict(X), model.predict(X.astype(float)), atol=1e-10, err_msg=type(model).__name__)


def test_xgboost_spectrum_is_exact_on_every_mask() -> None:
    xgb = pytest.importorskip("xgboost")
    n = 7
    X, y = _noisy_and_data(n, seed=5)
    model = xgb.XGBRegressor(n_estimators=40, max_depth=4, learning_rate=0.3, n_jobs=1).fit(X, y)
    s = tree_spectrum(model, n)
    # XGBoost sums leaves in float32, hence the looser tolerance.
    np.testing.assert_allclose(s.predict(X), model.predict(X), atol=1e-5)


def test_tree_spectrum_rejects_unknown_models() -> None:
    with pytest.raises(TypeError, match="unsupported model type"):
        tree_spectrum(object(), 3)


# ----------------------------------------------------------------------------------- truncation
def test_truncation_keeps_tied_coefficients_together() -> None:
    # One large term and twenty equal ones: 95% of the energy needs 19 of the twenty, and which
    # 19 would be arbitrary. All twenty must stay.
    f = {(): 3.0, (0, 1): 3.0}
    f.update({(i,): 1.0 for i in range(2, 22)})
    f.update({(i, i + 1): 0.01 for i in range(30, 40)})
    kept = truncate(f, energy=0.95, hierarchy=0.0)
    energy = sum(v * v for k, v in f.items() if k)
    naive = 1 + int(np.ceil((0.95 * energy - 9.0) / 1.0))
    assert naive < 21  # a plain cut would split the tie group
    assert set(kept) == {(), (0, 1)} | {(i,) for i in range(2, 22)}
    # Nearly equal (estimated) values count as tied too.
    g = dict(f)
    g[(5,)] = 0.995
    assert (5,) in truncate(g, energy=0.95, hierarchy=0.0)


def test_truncation_keeps_energetic_subsets_of_kept_terms() -> None:
    f = {(0, 1, 2): 2.0, (3, 4, 5): 2.0, (0, 1): 0.3, (2,): 0.25, (7,): 0.3, (0,): 0.001}
    kept = truncate(f, energy=0.95, hierarchy=0.1)
    assert {(0, 1, 2), (3, 4, 5), (0, 1), (2,)} <= set(kept)
    assert (7,) not in kept  # not a subset of a kept term, and below the cut
    assert (0,) not in kept  # a subset, but carrying no energy
    assert set(truncate(f, energy=0.95, hierarchy=0.0)) == {(0, 1, 2), (3, 4, 5)}


def test_truncate_validates_energy() -> None:
    with pytest.raises(ValueError, match="energy"):
        truncate({(0,): 1.0}, energy=1.5)


def test_refit_recovers_a_sparse_function_exactly() -> None:
    g = games.SparseFourierGame(10, n_terms=12, max_degree=3, seed=4)
    X = uniform_masks(10, 400, np.random.default_rng(0))
    truth = g.spectrum.fourier
    keys = [k for k in truth if k] + [(0, 9), (3,), (1, 2, 4, 8)]  # a few spurious keys too
    keys = list(dict.fromkeys(keys))
    const, coef, _, gcv = ridge_refit(keys, X, g(X))
    got = dict(zip(keys, coef))
    assert abs(const - truth[()]) < 1e-4
    for k in keys:
        assert abs(got[k] - truth.get(k, 0.0)) < 1e-4, k
    assert gcv < 1e-6


# ----------------------------------------------------------------------------------- selection
def test_selection_finds_true_terms_the_pool_lacks_and_drops_spurious_ones() -> None:
    n = 40
    g = games.HierarchicalGame(n, n_top=4, min_degree=3, max_degree=4, seed=7)
    truth = g.spectrum.fourier
    X = uniform_masks(n, 600, np.random.default_rng(0))
    gone = g.top_interactions[0][0]
    # The pool misses every term with one feature of a top interaction, and holds junk.
    rng = np.random.default_rng(1)
    junk = [tuple(sorted(rng.choice(n, size=2, replace=False).tolist())) for _ in range(40)]
    pool = [k for k in truth if k and gone not in k] + junk
    sel = select_terms(X, g(X), pool=pool, max_degree=4, max_terms=150)
    assert set(sel.keys) == {k for k in truth if k}
    got = dict(zip(sel.keys, sel.coef))
    assert max(abs(got[k] - truth[k]) for k in got) < 1e-8


def test_selection_column_store_matches_the_parity_design() -> None:
    # The store grows past its first 64 columns and is asked for repeated and earlier keys.
    from interspect.core.parity import parity_design
    from interspect.engines.proxy.selection import _Columns, _missing_subsets

    rng = np.random.default_rng(0)
    X = rng.integers(0, 2, size=(50, 12)).astype(np.uint8)
    cols = _Columns(X)
    seen: list[tuple[int, ...]] = []
    for _ in range(6):
        keys = [tuple(sorted(rng.choice(12, size=int(rng.integers(1, 5)), replace=False).tolist())) for _ in range(30)]
        keys += seen[:5] + keys[:2]
        seen += keys
        got = cols.design(keys)
        assert got.flags.c_contiguous and np.array_equal(got, parity_design(keys, X, np.float32))
    assert _missing_subsets([(1, 2, 3), (1, 2)]) == [(1,), (1, 3), (2,), (2, 3), (3,)]


def test_selection_adds_nothing_to_pure_noise() -> None:
    X = uniform_masks(30, 500, np.random.default_rng(2))
    y = np.random.default_rng(3).normal(size=500)
    pool = [(i,) for i in range(30)] + [(i, i + 1) for i in range(29)]
    sel = select_terms(X, y, pool=pool, max_degree=3, max_terms=100)
    assert len(sel.keys) <= 1


def test_proxyspex_matches_spex_on_hierarchical_game_with_a_tenth_of_its_queries() -> None:
    # SPEX's default design at n = 128 uses 7,872 queries and recovers this game exactly
    # (benchmarks/results_proxyspex.md); 787 uniform samples are enough for the same support.
    n = 128
    g = games.HierarchicalGame(n, n_top=5, min_degree=3, max_degree=5, seed=1)
    s = proxyspex(g, n, 787, seed=1)
    assert set(s.keys) == set(g.spectrum.keys)
    assert faithfulness(s, g, n_test=1000, seed=5) > 1 - 1e-9


# ----------------------------------------------------------------------------------- end to end
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_proxyspex_recovers_planted_hierarchical_game(seed: int) -> None:
    n = 40
    g = games.HierarchicalGame(n, n_top=4, min_degree=3, max_degree=4, seed=seed)
    s = proxyspex(g, n, 1500, seed=seed)
    assert s.n_queries == 1500 and g.n_calls == 1500
    assert faithfulness(s, g, n_test=1000, seed=99) > 0.99
    # Exactly sparse game: exactly its support comes back, no near-zero clutter.
    assert set(s.keys) == set(g.spectrum.keys)
    truth = g.spectrum.mobius()
    est = s.mobius()
    # Every planted top interaction is found, with its sign and about its size.
    for top in g.top_interactions:
        assert abs(est.get(top, 0.0) - truth[top]) < 0.1 * abs(truth[top]) + 0.05, (top, truth[top], est.get(top))
    # And the ten largest estimated Möbius terms are among the fifteen largest true ones
    # (a margin for near-ties among the true magnitudes).
    true_rank = [k for k, _ in sorted(truth.items(), key=lambda kv: -abs(kv[1])) if k]
    assert {k for k, _ in s.top(10)} <= set(true_rank[:15])


def test_proxyspex_squashed_game_is_faithful() -> None:
    n = 48
    g = games.HierarchicalGame(n, n_top=4, min_degree=3, max_degree=5, squash="tanh", seed=3)
    s = proxyspex(g, n, 2000, seed=0)
    assert faithfulness(s, g, n_test=1000, seed=7) > 0.85


def test_proxyspex_is_deterministic_for_a_seed_and_batches_queries() -> None:
    g = games.HierarchicalGame(30, n_top=3, seed=1)
    calls: list[int] = []

    def f(X: np.ndarray) -> np.ndarray:
        calls.append(len(X))
        return g(X)

    done: list[tuple[str, int, int]] = []
    a = proxyspex(f, 30, 500, seed=11, batch_size=200, progress=lambda *event: done.append(event))
    b = proxyspex(g, 30, 500, seed=11)
    assert calls == [200, 200, 100]
    # The same progress convention as spex: (stage, done, total).
    assert done == [("query", 200, 500), ("query", 400, 500), ("query", 500, 500), ("fit", 0, 1), ("fit", 1, 1)]
    assert a == b
    with pytest.raises(TypeError, match="progress must be"):
        proxyspex(g, 30, 500, progress="yes")


def _thread_names(monkeypatch: pytest.MonkeyPatch, module: object, name: str, *, delay_first: float = 0.0) -> set[str]:
    """Wrap ``module.name`` to record the threads it runs in (the first call can be delayed, so
    that later calls finish first)."""
    import threading
    import time

    seen: set[str] = set()
    real = getattr(module, name)
    lock = threading.Lock()
    calls = [0]

    def wrapped(*args: object, **kwargs: object) -> object:
        with lock:
            seen.add(threading.current_thread().name)
            calls[0] += 1
            first = calls[0] == 1
        if first and delay_first:
            time.sleep(delay_first)
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, wrapped)
    return seen


@pytest.mark.parametrize("budget", [400, 1300])
def test_n_jobs_fits_side_by_side_and_changes_nothing(budget: int, monkeypatch: pytest.MonkeyPatch) -> None:
    # 400 samples: 3 tree depths, 5 folds; 1,300: max_degree only, 2 folds. Every part keeps its
    # own generator, so the threads may finish in any order (the first selection is held back
    # to make them) and the spectrum must still be the same.
    import interspect.engines.proxy as px

    g = games.HierarchicalGame(24, n_top=3, min_degree=2, max_degree=4, squash="tanh", seed=4)
    serial = proxyspex(g, 24, budget, seed=3)
    fits = _thread_names(monkeypatch, px, "_fit")
    selections = _thread_names(monkeypatch, px, "select_terms", delay_first=0.3)
    parallel = proxyspex(g, 24, budget, seed=3, n_jobs=2)
    assert any(t.startswith("interspect-fit") for t in fits)  # the tree fits ran in worker threads
    assert any(t.startswith("interspect-fit") for t in selections)
    assert parallel == serial


def test_tree_search_runs_its_configurations_side_by_side(monkeypatch: pytest.MonkeyPatch) -> None:
    from interspect.engines.proxy import fit as fit_module

    X = uniform_masks(30, 600, np.random.default_rng(0))
    y = games.HierarchicalGame(30, n_top=3, seed=2)(X)
    one = fit_module.fit_proxy(X, y, max_degree=5, rng=np.random.default_rng(1))
    names = _thread_names(monkeypatch, fit_module._Backend, "train")
    two = fit_module.fit_proxy(X, y, max_degree=5, rng=np.random.default_rng(1), n_jobs=2)
    assert any(t.startswith("interspect-fit") for t in names)
    assert two.trials == one.trials and two.config == one.config
    assert tree_spectrum_of(two) == tree_spectrum_of(one)


def tree_spectrum_of(fit: object) -> dict[tuple[int, ...], float]:
    from interspect.engines.proxy.tree_spectrum import ensemble_keytable

    return ensemble_keytable(fit.ensemble, 30).to_dict()  # type: ignore[attr-defined]


def test_an_error_in_a_fold_reaches_the_caller(monkeypatch: pytest.MonkeyPatch) -> None:
    import interspect.engines.proxy as px

    real = px.select_terms
    calls = [0]

    def failing(*args: object, **kwargs: object) -> object:
        calls[0] += 1
        if calls[0] == 4:
            raise RuntimeError("selection failed in a fold")
        return real(*args, **kwargs)

    monkeypatch.setattr(px, "select_terms", failing)
    with pytest.raises(RuntimeError, match="selection failed in a fold"):
        proxyspex(games.HierarchicalGame(20, n_top=3, seed=1), 20, 300, seed=0, n_jobs=2)


def test_n_jobs_reaches_the_automatic_budget_and_auto_method(monkeypatch: pytest.MonkeyPatch) -> None:
    import interspect.engines.proxy as px
    from interspect.engines.auto import AutoBudget, auto_method, proxyspex_rounds

    g = games.HierarchicalGame(20, n_top=3, seed=5)
    auto = AutoBudget(max_budget=500)
    serial = proxyspex(g, 20, auto, seed=0)
    auto_serial = auto_method(g, 20, 600, seed=0)
    names = _thread_names(monkeypatch, px, "_fit")
    assert proxyspex(g, 20, auto, seed=0, n_jobs=2) == serial
    assert any(t.startswith("interspect-fit") for t in names)
    names.clear()
    s, info = auto_method(g, 20, 600, seed=0, n_jobs=2)
    assert any(t.startswith("interspect-fit") for t in names)
    assert s == auto_serial[0] and info["method"] == auto_serial[1]["method"]
    for call in (lambda: proxyspex(g, 20, "auto", n_jobs=0), lambda: proxyspex_rounds(g, 20, auto, n_jobs=0),
                 lambda: auto_method(g, 20, 600, n_jobs=-1), lambda: px.fit_proxy(np.zeros((40, 20)), np.arange(40.0), max_degree=3, rng=np.random.default_rng(0), n_jobs=0)):
        with pytest.raises(ValueError, match="n_jobs"):
            call()


def test_proxyspex_constant_function() -> None:
    s = proxyspex(lambda X: np.full(len(X), 2.5), 20, 64, seed=0)
    assert s.fourier == {(): 2.5} and s.n_queries == 64


def test_proxyspex_small_n_queries_every_mask_at_most_once() -> None:
    g = games.SparseFourierGame(5, n_terms=4, max_degree=2, seed=0)
    s = proxyspex(g, 5, 100, seed=0)
    assert s.n_queries == 32 and g.n_calls == 32
    assert faithfulness(s, g) > 0.99


def test_proxyspex_accepts_a_regressor_instance() -> None:
    g = games.HierarchicalGame(24, n_top=3, min_degree=2, max_degree=3, seed=2)
    model = lgb.LGBMRegressor(n_estimators=300, max_depth=3, learning_rate=0.1, min_child_samples=5, verbose=-1, n_jobs=1)
    s = proxyspex(g, 24, 800, seed=0, proxy=model, max_degree=3)
    assert not hasattr(model, "booster_")  # the caller's instance is cloned, not fitted
    assert faithfulness(s, g) > 0.95
    assert s.degree <= 3


def test_proxyspex_validates_arguments() -> None:
    g = games.DummyGame(8)
    with pytest.raises(ValueError, match="proxy='catboost'.*'lightgbm', 'xgboost'"):
        proxyspex(g, 8, 100, proxy="catboost")
    with pytest.raises(ValueError, match="budget"):
        proxyspex(g, 8, 3)
    with pytest.raises(ValueError, match="max_degree"):
        proxyspex(g, 8, 100, max_degree=0)
    with pytest.raises(ValueError, match="n_jobs"):
        proxyspex(g, 8, 100, n_jobs=0)
    with pytest.raises(ValueError, match="max_depth"):
        proxyspex(g, 8, 100, max_degree=3, proxy=lgb.LGBMRegressor(max_depth=6))
    with pytest.raises(TypeError, match="proxy must be"):
        proxyspex(g, 8, 100, proxy=object())
    with pytest.raises(TypeError, match="value_fn"):
        proxyspex("not callable", 8, 100)  # type: ignore[arg-type]


def test_missing_backend_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    real_import = builtins.__import__

    def fake_import(name: str, *args: object, **kwargs: object) -> object:
        if name == "xgboost" or name.startswith("xgboost."):
            raise ImportError("No module named 'xgboost'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)
    with pytest.raises(ImportError, match=r"pip install interspect\[xgboost\]"):
        proxyspex(games.DummyGame(8), 8, 100, proxy="xgboost")


def test_result_is_a_spectrum_with_bounded_degree() -> None:
    g = games.HierarchicalGame(20, n_top=3, min_degree=3, max_degree=5, seed=5)
    s = proxyspex(g, 20, 600, seed=0, max_degree=2)
    assert isinstance(s, Spectrum) and s.degree <= 2


def test_budget_covering_every_mask_gives_the_exact_spectrum():
    g = games.HierarchicalGame(7, n_top=3, squash="tanh", seed=3)
    s = proxyspex(g, 7, 500, seed=0)
    ref = exact(g, 7)
    assert s.n_queries == 128
    assert set(s.fourier) == set(ref.fourier)
    assert all(abs(s.fourier[k] - v) < 1e-12 for k, v in ref.fourier.items())
