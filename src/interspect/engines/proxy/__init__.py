"""ProxySPEX: a gradient-boosted-tree proxy, then its exact sparse spectrum (SPEC §4)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

import numpy as np

from interspect.core.spectrum import Spectrum
from interspect.core.validation import check_memory, check_n, check_positive_int, check_seed
from interspect.engines.auto import AutoBudget
from interspect.engines.proxy import sampling as _sampling
from interspect.engines.proxy.crossfitting import crossfit, make_folds, ridge_mixture, stack
from interspect.engines.proxy.fit import ProxyFit, TreeConfig, fit_proxy, search_generators
from interspect.engines.proxy.ridge import ridge_refit
from interspect.engines.proxy.sampling import uniform_masks
from interspect.engines.proxy.selection import select_terms
from interspect.engines.proxy.threads import Split, blas_threads
from interspect.engines.proxy.tree_spectrum import (
    ensemble_from_model,
    ensemble_keytable,
    tree_spectrum,
)
from interspect.engines.proxy.truncation import truncate, truncate_table
from interspect.queries.layer import as_queries
from interspect.queries.progress import Progress, ProgressArg

__all__ = ["proxyspex", "proxyspex_memory", "tree_spectrum", "truncate", "ridge_refit", "select_terms", "uniform_masks"]

_BACKENDS = ("lightgbm", "xgboost")
_MAX_TERMS = 1500
_FAMILIES = ("select", "cut", "pool")
_CUT_ENERGY = 0.99
# Fewer samples than this are not split for cross-fitting (each fold would be too small).
_MIN_CV_ROWS = 40
_PRUNE_REL = 1e-3
_PRUNE_ABS = 1e-12
# Shallower pipelines (max interaction order 3, 2) also compete up to these sample counts
# (where the fits are cheap and a deep fit to few samples is least reliable).
_SHALLOW_DEPTHS = (3, 2)
_SHALLOW_ROWS = {3: 1000, 2: 1000}


def proxyspex_memory(n: int, budget: int, n_jobs: int | None = None) -> float:
    """Lower estimate of ProxySPEX's peak memory in bytes: per mask, the 0/1 row and its draw
    (``2n``), a float32 copy for each tree fit running at once (``4n`` each: one, or up to six
    with ``n_jobs`` threads — the fit on all samples and five folds), its key for
    de-duplication and its output (about 150 bytes), and the held-out predictions cross-fitting
    keeps for stacking (three supports × 16 penalties, float64: 384 bytes).

    Examples
    --------
    >>> proxyspex_memory(40, 1000), proxyspex_memory(40, 1000, n_jobs=2)
    (774000.0, 934000.0)
    """
    rows = min(budget, 2**n) if n < 63 else budget
    at_once = min(max(n_jobs or 1, 1), 1 + 5)
    return float(rows) * (2 * n + 4 * n * at_once + 150 + 384)


def proxyspex(
    value_fn: Callable[[np.ndarray], Any],
    n: int,
    budget: int | Literal["auto"] | AutoBudget,
    *,
    max_degree: int = 5,
    seed: int | np.random.Generator | None = 0,
    proxy: Literal["lightgbm", "xgboost"] | Any = "lightgbm",
    batch_size: int | None = None,
    progress: ProgressArg = False,
    n_jobs: int | None = None,
    energy: float = 0.999,
    sampling: Literal["uniform", "paired", "stratified"] = "uniform",
) -> Spectrum:
    """Explain ``value_fn`` by a sparse Fourier spectrum learnt through a tree proxy (ProxySPEX).

    ``budget`` distinct uniformly random masks (all-ones and all-zeros among them) are queried;
    gradient-boosted trees of depth ≤ ``max_degree`` are fitted to them (depth, learning rate and
    number of trees chosen on a held-out split with early stopping, see
    :mod:`interspect.engines.proxy.fit`); the trees' exact Fourier spectrum gives three candidate
    supports: a hierarchical forward selection over its largest terms, their subsets and their
    one-feature extensions (:mod:`interspect.engines.proxy.selection`), the largest terms holding
    99% of its non-constant energy, and those holding ``energy`` of it. Cross-fitting decides
    how to use them: the whole pipeline runs on each fold's training rows and every support,
    ridge-fitted with each penalty, predicts the rows it never saw; the supports' held-out
    predictions are combined with non-negative weights fitted to those rows, and the same
    combination of their ridge refits on all samples is the result
    (:mod:`interspect.engines.proxy.crossfitting`). Each support has at most
    ``min(budget // 4, 1500)`` terms. ``budget="auto"`` queries in rounds until the
    cross-validated R² stops improving (:mod:`interspect.engines.auto`).

    Parameters
    ----------
    value_fn : callable
        ``(m, n)`` 0/1 masks -> ``m`` floats (1 = feature kept).
    n : int
        Number of features.
    budget : int, "auto" or AutoBudget
        Number of value-function queries (at least 8; capped at ``2^n``). A budget that covers
        all ``2^n`` masks gives the exact spectrum (all degrees), with no proxy. ``"auto"`` or an
        :class:`~interspect.engines.auto.AutoBudget`: rounds of queries, see above.
    max_degree : int, default 5
        Deepest tree, hence highest interaction order in the result.
    seed : int, Generator or None
        Makes masks, split and trees reproducible.
    proxy : {"lightgbm", "xgboost"} or regressor
        Tree library; or an (unfitted or fitted) ``lightgbm.LGBMRegressor`` /
        ``xgboost.XGBRegressor`` whose own hyper-parameters are then used as they are (it is
        cloned and fitted to the samples; its ``max_depth`` must be set and ≤ ``max_degree``).
    batch_size : int, optional
        Masks per ``value_fn`` call (default: all at once).
    progress : bool or callable, default False
        ``True`` shows tqdm bars for the query and fit stages; a callable is called as
        ``progress(stage, done, total)`` with ``stage`` ``"query"`` (after every batch: rows done
        of total) or ``"fit"`` (``0`` of ``1`` when fitting starts, ``1`` of ``1`` when done) —
        the same convention as :func:`interspect.engines.spex`.
    n_jobs : int, optional
        Threads for fitting (default 1). The independent parts — the tree searches at each
        depth and their candidate configurations, the cross-fit's folds — run side by side, the
        threads shared among them (:mod:`interspect.engines.proxy.threads`; a part alone, such
        as the first coarse tree fit, gets them all). Each part keeps its own generator, so the
        result does not depend on the order they finish in; LightGBM and XGBoost gave the same
        trees with one and two threads on the test games (they do not promise it), where
        ``n_jobs=2`` gives the very spectrum of ``n_jobs=1``. The forward selection is many
        small numpy steps that mostly hold the GIL, so two threads gain well under 2x (1.0-1.4x
        on the wide benchmark, ``benchmarks/proxyspex_wide.py --n-jobs 2``). A regressor passed
        as ``proxy`` keeps its own ``n_jobs`` inside each part.
    energy : float, default 0.999
        Smallest fraction of the proxy's non-constant Fourier energy its candidate terms hold.
    sampling : {"uniform", "paired", "stratified"}, default "uniform"
        Training masks: independent uniform masks; uniform masks each followed by its complement
        (as the reference's sampler draws them); or uniform masks whose numbers of kept features
        are stratified. On the wide benchmark neither alternative beat uniform masks
        (``benchmarks/results_proxyspex_wide.md``), hence the default.

    Returns
    -------
    Spectrum
        With ``n_queries`` = number of value-function rows used.

    Examples
    --------
    >>> from interspect import faithfulness, games
    >>> g = games.HierarchicalGame(n=32, n_top=3, seed=0)
    >>> s = proxyspex(g, 32, 1000, seed=0)
    >>> s.n_queries, faithfulness(s, g) > 0.9
    (1000, True)
    """
    n = check_n(n)
    max_degree = check_positive_int(max_degree, "max_degree")
    if n_jobs is not None:
        n_jobs = check_positive_int(n_jobs, "n_jobs")
    if isinstance(budget, str | AutoBudget):
        from interspect.engines.auto import proxyspex_rounds, resolve_budget

        auto = resolve_budget(budget)
        if not (isinstance(proxy, str) and proxy == "lightgbm" and sampling == "uniform" and energy == 0.999):
            raise ValueError("budget='auto' uses the default proxy ('lightgbm'), sampling ('uniform') and energy (0.999)")
        return proxyspex_rounds(value_fn, n, auto, seed=seed, max_degree=max_degree, n_jobs=n_jobs)[0]
    budget = check_positive_int(budget, "budget", minimum=8)
    if batch_size is not None:
        batch_size = check_positive_int(batch_size, "batch_size")
    if not (isinstance(energy, int | float) and 0.0 < energy <= 1.0):
        raise ValueError(f"energy must be a number in (0, 1], got {energy!r}")
    check_memory(proxyspex_memory(n, budget, n_jobs), f"proxyspex with budget={budget:,} at n={n}" + (f" and n_jobs={n_jobs}" if n_jobs else ""))
    backend, estimator = _resolve_proxy(proxy, max_degree)
    rng = check_seed(seed)

    if sampling not in ("uniform", "paired", "stratified"):
        raise ValueError(f"sampling={sampling!r} is not supported; accepted values: 'uniform', 'paired', 'stratified'")
    X = _sampling.draw_masks(n, budget, rng, paired=sampling == "paired", stratified=sampling == "stratified")
    queries = as_queries(value_fn, n, batch_size=batch_size, progress=Progress(progress, "proxyspex"))
    try:
        queries.expect(len(X))
        y = queries(X)
        fit_report = queries.progress.stage("fit", 1)
        if fit_report is not None:
            fit_report(0, 1)
        s = _spectrum(X, y, n, max_degree=max_degree, backend=backend, estimator=estimator, rng=rng, n_jobs=n_jobs, energy=energy)
        if fit_report is not None:
            fit_report(1, 1)
    finally:
        if queries is not value_fn:
            queries.close()
    return s


def _spectrum(X: np.ndarray, y: np.ndarray, n: int, **kwargs: Any) -> Spectrum:
    if len(X) == 2**n:
        # Every mask was queried: the exact transform of the samples beats any proxy.
        from interspect.engines.exact import spectrum_from_table

        table = np.empty(2**n)
        table[X.astype(np.int64) @ (1 << np.arange(n, dtype=np.int64))] = y
        return spectrum_from_table(table, n)
    return _spectrum_from_samples(X, y, **kwargs)[0]


def _n_folds(m: int) -> int:
    """Folds of the cross-fit: more where samples are few (the choice is noisiest there and the
    fits are cheap), two for large samples (each fold's pipeline then costs about half a fit)."""
    if m < _MIN_CV_ROWS:
        return 0
    return 5 if m <= 1000 else 2


def _fit(
    X: np.ndarray,
    y: np.ndarray,
    *,
    max_degree: int,
    backend: str,
    estimator: Any,
    rng: np.random.Generator,
    n_jobs: int | None,
    only: TreeConfig | None = None,
) -> ProxyFit | None:
    """The tree proxy fitted to one set of samples (``None`` for constant outputs); ``only``
    fixes its configuration (see :func:`fit_proxy`)."""
    n = X.shape[1]
    if np.ptp(y) == 0.0:
        return None
    if estimator is not None:
        from sklearn.base import clone

        model = clone(estimator).fit(X.astype(np.float32), y)
        ens = ensemble_from_model(model)
        return ProxyFit(ens, {}, float("nan"), ens.n_trees, np.arange(n))
    return fit_proxy(X, y, max_degree=max_degree, backend=backend, rng=rng, n_jobs=n_jobs, only=only)


def _supports(X: np.ndarray, y: np.ndarray, fit: ProxyFit | None, *, max_degree: int, energy: float) -> tuple[dict[str, list[tuple[int, ...]]], Any]:
    """The candidate supports from one proxy fit on ``(X, y)``.

    Families: ``"select"`` (hierarchical forward selection over the proxy's terms and their
    neighbours), ``"cut"`` (the largest tree coefficients holding 99% of its non-constant
    energy) and ``"pool"`` (holding ``energy`` of it). Returns the families and the selection.
    """
    m, n = X.shape
    if fit is None:
        return {f: [] for f in _FAMILIES}, None
    max_terms = max(1, min(m // 4, _MAX_TERMS))
    table = ensemble_keytable(fit.ensemble, n)
    pool = table.keys(truncate_table(table, energy=energy, max_terms=max_terms))
    cut = table.keys(truncate_table(table, energy=min(energy, _CUT_ENERGY), max_terms=max_terms))
    sel = select_terms(X, y, pool=pool, max_degree=max_degree, max_terms=max_terms)
    return {"select": list(sel.keys), "cut": cut, "pool": pool}, sel


def _spectrum_from_samples(
    X: np.ndarray,
    y: np.ndarray,
    *,
    max_degree: int,
    backend: str,
    estimator: Any,
    rng: np.random.Generator,
    n_jobs: int | None,
    energy: float,
    eligible: np.ndarray | None = None,
    extra: dict[str, list[tuple[int, ...]]] | None = None,
    labels: np.ndarray | None = None,
) -> tuple[Spectrum, dict[str, Any]]:
    """The surrogate fitted to ``(X, y)`` and what cross-fitting chose (empty without it).

    ``eligible`` marks the uniformly random rows, the only ones held out for scoring (default:
    all). ``extra`` adds fixed candidate supports found elsewhere (e.g. SPEX's, from rows that
    are never scored), each also united with the selection's terms. ``labels`` fixes each row's
    fold (see :func:`~interspect.engines.proxy.crossfitting.make_folds`). ``n_jobs`` threads
    run the independent parts side by side (:mod:`interspect.engines.proxy.threads`).
    """
    m, n = X.shape
    if np.ptp(y) == 0.0:
        return Spectrum({(): float(y[0])}, n, n_queries=m), {}
    extra = extra or {}
    # Shallower pipelines compete too where samples are few: their trees and selection stop at a
    # lower interaction order, which can predict better than a deep fit to few samples (the
    # single 10% holdout inside the tree fit is too small to tell reliably). Names: "select",
    # "cut", "pool" at max_degree, "select@3" etc. below it. They cost up to 3x the fit time
    # there; without them the wide benchmark's rows moved by ±0.01 at their own budgets, but at
    # 800 queries ProxySPEX fell from 0.79/0.75 to 0.57/0.24 on a sparse Fourier game (n = 64).
    depths = [max_degree] + [d for d in _SHALLOW_DEPTHS if d < max_degree and m <= _SHALLOW_ROWS[d]]
    if estimator is not None:
        depths = [max_degree]
    common = {"backend": backend, "estimator": estimator}

    def fits(Xt: np.ndarray, yt: np.ndarray, gen: np.random.Generator, only: dict[int, TreeConfig | None], threads: int) -> dict[int, ProxyFit | None]:
        # In depth order: the fits draw from the same generator.
        return {d: _fit(Xt, yt, max_degree=d, rng=gen, n_jobs=threads, only=only.get(d), **common) for d in depths}

    def families(Xt: np.ndarray, yt: np.ndarray, fitted: dict[int, ProxyFit | None]) -> tuple[dict[str, list[tuple[int, ...]]], Any]:
        found: dict[str, list[tuple[int, ...]]] = {}
        sel = None
        for d in depths:
            got, s_d = _supports(Xt, yt, fitted[d], max_degree=d, energy=energy)
            tag = "" if d == max_degree else f"@{d}"
            found.update({f"{name}{tag}": keys for name, keys in got.items()})
            if d == max_degree:
                sel = s_d
        for name, keys in extra.items():
            found[name] = list(keys)
            found[f"{name}+select"] = list(dict.fromkeys([*keys, *found["select"]]))
        return found, sel

    # Folds by the total number of rows (what each fold's pipeline costs); only the eligible
    # rows are held out, and there must be enough of them.
    k = _n_folds(m) if eligible is None or np.count_nonzero(eligible) >= _MIN_CV_ROWS else 0
    cv_rng = np.random.default_rng(rng.integers(2**63))
    # The tree searches on all samples first: the configuration each depth chose on its own
    # holdout is the one every fold then fits, instead of searching again. Side by side where
    # n_jobs allows, each on the generator it would have met in turn (same trees, any order).
    gens = search_generators(rng, m, len(depths)) if estimator is None else [rng] * len(depths)
    sp = Split(n_jobs, tasks=len(depths))
    with blas_threads(sp.per_task), sp:
        found_fits = sp.map(lambda i: _fit(X, y, max_degree=depths[i], rng=gens[i], n_jobs=sp.per_task, **common), range(len(depths)))
    full = dict(zip(depths, found_fits))
    only = {d: f.config if f is not None else None for d, f in full.items()}
    # Then, side by side: the candidates on all samples and each fold's whole pipeline (each fold
    # with its own generator, so the result does not depend on the order they run in). The BLAS
    # limit is entered first so that it holds until the last task is done.
    sp = Split(n_jobs, tasks=1 + k)
    with blas_threads(sp.per_task), sp:
        full_families = sp.submit(lambda: families(X, y, full))
        cv = None
        if k:
            folds = make_folds(m, k, cv_rng, eligible=eligible, labels=labels)
            seeds = cv_rng.integers(2**63, size=k)

            def fold(Xt: np.ndarray, yt: np.ndarray, j: int) -> dict[str, list[tuple[int, ...]]]:
                return families(Xt, yt, fits(Xt, yt, np.random.default_rng(seeds[j]), only, sp.per_task))[0]

            cv = crossfit(X, y, fold, folds=folds, map=sp.map)
        found, sel = full_families()
        if cv is None:
            # Too few samples to hold any out: the selection's own fit.
            keys, const, coef = list(sel.keys), sel.const, sel.coef
            err = sel.gcv
        else:
            # The candidates' held-out predictions combined (see crossfitting.stack), refitted on all samples.
            st = stack(cv, y)
            parts = [(found[f] if f else [], a, w) for f, (a, w) in st.weights.items()]
            keys, const, coef = ridge_mixture(parts, X, y)
            err = (1.0 - st.r2) * float(np.var(y))
    keys, coef = _prune(keys, coef, err, float(np.var(y)))
    fourier = {(): float(const)}
    fourier.update(zip(keys, coef.tolist()))
    info: dict[str, Any] = {}
    if cv is not None:
        info = {"cv_r2": st.r2, "family": st.family, "alpha": st.weights[st.family][0], "folds": k,
                "family_r2": cv.family_r2(), "weights": {f or "constant": w for f, (_, w) in st.weights.items()}}
    return Spectrum(fourier, n, n_queries=m), info


def _prune(keys: list[tuple[int, ...]], coef: np.ndarray, err: float, var: float) -> tuple[list[tuple[int, ...]], np.ndarray]:
    """Drop the smallest terms while their summed energy (what dropping them adds to the expected
    squared error, the basis being orthonormal under uniform masks) stays negligible: a tenth of
    a percent of the estimated error, or 1e-12 of the variance on exactly fitted data."""
    if len(coef) == 0:
        return keys, coef
    order = np.argsort(np.abs(coef), kind="stable")
    dropped = np.cumsum(coef[order] ** 2) <= _PRUNE_REL * max(err, 0.0) + _PRUNE_ABS * var
    keep = np.ones(len(coef), dtype=bool)
    keep[order[dropped]] = False
    keep &= coef != 0.0
    return [k for k, kp in zip(keys, keep) if kp], coef[keep]


def _resolve_proxy(proxy: Any, max_degree: int) -> tuple[str, Any]:
    if isinstance(proxy, str):
        if proxy not in _BACKENDS:
            raise ValueError(f"proxy={proxy!r} is not supported; accepted values: 'lightgbm', 'xgboost' or a LGBMRegressor/XGBRegressor instance")
        from interspect.engines.proxy.fit import _import_backend

        _import_backend(proxy)
        return proxy, None
    family = type(proxy).__module__.split(".")[0]
    if family not in _BACKENDS or not hasattr(proxy, "get_params"):
        raise TypeError(f"proxy must be 'lightgbm', 'xgboost' or a lightgbm.LGBMRegressor/xgboost.XGBRegressor instance, got {type(proxy).__name__}")
    depth = proxy.get_params().get("max_depth")
    if depth is None or depth <= 0 or depth > max_degree:
        raise ValueError(f"proxy {type(proxy).__name__} must have max_depth set to 1..max_degree={max_degree} (tree depth bounds the interaction degree), got max_depth={depth!r}")
    return family, proxy
