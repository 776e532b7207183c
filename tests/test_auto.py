"""Honest validation (cross-fitting), budget="auto" and method="auto".

References: planted games with known spectra, brute-force masks, and spies that record which rows
each step saw.
"""

from __future__ import annotations

import numpy as np
import pytest

from interspect import explain, faithfulness, games
from interspect.engines.auto import AutoBudget, auto_method, proxyspex_rounds, resolve_budget
from interspect.engines.proxy import crossfitting as cf
from interspect.engines.proxy import proxyspex
from interspect.engines.proxy.sampling import (
    draw_masks,
    more_masks,
    stratified_masks,
    uniform_masks,
)

pytest.importorskip("lightgbm")


def _keys(X: np.ndarray) -> set[bytes]:
    return {r.tobytes() for r in np.asarray(X, dtype=np.uint8)}


# ----------------------------------------------------------------------------- cross-fitting
def test_crossfit_never_scores_a_row_it_fitted() -> None:
    rng = np.random.default_rng(0)
    X = uniform_masks(12, 300, rng)
    y = rng.normal(size=300)
    eligible = np.arange(300) >= 40  # rows 0..39: a structured design, fitted but never scored
    folds = cf.make_folds(300, 5, rng, eligible=eligible)
    seen: list[set[bytes]] = []

    def supports(Xt: np.ndarray, yt: np.ndarray, j: int) -> dict[str, list[tuple[int, ...]]]:
        seen.append(_keys(Xt))
        return {"one": [(0,)]}

    out = cf.crossfit(X, y, supports, folds=folds)
    held = [va for _, va in out.folds]
    # Every eligible row is held out exactly once, the others never.
    assert sorted(np.concatenate(held).tolist()) == list(range(40, 300))
    for j, (tr, va) in enumerate(out.folds):
        assert not set(tr.tolist()) & set(va.tolist())
        assert not seen[j] & _keys(X[va]), "the pipeline of a fold saw rows that fold scores"
        assert set(range(40)) <= set(tr.tolist())


def test_crossfit_r2_is_out_of_sample() -> None:
    # A support with more terms than samples fits pure noise exactly: scored on the rows it was
    # fitted to, its R² would be 1. Held out, it has no skill.
    rng = np.random.default_rng(1)
    n, m = 8, 100
    X = uniform_masks(n, m, rng)
    y = rng.normal(size=m)
    every = [tuple(i for i in range(n) if (s >> i) & 1) for s in range(1, 2**n)]
    out = cf.crossfit(X, y, lambda Xt, yt, j: {"all": every}, folds=cf.make_folds(m, 4, rng), alphas=np.array([0.0]))
    assert out.r2 < 0.1


def test_crossfit_prefers_fewer_terms_among_ties_and_finds_the_truth() -> None:
    rng = np.random.default_rng(2)
    X = uniform_masks(10, 400, rng)
    y = 1.0 + 2.0 * (-1.0) ** X[:, 3] - 0.5 * (-1.0) ** (X[:, 1] + X[:, 5])
    fams = {"true": [(3,), (1, 5)], "more": [(3,), (1, 5), (0, 2), (7,)], "less": [(3,)]}
    out = cf.crossfit(X, y, lambda Xt, yt, j: fams, folds=cf.make_folds(400, 3, rng))
    assert out.family == "true" and out.r2 > 1 - 1e-9


def test_crossfit_one_standard_error_rule() -> None:
    """A term too small for the samples to tell apart is dropped and the strongest penalty within
    one paired standard error of the best is kept (checked against per-fold ridge fits done
    here); a term the samples clearly support is kept."""
    from interspect import Spectrum

    rng = np.random.default_rng(5)
    X = uniform_masks(12, 200, rng)
    noise = rng.normal(size=200)
    base = 2.0 * (-1.0) ** X[:, 3]
    fams = {"one": [(3,)], "two": [(3,), (1, 5)]}
    folds = cf.make_folds(200, 5, rng)
    y = base + 0.02 * (-1.0) ** (X[:, 1] + X[:, 5]) + noise  # 0.02 under unit noise: invisible
    faint = cf.crossfit(X, y, lambda Xt, yt, j: fams, folds=folds)
    assert faint.family == "one"
    # Reference: squared held-out errors of every candidate from ridge_fixed on each fold.
    err = {}
    for f, keys in fams.items():
        for a in cf.ALPHAS.tolist():
            e = []
            for tr, va in folds:
                c, w = cf.ridge_fixed(keys, X[tr], y[tr], a)
                e.append((Spectrum({(): c, **dict(zip(keys, w.tolist()))}, 12).predict(X[va]) - y[va]) ** 2)
            err[(f, a)] = np.concatenate(e)
    best = min(err, key=lambda c: err[c].sum())
    ok = [a for a in cf.ALPHAS.tolist()
          if err[("one", a)].sum() - err[best].sum() <= np.sqrt(200) * np.std(err[("one", a)] - err[best])]
    assert faint.alpha == pytest.approx(max(ok))
    strong = cf.crossfit(X, base + 1.0 * (-1.0) ** (X[:, 1] + X[:, 5]) + noise, lambda Xt, yt, j: fams, folds=folds)
    assert strong.family == "two"


def test_stack_weights_are_the_nonnegative_fit_to_held_out_predictions() -> None:
    """On noisy data where no support is right, the stack's weights are the normalised
    non-negative least-squares fit of the held-out predictions (recomputed here from per-fold
    ridge fits), and its R² is that mix's held-out R²."""
    import scipy.optimize

    from interspect import Spectrum

    rng = np.random.default_rng(0)
    m, n = 160, 10
    X = uniform_masks(n, m, rng)
    y = ((-1.0) ** X[:, 0] + 0.4 * (-1.0) ** (X[:, 1] + X[:, 2]) + 0.3 * (-1.0) ** X[:, 3] + 0.25 * (-1.0) ** X[:, 4]
         + 1.5 * rng.normal(size=m))
    # Each support holds some of the true terms and some false ones: b the pair, c the singletons.
    fams = {"a": [(0,)], "b": [(0,), (1, 2), (5,), (6, 7)], "c": [(0,), (3,), (4,), (8, 9), (2,)]}
    folds = cf.make_folds(m, 5, rng)
    cv = cf.crossfit(X, y, lambda Xt, yt, j: fams, folds=folds)
    st = cf.stack(cv, y)
    held = np.concatenate([va for _, va in folds])
    cols = [np.concatenate([np.full(len(va), y[tr].mean()) for tr, va in folds])]
    for f, keys in fams.items():
        a = min(cf.ALPHAS.tolist(), key=lambda a: cv.scores[(f, a)])
        pred = []
        for tr, va in folds:
            c, w = cf.ridge_fixed(keys, X[tr], y[tr], a)
            pred.append(Spectrum({(): c, **dict(zip(keys, w.tolist()))}, n).predict(X[va]))
        cols.append(np.concatenate(pred))
    w, _ = scipy.optimize.nnls(np.column_stack(cols), y[held])
    w = w / w.sum()
    want = {name: v for name, v in zip(["", *fams], w.tolist()) if v > 0}
    assert len(want) >= 2, "the case should mix candidates"
    assert {f: wt for f, (_, wt) in st.weights.items()} == pytest.approx(want, abs=1e-6)
    mix = np.column_stack(cols) @ w
    assert st.r2 == pytest.approx(1 - np.sum((mix - y[held]) ** 2) / cv.sst, abs=1e-9)
    assert st.r2 >= max(cv.family_r2().values()) - 1e-12


def test_stack_defers_to_the_single_choice_on_exact_data() -> None:
    # Two supports fit exactly: a mix can be no better, and the simpler support is kept alone.
    rng = np.random.default_rng(3)
    X = uniform_masks(10, 300, rng)
    y = 1.0 + 2.0 * (-1.0) ** X[:, 3] - 0.5 * (-1.0) ** (X[:, 1] + X[:, 5])
    fams = {"true": [(3,), (1, 5)], "more": [(3,), (1, 5), (0, 2)], "less": [(3,)]}
    cv = cf.crossfit(X, y, lambda Xt, yt, j: fams, folds=cf.make_folds(300, 5, rng))
    st = cf.stack(cv, y)
    assert st.weights == {"true": (cv.alpha, 1.0)} and st.family == "true" and st.r2 == cv.r2


def test_ridge_mixture_is_the_weighted_sum_of_ridge_fits() -> None:
    rng = np.random.default_rng(4)
    X = uniform_masks(8, 150, rng)
    y = rng.normal(size=150) + (-1.0) ** X[:, 2]
    parts = [([(2,), (0, 1)], 0.5, 0.3), ([(2,), (4,)], 5.0, 0.5), ([], 0.0, 0.2)]
    keys, const, coef = cf.ridge_mixture(parts, X, y)
    assert keys == [(2,), (0, 1), (4,)]
    want_c, want = 0.0, dict.fromkeys(keys, 0.0)
    for ks, a, w in parts:
        c, v = cf.ridge_fixed(ks, X, y, a)
        want_c += w * c
        for k, x in zip(ks, v.tolist()):
            want[k] += w * x
    assert const == pytest.approx(want_c, abs=1e-10) and coef.tolist() == pytest.approx(list(want.values()), abs=1e-10)


def test_proxyspex_pipeline_per_fold_sees_only_its_training_rows(monkeypatch: pytest.MonkeyPatch) -> None:
    import interspect.engines.proxy as px

    calls: list[set[bytes]] = []
    real = px.fit_proxy

    def spy(X: np.ndarray, y: np.ndarray, **kw: object) -> object:
        calls.append(_keys(X))
        return real(X, y, **kw)

    folds_seen: list[list[tuple[np.ndarray, np.ndarray]]] = []
    real_folds = px.make_folds

    def spy_folds(*a: object, **kw: object) -> list[tuple[np.ndarray, np.ndarray]]:
        f = real_folds(*a, **kw)
        folds_seen.append(f)
        return f

    monkeypatch.setattr(px, "fit_proxy", spy)
    monkeypatch.setattr(px, "make_folds", spy_folds)
    g = games.HierarchicalGame(16, n_top=3, min_degree=2, max_degree=3, seed=4)
    X = uniform_masks(16, 300, np.random.default_rng(0))
    px._spectrum_from_samples(X, g(X), max_degree=5, backend="lightgbm", estimator=None, rng=np.random.default_rng(0), n_jobs=None, energy=0.999)
    (folds,) = folds_seen
    # The pipeline on all samples, then one per fold; each fits trees once per depth it tries.
    per = len(calls) // (len(folds) + 1)
    assert per >= 1 and len(calls) == per * (len(folds) + 1)
    assert all(c == _keys(X) for c in calls[:per])
    for j, (tr, va) in enumerate(folds):
        for seen in calls[per * (j + 1) : per * (j + 2)]:
            assert seen == _keys(X[tr]) and not seen & _keys(X[va])


# ----------------------------------------------------------------------------- sampling
@pytest.mark.parametrize("kind", ["paired", "stratified"])
def test_other_designs_are_distinct_and_marginally_uniform(kind: str) -> None:
    X = draw_masks(20, 2001, np.random.default_rng(3), paired=kind == "paired", stratified=kind == "stratified")
    assert X.shape == (2001, 20) and len(_keys(X)) == 2001
    assert X[0].tolist() == [1] * 20 and X[1].tolist() == [0] * 20
    assert np.all(np.abs(X[2:].mean(axis=0) - 0.5) < 0.05)
    if kind == "paired":
        assert ((X[2:2000:2] + X[3:2001:2]) == 1).all()
    else:
        # The counts of kept features have the binomial distribution (mean n/2, sd sqrt(n)/2).
        c = X[2:].sum(axis=1)
        assert abs(c.mean() - 10) < 0.1 and abs(c.std() - np.sqrt(5)) < 0.1
    assert stratified_masks(4, 100, np.random.default_rng(0)).shape == (16, 4)


def test_more_masks_are_new_until_the_cube_runs_out() -> None:
    from interspect.engines.exact import all_masks

    rng = np.random.default_rng(5)
    X = uniform_masks(6, 40, rng)
    Y = more_masks(X, 30, rng)  # only 64 - 40 = 24 masks are left
    assert len(Y) == 24 and _keys(np.concatenate([X, Y])) == _keys(all_masks(6))
    assert len(more_masks(np.concatenate([X, Y]), 5, rng)) == 0
    Z = more_masks(uniform_masks(30, 100, rng), 500, rng)
    assert len(_keys(Z)) == 500


# ----------------------------------------------------------------------------- budget="auto"
def test_budget_auto_stops_on_a_plateau_within_max_budget() -> None:
    # Noise of half the signal's sd: R² cannot pass 1/(1 + 0.25) = 0.8 however many queries.
    g0 = games.HierarchicalGame(20, n_top=3, min_degree=2, max_degree=3, seed=1)
    g = games.HierarchicalGame(20, n_top=3, min_degree=2, max_degree=3, seed=1, noise_std=0.5 * g0.signal_std())
    s, info = proxyspex_rounds(g, 20, AutoBudget(max_budget=6000, start=150), seed=0)
    assert info["stop"] == "plateau"
    assert s.n_queries == g.n_calls < 6000
    assert 0.6 < info["r2_estimate"] < 0.85
    assert [r["queries"] for r in info["rounds"]] == sorted(r["queries"] for r in info["rounds"])


def test_projected_gain_extrapolates_the_learning_curve() -> None:
    from interspect.engines.auto import _projected_gain

    # Estimates on an exact a - c/m curve of the folds' training rows (two folds: half the
    # queries): the gain is c(1/m - 1/max_budget) from the last fit's size, whatever came earlier.
    a, c = 0.9, 60.0
    hist = [{"queries": q, "fold_rows": q / 2, "r2_estimate": a - c / (q / 2)} for q in (400, 600, 900, 1350, 2000)]
    assert _projected_gain(hist, 5000) == pytest.approx(c * (1 / 2000 - 1 / 5000))
    assert _projected_gain(hist[-3:], 5000) == np.inf  # fewer than four rounds: no curve yet
    flat = [dict(h, r2_estimate=0.8 - 1e-3 * i) for i, h in enumerate(hist)]  # falling: promises nothing
    assert _projected_gain(flat, 5000) == 0.0


def test_budget_auto_never_exceeds_max_budget_and_is_deterministic() -> None:
    g = games.HierarchicalGame(20, n_top=3, min_degree=3, max_degree=4, squash="tanh", seed=2)
    auto = AutoBudget(max_budget=330, start=100, growth=1.8, tol=0.0)
    runs = [proxyspex_rounds(g, 20, auto, seed=3, max_degree=2) for _ in range(2)]
    (s1, i1), (s2, i2) = runs
    assert i1["stop"] == "max_budget" and s1.n_queries == 330
    assert [r["queries"] for r in i1["rounds"]] == [100, 149, 222, 330]  # log-spaced, landing on max_budget
    assert s1 == s2 and i1["rounds"] == i2["rounds"]
    s3, _ = proxyspex_rounds(g, 20, auto, seed=4, max_degree=2)
    assert s3 != s1


def test_budget_auto_reaches_the_target_on_an_exact_game() -> None:
    g = games.HierarchicalGame(30, n_top=3, min_degree=2, max_degree=3, seed=0)
    s, info = proxyspex_rounds(g, 30, AutoBudget(max_budget=4000, target_r2=0.99, start=100), seed=0)
    assert info["stop"] == "target" and s.n_queries < 1000
    assert faithfulness(s, g, n_test=500, seed=1) > 0.99


def test_auto_budget_validation() -> None:
    assert isinstance(resolve_budget("auto"), AutoBudget) and resolve_budget(7) == 7 and resolve_budget(None) is None
    with pytest.raises(ValueError, match="budget='soon'"):
        resolve_budget("soon")
    with pytest.raises(ValueError, match="budget must be"):
        resolve_budget(0)
    with pytest.raises(ValueError, match="growth"):
        AutoBudget(growth=1.0)
    with pytest.raises(ValueError, match="max_budget"):
        AutoBudget(max_budget=3)
    with pytest.raises(ValueError, match="budget='auto' works with method='auto' or 'proxyspex'"):
        explain(games.DummyGame(12), 12, method="spex", budget="auto")


def test_explain_budget_auto_with_no_test_masks_costs_no_extra_query() -> None:
    g = games.HierarchicalGame(24, n_top=3, min_degree=2, max_degree=3, seed=5)
    e = explain(g, 24, method="proxyspex", budget=AutoBudget(max_budget=2000, start=100), n_test=0)
    meta = e.metadata
    assert meta["budget"] == "auto" and meta["faithfulness_r2"] is None
    assert meta["r2_estimate"] > 0.99 and "estimate" in meta["r2_estimate_kind"]
    assert g.n_calls == meta["n_queries"] == e.spectrum.n_queries < 2000
    assert meta["budget_auto"]["stop"] == "target"


# ----------------------------------------------------------------------------- method="auto"
def test_method_auto_picks_spex_on_parity_like_structure() -> None:
    # Trees cannot see a sparse Fourier game without hierarchy; SPEX decodes it exactly.
    g = games.SparseFourierGame(48, n_terms=10, max_degree=3, seed=1)
    s, info = auto_method(g, 48, 1500, seed=0)
    assert info["method"] == "spex" and s.n_queries <= 1500
    assert faithfulness(s, g, n_test=500, seed=2) > 0.999
    assert proxyspex(g, 48, 1500, seed=0) is not None  # (the loser it avoided)


def test_method_auto_picks_proxyspex_on_a_squashed_hierarchical_game() -> None:
    g = games.HierarchicalGame(24, n_top=4, min_degree=2, max_degree=4, squash="tanh", seed=3)
    s, info = auto_method(g, 24, 1200, seed=0)
    assert info["method"] in ("proxyspex", "spex+proxyspex")
    r_auto = faithfulness(s, g, n_test=1000, seed=2)
    from interspect import spex

    r_spex = faithfulness(spex(g, 24, 1200, seed=0), g, n_test=1000, seed=2)
    assert r_auto > r_spex
    assert "held-out R²" in info["reason"]


def test_explain_method_auto_records_the_choice() -> None:
    g = games.SparseFourierGame(40, n_terms=8, max_degree=3, seed=0)
    e = explain(g, 40, budget=1500, n_test=300)
    meta = e.metadata
    # SPEX's design rows also let the trees find these terms: whichever wins, it is exact.
    assert meta["faithfulness_r2"] > 0.999 and meta["method_scores"]["spex"] > 0.999
    assert meta["method"] in ("spex", "proxyspex", "spex+proxyspex") and "kept" in meta["method_reason"]
    assert meta["n_queries"] == 1500


def test_cli_budget_auto_arguments(capsys: pytest.CaptureFixture[str]) -> None:
    from interspect.interface.cli import _budget_of, build_parser, main

    args = build_parser().parse_args(["explain", "--text", "a b", "--budget", "auto", "--max-budget", "900", "--target-r2", "0.9"])
    b = _budget_of(args)
    assert isinstance(b, AutoBudget) and b.max_budget == 900 and b.target_r2 == 0.9
    assert _budget_of(build_parser().parse_args(["explain", "--text", "a b", "--budget", "300"])) == 300
    # Usage errors: one line, exit 2, before any model is loaded.
    assert main(["explain", "--text", "a b", "--max-budget", "900", "--no-cache"]) == 2
    assert "--max-budget and --target-r2 go with --budget auto" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main(["explain", "--text", "a b", "--budget", "soon"])
    assert exc.value.code == 2 and "--budget must be a positive integer or 'auto'" in capsys.readouterr().err


def test_method_auto_names_whose_terms_the_combination_holds() -> None:
    from interspect.engines.auto import _method_of, _reason

    assert _method_of({"weights": {"spex": 1.0}}) == "spex"
    assert _method_of({"weights": {"spex": 0.6, "select@3": 0.4}}) == "spex+proxyspex"
    assert _method_of({"weights": {"spex+select": 1.0}}) == "spex+proxyspex"
    assert _method_of({"weights": {"cut": 0.7, "constant": 0.3}}) == "proxyspex"
    assert _method_of({"family": "spex"}) == "spex"  # no weights recorded: the family alone
    why = _reason({"family_r2": {"spex": 0.9, "select": 0.8}, "weights": {"spex": 0.75, "select": 0.25}}, 900, 300)
    assert "combined SPEX's support ×0.75, ProxySPEX (selection) ×0.25" in why
