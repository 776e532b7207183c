"""ProxySPEX: a gradient-boosted-tree proxy, then its exact sparse spectrum (SPEC §4)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

import numpy as np
from threadpoolctl import threadpool_limits

from interspect.core.spectrum import Spectrum
from interspect.core.validation import check_memory, check_n, check_positive_int, check_seed
from interspect.engines.proxy.fit import ProxyFit, fit_proxy
from interspect.engines.proxy.ridge import ridge_refit
from interspect.engines.proxy.sampling import uniform_masks
from interspect.engines.proxy.selection import select_terms
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


def proxyspex_memory(n: int, budget: int) -> float:
    """Lower estimate of ProxySPEX's peak memory in bytes: per mask, the 0/1 row and its draw
    (``2n``), its float32 copy for the tree fit (``4n``), its key for de-duplication and its
    output (about 150 bytes).

    Examples
    --------
    >>> proxyspex_memory(40, 1000)
    390000.0
    """
    rows = min(budget, 2**n) if n < 63 else budget
    return float(rows) * (6 * n + 150)


def proxyspex(
    value_fn: Callable[[np.ndarray], Any],
    n: int,
    budget: int,
    *,
    max_degree: int = 5,
    seed: int | np.random.Generator | None = 0,
    proxy: Literal["lightgbm", "xgboost"] | Any = "lightgbm",
    batch_size: int | None = None,
    progress: ProgressArg = False,
    n_jobs: int | None = None,
    energy: float = 0.999,
) -> Spectrum:
    """Explain ``value_fn`` by a sparse Fourier spectrum learnt through a tree proxy (ProxySPEX).

    ``budget`` distinct uniformly random masks (all-ones and all-zeros among them) are queried;
    gradient-boosted trees of depth ≤ ``max_degree`` are fitted to them (depth, learning rate and
    number of trees chosen on a held-out split with early stopping, see
    :mod:`interspect.engines.proxy.fit`); the trees' exact Fourier spectrum is cut to the largest
    coefficients holding at least ``energy`` of its non-constant energy (ties kept together,
    energetic subsets of kept interactions kept too). Those terms, their subsets and their
    one-feature extensions are the candidates of a hierarchical forward selection that re-fits
    by ridge regression on all samples and stops when the generalised cross-validation error
    stops falling (:mod:`interspect.engines.proxy.selection`). At most ``min(budget // 4, 1500)`` terms
    are kept.

    Parameters
    ----------
    value_fn : callable
        ``(m, n)`` 0/1 masks -> ``m`` floats (1 = feature kept).
    n : int
        Number of features.
    budget : int
        Number of value-function queries (at least 8; capped at ``2^n``). A budget that covers
        all ``2^n`` masks gives the exact spectrum (all degrees), with no proxy.
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
        Threads for the tree library and linear algebra (default 1: deterministic, and on a
        busy machine extra OpenMP threads that spin-wait can make the fit many times slower).
    energy : float, default 0.999
        Smallest fraction of the proxy's non-constant Fourier energy its candidate terms hold.

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
    budget = check_positive_int(budget, "budget", minimum=8)
    max_degree = check_positive_int(max_degree, "max_degree")
    if n_jobs is not None:
        n_jobs = check_positive_int(n_jobs, "n_jobs")
    if batch_size is not None:
        batch_size = check_positive_int(batch_size, "batch_size")
    if not (isinstance(energy, int | float) and 0.0 < energy <= 1.0):
        raise ValueError(f"energy must be a number in (0, 1], got {energy!r}")
    check_memory(proxyspex_memory(n, budget), f"proxyspex with budget={budget:,} at n={n}")
    backend, estimator = _resolve_proxy(proxy, max_degree)
    rng = check_seed(seed)

    X = uniform_masks(n, budget, rng)
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
    return _spectrum_from_samples(X, y, **kwargs)


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
) -> Spectrum:
    m, n = X.shape
    if np.ptp(y) == 0.0:
        return Spectrum({(): float(y[0])}, n, n_queries=m)
    if estimator is not None:
        from sklearn.base import clone

        model = clone(estimator).fit(X.astype(np.float32), y)
        ens = ensemble_from_model(model)
        fit = ProxyFit(ens, {}, float("nan"), ens.n_trees, np.arange(n))
    else:
        fit = fit_proxy(X, y, max_degree=max_degree, backend=backend, rng=rng, n_jobs=n_jobs)
    max_terms = max(1, min(m // 4, _MAX_TERMS))
    table = ensemble_keytable(fit.ensemble, n)
    pool = table.keys(truncate_table(table, energy=energy, max_terms=max_terms))
    with threadpool_limits(limits=n_jobs or 1, user_api="blas"):
        sel = select_terms(X, y, pool=pool, max_degree=max_degree, max_terms=max_terms)
    fourier = {(): sel.const}
    fourier.update(zip(sel.keys, sel.coef.tolist()))
    return Spectrum(fourier, n, n_queries=m)


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
