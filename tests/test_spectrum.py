"""Spectrum basics: round trips, prediction, persistence, input checking, exact, games, faithfulness."""

from __future__ import annotations

import json

import numpy as np
import pytest

from interspect import Spectrum, exact, faithfulness, games
from interspect.engines.exact import all_masks, fwht


def naive_predict(fourier, X):
    return np.array(
        [sum(v * (-1) ** int(sum(x[i] for i in k)) for k, v in fourier.items()) for x in X]
    )


def random_spectrum(n, n_terms, seed, max_degree=4):
    return games.SparseFourierGame(n, n_terms, max_degree, seed=seed).spectrum


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_fourier_mobius_exact_round_trip(seed):
    n = 7
    s = random_spectrum(n, 12, seed)
    back = Spectrum.from_mobius(s.mobius(), n)
    for k, v in s.fourier.items():
        assert back.fourier.get(k, 0.0) == pytest.approx(v, abs=1e-12)
    assert set(k for k, v in back.fourier.items() if abs(v) > 1e-12) == set(s.fourier)
    ex = exact(s.predict, n)
    assert set(ex.fourier) == set(s.fourier)
    for k, v in s.fourier.items():
        assert ex.fourier[k] == pytest.approx(v, abs=1e-12)


def test_predict_equals_value_function_on_all_masks():
    n = 8
    g = games.HierarchicalGame(n, n_top=3, seed=3)
    X = all_masks(n)
    # Möbius form evaluated directly: f(x) = Σ a(S) Π x_i.
    direct = np.zeros(len(X))
    for S, a in g.mobius.items():
        direct += a * np.all(X[:, list(S)] == 1, axis=1)
    assert np.allclose(g.spectrum.predict(X), direct)
    s = exact(g, n)
    assert np.allclose(s.predict(X), g(X))


def test_predict_matches_naive_and_is_chunked():
    s = random_spectrum(30, 50, 4, max_degree=5)
    X = np.random.default_rng(0).integers(0, 2, size=(300, 30))
    ref = naive_predict(s.fourier, X)
    assert np.allclose(s.predict(X), ref)
    assert np.allclose(s.predict(X, chunk_size=7), ref)
    assert np.allclose(s.predict(X.astype(bool)), ref)
    assert s.predict(X[0]).shape == (1,)


def test_predict_large_batch_shape():
    n = 2000
    s = random_spectrum(n, 3000, 5, max_degree=5)
    X = np.random.default_rng(1).integers(0, 2, size=(20_000, n), dtype=np.uint8)
    y = s.predict(X)
    assert y.shape == (20_000,)
    assert np.allclose(y[:50], naive_predict(s.fourier, X[:50]))


def test_json_round_trip_is_lossless(tmp_path):
    s = Spectrum(
        {(): 0.1 + 0.2, (3, 1): 1 / 3, (2,): -1e-300, (0, 1, 4): np.pi}, n=5, n_queries=123
    )
    path = tmp_path / "s.json"
    s.to_json(path)
    back = Spectrum.from_json(path)
    assert back == s
    assert back.fourier == s.fourier  # bit-for-bit floats
    assert back.n_queries == 123
    assert json.loads(path.read_text())["format"] == "interspect.spectrum/1"
    with pytest.raises(ValueError, match="not an interspect spectrum"):
        Spectrum.from_dict({"n": 3})


def test_keys_are_normalised_and_merged():
    s = Spectrum({(2, 0): 1.0, (0, 2): 0.5}, n=3)
    assert s.fourier == {(0, 2): 1.5}
    assert s.degree == 2 and len(s) == 1


@pytest.mark.parametrize(
    ("fourier", "n", "exc", "match"),
    [
        ({(0,): 1.0}, 0, ValueError, "n must be an integer >= 1"),
        ({(0,): 1.0}, 2.5, TypeError, "n must be an integer"),
        ({(5,): 1.0}, 3, ValueError, "outside 0..2"),
        ({(1, 1): 1.0}, 3, ValueError, "repeats a feature"),
        ({(0,): float("nan")}, 3, ValueError, "not finite"),
        ([((0,), 1.0)], 3, TypeError, "fourier must be a dict"),
    ],
)
def test_constructor_errors(fourier, n, exc, match):
    with pytest.raises(exc, match=match):
        Spectrum(fourier, n)


@pytest.mark.parametrize(
    ("X", "exc", "match"),
    [
        (np.zeros((4, 2)), ValueError, "must have n=3 columns"),
        (np.full((2, 3), 2), ValueError, "only 0 and 1"),
        (np.full((2, 3), 0.5), ValueError, "only 0 and 1"),
        (np.zeros((2, 3, 1)), ValueError, "2-d array"),
        (np.array([["a", "b", "c"]]), TypeError, "numeric 0/1"),
    ],
)
def test_predict_rejects_bad_masks(X, exc, match):
    with pytest.raises(exc, match=match):
        Spectrum({(0,): 1.0}, n=3).predict(X)


def test_exact_checks():
    with pytest.raises(ValueError, match="supports n <= 20"):
        exact(lambda X: X.sum(1), 21)
    with pytest.raises(ValueError, match="non-finite"):
        exact(lambda X: np.where(X[:, 0] == 1, np.nan, 0.0), 3)
    with pytest.raises(ValueError, match=r"shape \(8,\)"):
        exact(lambda X: np.zeros(3), 3)
    with pytest.raises(TypeError, match="value_fn must be callable"):
        exact(42, 3)  # type: ignore[arg-type]


def test_fwht_matches_definition():
    y = np.random.default_rng(0).normal(size=16)
    H = np.array([[(-1) ** bin(i & j).count("1") for j in range(16)] for i in range(16)])
    assert np.allclose(fwht(y), H @ y)
    with pytest.raises(ValueError, match="power of two"):
        fwht(np.ones(6))


def test_games_know_their_spectrum_and_noise_is_seeded():
    n = 8
    for g in [
        games.SparseFourierGame(n, 6, 3, seed=1),
        games.HierarchicalGame(n, 2, 2, 4, seed=1),
        games.DummyGame(n, (1, 4)),
        games.LinearGame(n, seed=2),
    ]:
        ex = exact(g, n)
        for k, v in g.spectrum.fourier.items():
            assert ex.fourier.get(k, 0.0) == pytest.approx(v, abs=1e-10)
    X = all_masks(n)
    a = games.SparseFourierGame(n, 6, 3, noise_std=0.3, seed=7)(X)
    b = games.SparseFourierGame(n, 6, 3, noise_std=0.3, seed=7)(X)
    assert np.array_equal(a, b)
    clean = games.SparseFourierGame(n, 6, 3, seed=7)(X)
    assert 0.2 < np.std(a - clean) < 0.4
    # Hierarchy: every subset of each top interaction carries a Möbius coefficient.
    h = games.HierarchicalGame(12, 3, 3, 5, seed=0)
    mob = h.spectrum.mobius(tol=1e-12)
    for top in h.top_interactions:
        assert top in mob
        assert all((i,) in mob for i in top)
    sq = games.HierarchicalGame(10, 3, squash="tanh", seed=0)
    assert sq.spectrum is None and sq.signal_std() > 0
    with pytest.raises(ValueError, match="noise_std"):
        games.SparseFourierGame(4, 2, noise_std=-1)


def test_faithfulness():
    g = games.SparseFourierGame(10, 8, 3, seed=0)
    assert faithfulness(exact(g, 10), g) == pytest.approx(1.0)
    assert faithfulness(Spectrum({}, 10), g) < 0.01
    assert faithfulness(exact(g, 10), g, seed=1) == pytest.approx(1.0)
    with pytest.raises(TypeError, match="interspect.Spectrum"):
        faithfulness({(): 1.0}, g)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="n_test"):
        faithfulness(exact(g, 10), g, n_test=1)


def test_top_orders_by_magnitude():
    s = Spectrum.from_mobius({(0,): 1.0, (1, 2): -3.0, (3,): 2.0}, n=4)
    assert s.top(2, index="Moebius") == [((1, 2), -3.0), ((3,), 2.0)]
    sv = s.top(4, index="SV")
    assert [k for k, _ in sv] == [(3,), (1,), (2,), (0,)]


@pytest.mark.parametrize("dtype", [np.uint8, bool, np.int64, np.float64])
def test_parity_design_gather_and_sparse_paths_match_brute_force(dtype: type, monkeypatch: pytest.MonkeyPatch) -> None:
    from interspect.core import parity

    rng = np.random.default_rng(3)
    for _ in range(40):
        n, m = int(rng.integers(1, 30)), int(rng.integers(1, 40))
        X = rng.integers(0, 2, (m, n)).astype(dtype)
        keys = [tuple(sorted(rng.choice(n, size=int(rng.integers(0, min(n, 9) + 1)), replace=False).tolist()))
                for _ in range(int(rng.integers(1, 20)))]
        keys.append(keys[0])  # a repeated key
        brute = np.array([[(-1.0) ** sum(int(X[r, i]) for i in k) for k in keys] for r in range(m)]).reshape(m, -1)
        gathered = parity.parity_design(keys, X, np.float32)
        monkeypatch.setattr(parity, "_GATHER_WORK", 0)  # force the sparse product
        sparse = parity.parity_design(keys, X, np.float32)
        monkeypatch.undo()
        assert gathered.dtype == np.float32 and np.array_equal(gathered, brute) and np.array_equal(sparse, brute)
        # The same memory layout: products with the design then sum in the same order.
        assert gathered.flags.f_contiguous == sparse.flags.f_contiguous
