"""Removal and recovery metrics against brute force (SPEC §6)."""

from __future__ import annotations

from itertools import combinations

import numpy as np
import pytest

from interspect import Spectrum, exact, games
from interspect.evaluation.metrics import recovery, removal, removal_curve, removal_mask


def brute_force_removals(spectrum: Spectrum, r: int) -> tuple[np.ndarray, np.ndarray]:
    """Every mask with exactly r zeros and the surrogate's value on it."""
    n = spectrum.n
    masks = []
    for drop in combinations(range(n), r):
        x = np.ones(n, dtype=np.uint8)
        x[list(drop)] = 0
        masks.append(x)
    X = np.array(masks)
    return X, spectrum.predict(X)


CASES = [
    ("hier", lambda s: games.HierarchicalGame(n=9, n_top=4, min_degree=2, max_degree=4, seed=s).spectrum),
    ("fourier", lambda s: games.SparseFourierGame(n=10, n_terms=25, max_degree=4, seed=s).spectrum),
    ("dense", lambda s: exact(games.HierarchicalGame(n=8, n_top=3, squash="tanh", seed=s), 8)),
]


@pytest.mark.parametrize("name,make", CASES, ids=[c[0] for c in CASES])
@pytest.mark.parametrize("direction", ["down", "up"])
def test_milp_matches_brute_force(name, make, direction):
    unique_cases = 0
    for seed in range(3):
        spectrum = make(seed)
        for r in range(1, 5):
            X, vals = brute_force_removals(spectrum, r)
            target = vals.min() if direction == "down" else vals.max()
            x = removal_mask(spectrum, r, direction=direction)
            assert x.shape == (spectrum.n,) and int((x == 0).sum()) == r
            got = float(spectrum.predict(x[None, :])[0])
            assert got == pytest.approx(target, abs=1e-7 * (1 + abs(target)))
            best = np.flatnonzero(np.abs(vals - target) <= 1e-9 * (1 + abs(target)))
            if len(best) == 1:  # a unique optimum: the exact same features must be picked
                unique_cases += 1
                np.testing.assert_array_equal(x, X[best[0]])
    assert unique_cases >= 6  # the comparison of picked sets really ran


def test_auto_direction_takes_larger_predicted_change():
    spectrum = games.HierarchicalGame(n=8, n_top=3, min_degree=2, max_degree=3, seed=5).spectrum
    full = spectrum.predict(np.ones((1, 8)))[0]
    for r in (1, 2, 3):
        _, vals = brute_force_removals(spectrum, r)
        best_change = np.abs(vals - full).max()
        x = removal_mask(spectrum, r, direction="auto")
        assert abs(spectrum.predict(x[None, :])[0] - full) == pytest.approx(best_change)


def test_marginal_ranks_by_first_order_terms():
    s = Spectrum.from_mobius({(): 0.0, (0,): 3.0, (1,): -1.0, (2,): 2.0, (3,): 0.5, (1, 3): 10.0}, n=5)
    np.testing.assert_array_equal(removal_mask(s, 2, direction="down", method="marginal"), [0, 1, 0, 1, 1])
    np.testing.assert_array_equal(removal_mask(s, 1, direction="up", method="marginal"), [1, 0, 1, 1, 1])
    # The exact program sees the pair term and removes 3 (loses 10.5) instead.
    np.testing.assert_array_equal(removal_mask(s, 1, direction="down", method="milp"), [1, 1, 1, 0, 1])


def test_removal_queries_the_real_function():
    g = games.HierarchicalGame(n=8, n_top=3, min_degree=2, max_degree=3, seed=2)
    spectrum = exact(g, 8)
    full = g(np.ones((1, 8)))[0]
    curve = removal_curve(spectrum, g, rs=(1, 2, 3, 9))
    for r in (1, 2, 3):
        x = removal_mask(spectrum, r)
        assert curve[r] == pytest.approx(abs(full - g(x[None, :])[0]) / abs(full))
    assert np.isnan(curve[9])
    assert removal(spectrum, g, 2) == pytest.approx(curve[2])


def test_removal_validates():
    s = Spectrum({(): 1.0, (0,): 1.0}, n=3)
    with pytest.raises(ValueError, match="direction"):
        removal_mask(s, 1, direction="sideways")
    with pytest.raises(ValueError, match="r must be at most n=3"):
        removal_mask(s, 4)
    with pytest.raises(ValueError, match="method"):
        removal_mask(s, 1, method="greedy")
    with pytest.raises(TypeError, match="spectrum"):
        removal({(): 1.0}, lambda X: X.sum(1), 1)


def test_recovery_on_planted_game():
    g = games.SparseFourierGame(n=10, n_terms=6, max_degree=3, seed=3)
    truth = g.spectrum
    rec = recovery(exact(g, 10), truth, k=6, index="Fourier")
    assert (rec.precision, rec.recall, rec.f1) == (1.0, 1.0, 1.0)
    # Drop the two largest true terms: the estimate finds 4 of 6 and adds 0 spurious ones.
    four = dict(sorted(truth.fourier.items(), key=lambda kv: -abs(kv[1]))[2:])
    rec = recovery(Spectrum(four, 10), truth, k=6, index="Fourier")
    expected = len(set(k for k in four if k)) / 6
    assert rec.recall == pytest.approx(expected) and rec.precision == 1.0


def test_recovery_brute_force_definition():
    rng = np.random.default_rng(0)
    truth = Spectrum.from_mobius({(0,): 5.0, (1, 2): -4.0, (3, 4, 5): 3.0, (6,): 0.1}, n=8)
    est = Spectrum.from_mobius({(0,): 4.0, (1, 2): -3.0, (7,): 2.5, (6,): 0.2, (2,): 0.05 * rng.random()}, n=8)
    rec = recovery(est, truth, k=3)
    assert set(rec.true) == {(0,), (1, 2), (3, 4, 5)}
    assert set(rec.found) == {(0,), (1, 2), (7,)}
    assert rec.precision == pytest.approx(2 / 3) and rec.recall == pytest.approx(2 / 3)


def test_time_limit_falls_back_to_a_valid_good_mask():
    from interspect.engines.baselines import faith_banzhaf
    from interspect.evaluation.metrics import _greedy_minimise, _polynomial

    g = games.HierarchicalGame(n=40, n_top=6, min_degree=2, max_degree=4, squash="tanh", seed=1)
    s = faith_banzhaf(g, 40, 900, order=2)  # dense order-2 surrogate: 820 pair terms
    x = removal_mask(s, 4, direction="down", time_limit=1e-3)
    assert int((x == 0).sum()) == 4
    _, lin, higher = _polynomial(s)
    greedy = _greedy_minimise(40, lin, higher, 4)
    assert s.predict(x[None, :])[0] <= s.predict(greedy[None, :])[0] + 1e-12
