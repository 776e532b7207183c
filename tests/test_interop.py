"""shapiq interop against shapiq itself: its exact computer (brute force over all 2^n coalitions)
gives the reference values; the round trip through ``InteractionValues`` keeps every value."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from interspect import Spectrum, exact, explain, games
from interspect.engines.exact import all_masks
from interspect.interface.explanation import Explanation
from interspect.interface.interop import SHAPIQ_INDICES, from_shapiq, to_shapiq

shapiq = pytest.importorskip("shapiq", reason="pip install 'interspect[shapiq]' (shapiq==1.4.1)")

N = 5
CASES = [("SV", 1), ("BV", 1), ("k-SII", 1), ("FBII", 1), ("FSII", 1), ("SII", 2), ("SII", 3), ("BII", 2), ("BII", 4), ("k-SII", 2),
         ("k-SII", 3), ("STII", 2), ("STII", 3), ("FSII", 2), ("FSII", 3), ("FBII", 2),
         ("FBII", 3), ("Moebius", N)]  # fmt: skip


def dense_game(n: int, seed: int):
    """A random game with a value per coalition: full degree, f(∅) != 0."""
    table = np.random.default_rng(seed).normal(size=2**n)
    weights = 1 << np.arange(n)
    return lambda X: table[np.asarray(X, dtype=np.int64) @ weights]


@pytest.fixture(scope="module")
def reference():
    game = dense_game(N, seed=4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        computer = shapiq.ExactComputer(n_players=N, game=lambda C: game(C.astype(np.uint8)))
        ref = {case: computer(*case) for case in CASES}
        # At order 1 FBII is the Banzhaf value; shapiq's exact computer names it "BV" but keeps
        # FBII's intercept under (), where its own "BV" keeps the mean: we write it as BV.
        ref[("FBII", 1)] = computer("BV", 1)
    return exact(game, N), ref


def assert_same_values(ours, theirs, atol=1e-8, baseline=True):
    assert ours.index == theirs.index and ours.n_players == theirs.n_players
    assert ours.max_order == theirs.max_order and ours.min_order == theirs.min_order == 0
    if baseline:
        assert ours.baseline_value == pytest.approx(theirs.baseline_value, abs=atol)
    keys = set(ours.dict_values) | set(theirs.dict_values)
    assert () in ours.dict_values
    for k in keys:
        assert ours[k] == pytest.approx(theirs[k], abs=atol), k


@pytest.mark.parametrize("case", CASES, ids=[f"{i}-{o}" for i, o in CASES])
def test_to_shapiq_equals_shapiqs_exact_computer(reference, case):
    spectrum, ref = reference
    index, order = case
    # shapiq's FSII solves a least-squares problem in floating point: 1e-8 of slack.
    assert_same_values(to_shapiq(spectrum, index, order), ref[case], atol=1e-7)


@pytest.mark.parametrize("case", CASES, ids=[f"{i}-{o}" for i, o in CASES])
def test_round_trip_through_interaction_values_keeps_every_value(reference, case):
    _, ref = reference
    index, order = case
    back = from_shapiq(ref[case])
    assert back.degree <= order
    # SII, BII and BV store under () something other than f(∅) (see the module docstring), so
    # the degree-`order` surrogate keeps () and its own f(∅) becomes the baseline.
    keeps_baseline = ref[case].index not in ("SII", "BII", "BV")
    assert_same_values(to_shapiq(back, index, order), ref[case], atol=1e-9, baseline=keeps_baseline)


def test_moebius_round_trip_gives_the_function_back(reference):
    spectrum, ref = reference
    X = all_masks(N)
    back = from_shapiq(ref[("Moebius", N)])
    np.testing.assert_allclose(back.predict(X), spectrum.predict(X), atol=1e-9)
    again = from_shapiq(to_shapiq(spectrum))
    np.testing.assert_allclose(again.predict(X), spectrum.predict(X), atol=1e-9)


@pytest.mark.parametrize("order", [1, 2, 3])
def test_fbii_round_trip_is_the_fourier_truncation(reference, order):
    spectrum, _ = reference
    back = from_shapiq(to_shapiq(spectrum, "FBII", order))
    X = all_masks(N)
    truncated = Spectrum({k: v for k, v in spectrum.fourier.items() if len(k) <= order}, N)
    np.testing.assert_allclose(back.predict(X), truncated.predict(X), atol=1e-9)


@pytest.mark.parametrize("index", ["k-SII", "STII", "FSII", "SII", "BII"])
def test_a_surrogate_of_low_degree_comes_back_unchanged(index):
    s = Spectrum.from_mobius({(): 0.3, (0,): 1.0, (2,): -0.5, (1, 3): 2.0, (0, 2, 4): -1.5}, n=6)
    back = from_shapiq(to_shapiq(s, index, 3))
    X = all_masks(6)
    np.testing.assert_allclose(back.predict(X), s.predict(X), atol=1e-12)


def test_json_files_written_by_shapiq_load_back(tmp_path, reference):
    spectrum, _ = reference
    iv = to_shapiq(spectrum, "FSII", 2)
    path = tmp_path / "values.json"
    iv.to_json_file(path)
    loaded = shapiq.InteractionValues.from_json_file(path)
    assert_same_values(to_shapiq(from_shapiq(loaded), "FSII", 2), iv, atol=1e-12)


def test_explanation_uses_its_own_index_and_order():
    g = games.HierarchicalGame(8, n_top=3, min_degree=2, max_degree=3, seed=2)
    e = explain(g, 8, method="exact", index="STII", order=3, n_test=0)
    iv = e.to_shapiq()
    assert (iv.index, iv.max_order, iv.estimated, iv.estimation_budget) == ("STII", 3, False, 256)
    for key, value in e.values.items():
        assert iv[key] == pytest.approx(value, abs=1e-12)
    sv = e.to_shapiq("SV")
    assert sv.index == "SV" and sv.max_order == 1
    assert [sv[(i,)] for i in range(8)] == pytest.approx(list(e.spectrum.interactions("SV").values()))
    e2 = Explanation.from_shapiq(iv, features=e.features)
    assert e2.features == e.features and (e2.index, e2.order) == ("STII", 3)
    for key in set(e.values) | set(e2.values):
        assert e2.values.get(key, 0.0) == pytest.approx(e.values.get(key, 0.0), abs=1e-9), key
    assert Spectrum.from_shapiq(iv).degree <= 3


def test_every_shapiq_plot_draws_an_interspect_result(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    words = "the plot never fails to bore me".split()
    g = games.HierarchicalGame(len(words), n_top=2, min_degree=2, max_degree=3, seed=5)
    e = explain(g, len(words), features=words, method="exact", index="k-SII", order=2, n_test=0)
    iv = e.to_shapiq()
    plots = [
        lambda: iv.plot_force(feature_names=words, show=False),
        lambda: iv.plot_waterfall(feature_names=words, show=False),
        lambda: iv.plot_network(feature_names=words, show=False),
        lambda: iv.plot_si_graph(feature_names=words, show=False),
        lambda: iv.plot_stacked_bar(feature_names=words, show=False),
        lambda: iv.plot_upset(feature_names=words, show=False),
        lambda: iv.plot_sentence(words, show=False),
        lambda: shapiq.plot.bar_plot([iv], feature_names=words, show=False),
    ]
    for draw in plots:
        # shapiq's plots draw on pyplot's current figure: each gets a fresh one.
        plt.figure()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            draw()
        plt.close("all")


def test_a_thousand_features_convert_sparsely():
    g = games.SparseFourierGame(n=1000, n_terms=30, max_degree=3, seed=1)
    s = g.spectrum
    iv = to_shapiq(s, "FBII", 2)
    # every player's first-order entry, the empty set and the pairs the terms touch, not C(1000, 2)
    assert 1001 <= len(iv.dict_values) <= 1001 + 30 * 3
    back = from_shapiq(iv)
    X = np.random.default_rng(0).integers(0, 2, size=(50, 1000), dtype=np.uint8)
    truncated = Spectrum({k: v for k, v in s.fourier.items() if len(k) <= 2}, 1000)
    np.testing.assert_allclose(back.predict(X), truncated.predict(X), atol=1e-9)


def test_bad_input_is_one_clear_error(reference):
    spectrum, ref = reference
    with pytest.raises(ValueError, match="'Fourier' has no shapiq counterpart"):
        to_shapiq(spectrum, "Fourier")
    with pytest.raises(ValueError, match="index='CHII'.*accepted values: SV, BV"):
        from_shapiq(shapiq.ExactComputer(n_players=3, game=lambda C: C.sum(1).astype(float))("CHII", 2))
    with pytest.raises(ValueError, match="first-order index"):
        to_shapiq(spectrum, "SV", 2)
    with pytest.raises(TypeError, match="shapiq.InteractionValues"):
        from_shapiq({(0,): 1.0})
    with pytest.raises(TypeError, match="interspect.Spectrum"):
        to_shapiq(ref[("SV", 1)], "SV")
    assert set(SHAPIQ_INDICES) <= set(__import__("interspect").core.indices.INDICES)
