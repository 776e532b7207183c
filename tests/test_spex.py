"""SPEX against independent references: brute-force spectra (n <= 16) and planted games."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import interspect
from interspect import exact, faithfulness, games, spex, spex_budget
from interspect.engines.spex.codes import BCHCode
from interspect.engines.spex.decoding import chase_candidates, decode_syndromes, syndromes
from interspect.engines.spex.design import make_design


def _close(a: dict, b: dict, tol: float = 1e-6) -> bool:
    keys = set(a) | set(b)
    return all(abs(a.get(k, 0.0) - b.get(k, 0.0)) <= tol for k in keys)


def _significant(d: dict, tol: float = 1e-6) -> set:
    return {k for k, v in d.items() if abs(v) > tol}


# ------------------------------------------------------------------ exact recovery
@pytest.mark.parametrize("decoder", ["soft", "hard"])
@pytest.mark.parametrize("n,terms,degree,seed", [(8, 6, 3, 0), (12, 10, 4, 1), (16, 12, 5, 2)])
def test_recovers_brute_force_spectrum(n, terms, degree, seed, decoder):
    g = games.SparseFourierGame(n, terms, degree, seed=seed)
    truth = exact(g, n).fourier  # independent reference over all 2^n masks
    for regression in (True, False):
        s = spex(g, n, 4000, seed=seed, decoder=decoder, regression=regression)
        assert _significant(s.fourier) == set(truth)
        assert _close(s.fourier, truth)


@pytest.mark.parametrize("decoder", ["soft", "hard"])
@pytest.mark.parametrize("n,terms,degree,budget,seed", [(40, 20, 3, 5000, 3), (100, 30, 4, 8000, 4), (300, 40, 5, 12000, 5)])
def test_recovers_planted_game(n, terms, degree, budget, seed, decoder):
    g = games.SparseFourierGame(n, terms, degree, seed=seed)
    s = spex(g, n, budget, seed=seed, decoder=decoder)
    assert s.n_queries <= budget
    assert _significant(s.fourier) == set(g.spectrum.fourier)
    assert _close(s.fourier, g.spectrum.fourier)


def test_hierarchical_game_exact():
    g = games.HierarchicalGame(14, n_top=3, min_degree=2, max_degree=4, seed=7)
    s = spex(g, 14, 6000, seed=0)
    assert _close(s.fourier, exact(g, 14).fourier)


# ------------------------------------------------------------------ determinism and budget
def test_same_seed_same_spectrum_and_global_rng_untouched():
    g = games.SparseFourierGame(64, 15, 3, noise_std=0.05, seed=11)
    state = np.random.get_state()  # noqa: NPY002 (checking the legacy global RNG is the point)
    a = spex(games.SparseFourierGame(64, 15, 3, noise_std=0.05, seed=11), 64, 5000, seed=42)
    b = spex(games.SparseFourierGame(64, 15, 3, noise_std=0.05, seed=11), 64, 5000, seed=42)
    after = np.random.get_state()  # noqa: NPY002
    assert a.fourier == b.fourier and a.n_queries == b.n_queries  # bit for bit
    assert state[0] == after[0] and np.array_equal(state[1], after[1]) and state[2:] == after[2:]
    c = spex(g, 64, 5000, seed=43)
    assert c.fourier != a.fourier  # a different design sees different noise


def test_budget_accounting_and_batches():
    assert spex_budget(128, 6, 5) == 7872  # SPEC §3 worked examples
    assert spex_budget(1000, 8, 5) == 43008
    g = games.SparseFourierGame(128, 10, 3, seed=0)
    sizes: list[int] = []

    def f(X):
        sizes.append(len(X))
        return g(X)

    s = spex(f, 128, 10_000, seed=0, batch_size=1000)
    assert s.n_queries == spex_budget(128, 6, 5) == sum(sizes) == g.n_calls
    assert max(sizes) == 1000 and len(sizes) == -(-s.n_queries // 1000)
    s2 = spex(g, 128, 7871, seed=0)  # one short of b = 6
    assert s2.n_queries == spex_budget(128, 5, 5)


def test_budget_too_small_names_smallest_workable_budget():
    smallest = spex_budget(50, 3, 1)
    with pytest.raises(ValueError, match=f"smallest workable budget is {smallest}"):
        spex(lambda X: X.sum(1).astype(float), 50, smallest - 1)
    with pytest.warns(UserWarning, match="max_degree"):
        s = spex(lambda X: 2.0 * X[:, 3], 50, smallest, seed=0)
    assert _close(s.fourier, {(): 1.0, (3,): -1.0})


def test_validation_messages():
    f = games.SparseFourierGame(10, 3, 2, seed=0)
    with pytest.raises(ValueError, match="decoder"):
        spex(f, 10, 2000, decoder="fast")
    with pytest.raises(ValueError, match="budget"):
        spex(f, 10, 0)
    with pytest.raises(TypeError, match="value_fn"):
        spex(None, 10, 2000)
    with pytest.raises(ValueError, match="shape"):
        spex(lambda X: np.zeros(3), 10, 2000)


# ------------------------------------------------------------------ edge cases
@pytest.mark.parametrize("n", [1, 2, 3])
def test_tiny_n(n):
    for seed in range(3):
        g = games.SparseFourierGame(n, 2**n - 1, n, seed=seed)
        s = spex(g, n, 2000, seed=seed)
        assert _close(s.fourier, exact(g, n).fourier)


def test_constant_and_zero_functions():
    s = spex(lambda X: np.full(len(X), 2.5), 30, 3000, seed=0)
    assert _close(s.fourier, {(): 2.5}, 1e-9)
    assert spex(lambda X: np.zeros(len(X)), 30, 3000, seed=0).fourier == {}


def test_all_coefficients_on_one_feature():
    s = spex(lambda X: 1.0 + 3.0 * X[:, 7], 40, 3000, seed=1)
    assert _significant(s.fourier) == {(), (7,)}
    assert _close(s.fourier, {(): 2.5, (7,): -1.5})


@pytest.mark.parametrize("seed", range(4))
def test_degree_above_max_degree_is_not_misreported(seed):
    # A planted degree-4 and degree-5 term with max_degree=2: they cannot be identified, and
    # no wrong key may stand in for them.
    truth = {(): 0.3, (1,): 1.0, (2, 9): -0.8, (3, 4, 5, 6): 1.2, (10, 11, 12, 13, 14): -0.9, (20,): 0.7}
    g = interspect.Spectrum(truth, 30)
    for regression in (False, True):
        s = spex(g.predict, 30, 6000, seed=seed, max_degree=2, regression=regression)
        reported = _significant(s.fourier, 0.05)
        assert reported <= set(truth), reported - set(truth)
        assert all(len(k) <= 2 for k in reported)


# ------------------------------------------------------------------ soft vs hard
def test_chase_decodes_a_word_hard_decoding_misses():
    code = BCHCode(60, 4)
    k = (3, 17, 41)  # weight 3: one more error makes 4, two more exceed t = 4
    bits = np.bitwise_xor.reduce(code.parity[list(k)], axis=0)
    rel = np.where(bits == 1, -1.0, 1.0)
    rel[[5, 11]] *= -0.05  # two flipped, unreliable parity bits
    hard = decode_syndromes(code, syndromes(code, rel[None] < 0))
    assert not (hard.ok[0] and hard.keys[0] == k)
    S, cost = chase_candidates(code, rel[None], depth=8, n_patterns=64)
    soft = decode_syndromes(code, S[0])
    assert k in {key for key, ok in zip(soft.keys, soft.ok) if ok}
    assert np.all(np.diff(cost[0]) >= 0)  # likeliest patterns first


def test_soft_recovers_more_than_hard_under_noise():
    missed = {"soft": 0, "hard": 0}
    for seed in range(4):
        clean = games.SparseFourierGame(100, 10, 5, seed=seed)
        for decoder in missed:
            g = games.SparseFourierGame(100, 10, 5, seed=seed, noise_std=0.5 * clean.signal_std())
            s = spex(g, 100, 3000, seed=seed, decoder=decoder, regression=False)
            missed[decoder] += len(set(clean.spectrum.fourier) - set(s.fourier))
    assert missed["soft"] < missed["hard"]


def test_regression_improves_noisy_fit():
    clean = games.SparseFourierGame(128, 40, 4, seed=3)
    r2 = {}
    for regression in (False, True):
        g = games.SparseFourierGame(128, 40, 4, seed=3, noise_std=0.3 * clean.signal_std())
        r2[regression] = faithfulness(spex(g, 128, 8000, seed=0, regression=regression), clean)
    assert r2[True] > r2[False] > 0.99


# ------------------------------------------------------------------ building blocks
def test_bch_code_corrects_up_to_t_errors():
    rng = np.random.default_rng(0)
    for n, t in [(30, 2), (200, 5)]:
        code = BCHCode(n, t)
        F = code.field
        for i in range(n):  # every message row is a codeword with its parity
            pos = np.concatenate([np.flatnonzero(code.parity[i]), [code.p + i]])
            assert not np.bitwise_xor.reduce(F.pow_alpha(pos[:, None] * np.arange(1, 2 * t + 1)), axis=0).any()
        words, truth = [], []
        for _ in range(300):
            w = int(rng.integers(0, t + 1))
            k = tuple(sorted(rng.choice(n, w, replace=False).tolist()))
            bits = np.bitwise_xor.reduce(code.parity[list(k)], axis=0) if k else np.zeros(code.p, np.uint8)
            flips = rng.choice(code.p, int(rng.integers(0, t - w + 1)), replace=False)
            bits = bits.copy()
            bits[flips] ^= 1
            words.append(bits)
            truth.append(k)
        res = decode_syndromes(code, syndromes(code, np.array(words)))
        assert res.ok.all() and res.keys == truth


def test_designs_are_nested():
    d = make_design(20, 5, 3, 2, np.random.default_rng(0))
    small = make_design(20, 3, 3, 2, np.random.default_rng(0))
    small.M = d.M[:, :, :3].copy()
    for c in range(2):
        assert np.array_equal(d.base(c)[: 1 << 3], small.base(c))
    masks = d.masks(0, d.n_queries)
    assert masks.shape == (d.n_queries, 20)
    assert np.array_equal(masks[: 1 << 5], d.base(0))  # delay 0 is the zero vector


def test_progress_callback_and_callable_subpackage():
    import interspect
    import interspect.engines.spex  # noqa: F401  (loading the engine package must not shadow the function)

    module = interspect.spex

    calls = []
    g = games.SparseFourierGame(20, 5, 2, seed=0)
    s = module(g, 20, 3000, seed=0, progress=lambda stage, done, total: calls.append((stage, done, total)))
    stages = {c[0] for c in calls}
    assert stages == {"query", "decode"}
    assert calls[-1][1] == calls[-1][2]
    assert [c for c in calls if c[0] == "query"][-1][1] == s.n_queries
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        s2 = spex(g, 20, 3000, seed=0, progress=True)
    assert s2 == s


def test_degree_above_max_degree_stress():
    # Many games mixing identifiable (degree <= 2) and unidentifiable (degree 3..5) terms at a
    # small budget: miscorrected keys must be rejected (without the cross-group check about one
    # run in seven reports a wrong key here).
    rng = np.random.default_rng(0)
    wrong = 0
    for seed in range(40):
        truth = {(): 0.3}
        for size, count in ((1, 3), (3, 4)):
            for _ in range(count):
                d = size + int(rng.integers(0, 2 if size == 1 else 3))
                truth[tuple(sorted(rng.choice(30, d, replace=False).tolist()))] = float(rng.uniform(0.5, 1.5))
        g = interspect.Spectrum(truth, 30)
        s = spex(g.predict, 30, 2000, seed=seed, max_degree=2, regression=False)
        wrong += len(_significant(s.fourier, 0.05) - set(truth))
    assert wrong == 0
