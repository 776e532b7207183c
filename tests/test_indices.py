"""Every interaction index against a brute-force computation from its own definition (n <= 8)."""

from __future__ import annotations

from itertools import combinations
from math import comb, factorial

import numpy as np
import pytest
from scipy.special import bernoulli

from interspect import Spectrum, exact
from interspect.engines.exact import all_masks


def random_value_table(n: int, seed: int) -> np.ndarray:
    """A dense random game: one value per coalition, indexed by the bitmask of kept features."""
    return np.random.default_rng(seed).normal(size=2**n)


def table_fn(table: np.ndarray, n: int):
    weights = 1 << np.arange(n)

    def f(X):
        return table[np.asarray(X, dtype=np.int64) @ weights]

    return f


def bits(T) -> int:
    return sum(1 << i for i in T)


def others(n: int, T: tuple[int, ...]):
    rest = [i for i in range(n) if i not in T]
    for size in range(len(rest) + 1):
        yield from combinations(rest, size)


def delta(v: np.ndarray, T: tuple[int, ...], S: tuple[int, ...]) -> float:
    """Discrete derivative Δ_T v(S) = Σ_{L⊆T} (−1)^{|T|−|L|} v(S ∪ L)."""
    s = bits(S)
    return sum(
        (-1) ** (len(T) - size) * v[s | bits(L)]
        for size in range(len(T) + 1)
        for L in combinations(T, size)
    )


def brute_sii(v, n, T):
    t = len(T)
    return sum(
        factorial(n - len(S) - t) * factorial(len(S)) / factorial(n - t + 1) * delta(v, T, S)
        for S in others(n, T)
    )


def brute_bii(v, n, T):
    return sum(delta(v, T, S) for S in others(n, T)) / 2 ** (n - len(T))


def brute_ksii(v, n, T, ell):
    B = bernoulli(ell)
    return sum(
        B[size - len(T)] * brute_sii(v, n, S)
        for size in range(len(T), ell + 1)
        for S in combinations(range(n), size)
        if set(T) <= set(S)
    )


def brute_stii(v, n, T, ell):
    if len(T) < ell:
        return delta(v, T, ())
    return ell / n * sum(delta(v, T, S) / comb(n - 1, len(S)) for S in others(n, T))


def design(n: int, ell: int):
    """All coalitions (rows, as masks) against all sets of size <= ell (columns, AND features)."""
    X = all_masks(n)
    sets = [T for size in range(ell + 1) for T in combinations(range(n), size)]
    A = np.stack(
        [np.all(X[:, list(T)] == 1, axis=1) if T else np.ones(len(X), bool) for T in sets], axis=1
    )
    return X, sets, A.astype(float)


def brute_fbii(v, n, ell):
    """Faith-Banzhaf: unweighted least squares over all 2^n coalitions."""
    _, sets, A = design(n, ell)
    coef, *_ = np.linalg.lstsq(A, v, rcond=None)
    return dict(zip(sets, coef))


def brute_fsii(v, n, ell):
    """Faith-Shapley: Shapley-kernel weighted least squares, v(∅) and v(N) matched exactly (KKT)."""
    X, sets, A = design(n, ell)
    sizes = X.sum(axis=1)
    inner = (sizes > 0) & (sizes < n)
    w = np.zeros(len(X))
    w[inner] = (n - 1) / (
        np.array([comb(n, int(s)) for s in sizes[inner]]) * sizes[inner] * (n - sizes[inner])
    )
    C = A[~inner]
    d = v[~inner]
    p = A.shape[1]
    K = np.block([[2 * A.T @ (w[:, None] * A), C.T], [C, np.zeros((len(C), len(C)))]])
    rhs = np.concatenate([2 * A.T @ (w * v), d])
    sol = np.linalg.solve(K, rhs)
    return dict(zip(sets, sol[:p]))


N_CASES = [(5, 0), (6, 1), (7, 2)]


@pytest.fixture(params=N_CASES, ids=lambda c: f"n{c[0]}-seed{c[1]}")
def game(request):
    n, seed = request.param
    v = random_value_table(n, seed)
    return n, v, exact(table_fn(v, n), n, tol=0.0)


def test_shapley_and_banzhaf_values(game):
    n, v, spec = game
    sv = spec.interactions("SV")
    bv = spec.interactions("BV")
    for i in range(n):
        ref_sv = sum(
            factorial(len(S))
            * factorial(n - len(S) - 1)
            / factorial(n)
            * (v[bits(S) | (1 << i)] - v[bits(S)])
            for S in others(n, (i,))
        )
        ref_bv = sum(v[bits(S) | (1 << i)] - v[bits(S)] for S in others(n, (i,))) / 2 ** (n - 1)
        assert sv[(i,)] == pytest.approx(ref_sv, abs=1e-9)
        assert bv[(i,)] == pytest.approx(ref_bv, abs=1e-9)
    # Efficiency of the Shapley value.
    assert sum(sv.values()) == pytest.approx(v[-1] - v[0], abs=1e-9)


def test_shapley_from_fourier_formula(game):
    n, _, spec = game
    sv = spec.interactions("SV")
    F = spec.fourier
    for i in range(n):
        direct = -2 * sum(val / len(k) for k, val in F.items() if i in k and len(k) % 2 == 1)
        assert sv[(i,)] == pytest.approx(direct, abs=1e-9)
        assert spec.interactions("BV")[(i,)] == pytest.approx(-2 * F.get((i,), 0.0), abs=1e-9)


@pytest.mark.parametrize("order", [1, 2, 3])
def test_sii_and_bii(game, order):
    n, v, spec = game
    sii = spec.interactions("SII", order)
    bii = spec.interactions("BII", order)
    for size in range(1, order + 1):
        for T in combinations(range(n), size):
            assert sii[T] == pytest.approx(brute_sii(v, n, T), abs=1e-9)
            assert bii[T] == pytest.approx(brute_bii(v, n, T), abs=1e-9)
    assert all(1 <= len(T) <= order for T in sii)


@pytest.mark.parametrize("ell", [1, 2, 3])
def test_k_sii_aggregation_and_efficiency(game, ell):
    n, v, spec = game
    ksii = spec.interactions("k-SII", ell)
    for size in range(1, ell + 1):
        for T in combinations(range(n), size):
            assert ksii[T] == pytest.approx(brute_ksii(v, n, T, ell), abs=1e-9)
    assert ksii[()] == pytest.approx(v[0], abs=1e-9)
    assert sum(val for T, val in ksii.items() if T) == pytest.approx(v[-1] - v[0], abs=1e-9)


@pytest.mark.parametrize("ell", [1, 2, 3])
def test_shapley_taylor(game, ell):
    n, v, spec = game
    stii = spec.interactions("STII", ell)
    for size in range(1, ell + 1):
        for T in combinations(range(n), size):
            assert stii[T] == pytest.approx(brute_stii(v, n, T, ell), abs=1e-9)
    assert sum(val for T, val in stii.items() if T) == pytest.approx(v[-1] - v[0], abs=1e-9)


@pytest.mark.parametrize("ell", [1, 2, 3])
def test_faith_banzhaf_is_least_squares(game, ell):
    n, v, spec = game
    ref = brute_fbii(v, n, ell)
    got = spec.interactions("FBII", ell)
    for T, val in ref.items():
        assert got.get(T, 0.0) == pytest.approx(val, abs=1e-8), T


@pytest.mark.parametrize("ell", [1, 2, 3])
def test_faith_shapley_is_weighted_least_squares(game, ell):
    n, v, spec = game
    ref = brute_fsii(v, n, ell)
    got = spec.interactions("FSII", ell)
    for T, val in ref.items():
        assert got.get(T, 0.0) == pytest.approx(val, abs=1e-7), T
    assert sum(val for T, val in got.items() if T) == pytest.approx(v[-1] - v[0], abs=1e-8)


def test_moebius_is_harsanyi_dividend(game):
    n, v, spec = game
    mob = spec.mobius()
    for size in range(n + 1):
        for S in combinations(range(n), size):
            ref = sum(
                (-1) ** (len(S) - k) * v[bits(L)]
                for k in range(len(S) + 1)
                for L in combinations(S, k)
            )
            assert mob.get(S, 0.0) == pytest.approx(ref, abs=1e-9)
    assert spec.interactions("Moebius") == mob


def test_unknown_index_and_bad_order():
    s = Spectrum({(0,): 1.0}, n=2)
    with pytest.raises(ValueError, match="index='Shapley' is not supported; accepted values"):
        s.interactions("Shapley")
    with pytest.raises(ValueError, match="first-order index"):
        s.interactions("SV", order=2)
    with pytest.raises(ValueError, match="order must be an integer >= 1"):
        s.interactions("k-SII", order=0)


def test_high_degree_term_costs_only_its_subsets():
    """A degree-12 term among n = 10,000 features converts without touching 2^n anything."""
    n = 10_000
    key = tuple(range(0, 12 * 700, 700))
    s = Spectrum({key: 1.0, (): 0.5}, n=n)
    mob = s.mobius()
    assert len(mob) == 2**12
    assert mob[key] == pytest.approx((-2.0) ** 12)
    sv = s.interactions("SV")
    assert sum(sv.values()) == pytest.approx(
        s.predict(np.ones((1, n)))[0] - s.predict(np.zeros((1, n)))[0]
    )
