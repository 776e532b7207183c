"""Baselines against exact values: linear games and full-budget indices from the exact spectrum."""

from __future__ import annotations

import numpy as np
import pytest

from interspect import exact, games
from interspect.engines.baselines import (
    banzhaf,
    faith_banzhaf,
    faith_shapley,
    kernelshap,
    lime,
    shapley_taylor,
)
from interspect.engines.registry import METHODS, get_method, run_method

BASELINES = [name for name in METHODS if name not in ("exact", "spex", "proxyspex")]

SAMPLED_BUDGET = 400  # n = 10 below: 1,024 masks, so every fit here is sampled, not enumerated


@pytest.mark.parametrize("name", sorted(BASELINES))
def test_linear_game_coefficients(name):
    n = 10 if not name.endswith(("3", "4")) else 7
    budget = SAMPLED_BUDGET if n == 10 else 120  # 2^7 = 128 > 120: still sampled
    g = games.LinearGame(n=n, intercept=0.7, seed=4)
    s = run_method(name, g, n, budget, seed=1)
    assert s.n_queries <= budget and g.n_calls == s.n_queries
    mob = s.mobius()
    first = np.array([mob.get((i,), 0.0) for i in range(n)])
    # LIME's default ridge penalty (alpha=1) shrinks slightly; every other fit is exact.
    tol = 0.03 if name == "lime" else 1e-8
    np.testing.assert_allclose(first, g.weights, atol=tol * max(1.0, np.abs(g.weights).max()))
    higher = [abs(v) for k, v in mob.items() if len(k) > 1]
    if name.startswith(("fbii", "fsii")):  # a linear game lies in the model class: no interactions
        assert max(higher) < 1e-8


def test_lime_without_penalty_is_exact():
    g = games.LinearGame(n=12, seed=2)
    s = lime(g, 12, 300, alpha=0.0)
    np.testing.assert_allclose([s.mobius()[(i,)] for i in range(12)], g.weights, atol=1e-9)


@pytest.mark.parametrize("order", [2, 3])
@pytest.mark.parametrize(
    "fn,index", [(faith_banzhaf, "FBII"), (faith_shapley, "FSII"), (shapley_taylor, "STII")], ids=["FBII", "FSII", "STII"]
)
def test_full_budget_equals_exact_index(fn, index, order):
    n = 7
    g = games.HierarchicalGame(n=n, n_top=3, min_degree=2, max_degree=5, seed=order)
    ref = exact(g, n).interactions(index, order)
    s = fn(g, n, 2**n, order=order)
    assert s.n_queries == 2**n
    got = s.mobius()
    assert set(k for k, v in got.items() if abs(v) > 1e-9) <= set(ref)
    for k, v in ref.items():
        assert got.get(k, 0.0) == pytest.approx(v, abs=1e-9)


def test_full_budget_first_order_values():
    n = 8
    g = games.HierarchicalGame(n=n, n_top=3, min_degree=2, max_degree=4, squash="tanh", seed=0)
    ex = exact(g, n)
    sv, bv = ex.interactions("SV"), ex.interactions("BV")
    s_sv = kernelshap(g, n, 2**n).interactions("SV")
    s_bv = banzhaf(g, n, 2**n).interactions("BV")
    for i in range(n):
        assert s_sv[(i,)] == pytest.approx(sv[(i,)], abs=1e-9)
        assert s_bv[(i,)] == pytest.approx(bv[(i,)], abs=1e-9)


def test_sampled_estimates_converge():
    n = 12
    g = games.HierarchicalGame(n=n, n_top=3, min_degree=2, max_degree=3, seed=1)
    ex = exact(g, n)
    sv = np.array([ex.interactions("SV")[(i,)] for i in range(n)])
    ks = kernelshap(g, n, 2000, seed=0)
    est = np.array([ks.interactions("SV")[(i,)] for i in range(n)])
    # Efficiency holds exactly, and the estimate is close.
    assert est.sum() == pytest.approx(float(g(np.ones((1, n)))[0] - g(np.zeros((1, n)))[0]))
    assert np.abs(est - sv).max() < 0.05 * np.abs(sv).max()
    ref = ex.interactions("STII", 2)
    runs = [shapley_taylor(g, n, 3000, order=2, seed=s).mobius() for s in range(4)]
    pairs = [k for k in ref if len(k) == 2]
    mean = np.array([np.mean([r.get(k, 0.0) for r in runs]) for k in pairs])
    truth = np.array([ref[k] for k in pairs])
    assert np.abs(mean - truth).max() < 0.2 * np.abs(truth).max()
    # Lower-order Shapley-Taylor terms are Möbius coefficients, computed exactly.
    for k, v in ref.items():
        if len(k) < 2:
            assert runs[0].get(k, 0.0) == pytest.approx(v, abs=1e-9)


def test_seed_makes_runs_repeatable():
    g = games.SparseFourierGame(n=9, n_terms=8, seed=0)
    for name in ("lime", "kernelshap", "fbii2", "stii2"):
        a, b = run_method(name, g, 9, 300, seed=5), run_method(name, g, 9, 300, seed=5)
        assert a.fourier == b.fourier


def test_validation_messages():
    g = games.LinearGame(n=30, seed=0)
    with pytest.raises(ValueError, match=r"faith_banzhaf\(order=2\) needs budget >= 466"):
        faith_banzhaf(g, 30, 100, order=2)
    with pytest.raises(ValueError, match="kernelshap needs budget >= 31"):
        kernelshap(g, 30, 10)
    with pytest.raises(ValueError, match="order must be between 1 and 4"):
        faith_shapley(g, 30, 10_000, order=5)
    with pytest.raises(ValueError, match="method='shap' is not supported; accepted values"):
        get_method("shap")
    with pytest.raises(TypeError, match="budget must be an integer"):
        lime(g, 30, 10.5)
    with pytest.raises(TypeError, match="value_fn must be callable"):
        banzhaf(None, 30, 100)
