"""The main job: from a value function (or a text and a model) to an `Explanation`."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from typing import Any, Literal

import numpy as np

from interspect.core.indices import INDICES
from interspect.core.validation import call_value_fn, check_choice, check_n, check_positive_int
from interspect.evaluation.metrics import faithfulness
from interspect.interface.explanation import Explanation

__all__ = ["explain", "choose_method", "default_budget", "METHODS"]

Method = Literal["auto", "proxyspex", "spex", "exact"]
METHODS = ("auto", "proxyspex", "spex", "exact")
#: SPEX pays off over the tree proxy only when there are very many features.
SPEX_MIN_FEATURES = 1000
EXACT_MAX_FEATURES = 14


def default_budget(n: int, method: str, max_degree: int = 5) -> int:
    """A budget that is usually enough for a faithful surrogate at ``n`` features.

    exact: ``2^n``; proxyspex: ``20·n`` clipped to [500, 5000]; spex: the smallest design at
    ``b = 6`` (or the minimum for ``n``).
    """
    if method == "exact":
        return 2**n
    if method == "spex":
        from interspect.engines.spex import spex_budget

        return spex_budget(n, 6, max_degree)
    return int(min(5000, max(500, 20 * n)))


def choose_method(n: int, budget: int | None, max_degree: int = 5) -> tuple[str, str]:
    """``method="auto"``: returns ``(method, reason)``.

    - all ``2^n`` masks fit the budget (and n <= 14): ``exact`` — no approximation at all;
    - ``n >= 1000`` and the budget fits SPEX's smallest design: ``spex``;
    - otherwise ``proxyspex`` (the most faithful per query on LLM-like value functions).
    """
    if n <= EXACT_MAX_FEATURES and (
        budget is None and n <= 9 or budget is not None and 2**n <= budget
    ):
        return "exact", f"all 2^{n} = {2**n} masks fit the budget: exact spectrum"
    if n >= SPEX_MIN_FEATURES:
        from interspect.engines.spex import spex_budget

        need = spex_budget(n, 3, max_degree)
        if budget is None or budget >= need:
            return (
                "spex",
                f"n = {n} >= {SPEX_MIN_FEATURES} features: SPEX's coded design scales best",
            )
    return "proxyspex", f"n = {n}: ProxySPEX needs the fewest model queries for this size"


class _Progress:
    """Wraps a value function so a tqdm bar (with ETA) moves as rows are computed."""

    def __init__(
        self,
        value_fn: Callable[[np.ndarray], Any],
        total: int,
        *,
        enabled: bool,
        desc: str,
        chunk: int = 64,
    ) -> None:
        self.value_fn = value_fn
        self.chunk = chunk
        self.bar = None
        if enabled:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=total, desc=desc, unit="query", dynamic_ncols=True)

    def __call__(self, X: np.ndarray) -> np.ndarray:
        if self.bar is None:
            return np.asarray(self.value_fn(X), dtype=float)
        out = []
        for start in range(0, len(X), self.chunk):
            out.append(
                np.asarray(self.value_fn(X[start : start + self.chunk]), dtype=float).reshape(-1)
            )
            self.bar.update(min(self.chunk, len(X) - start))
        return np.concatenate(out) if out else np.zeros(0)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def validate_common(
    method: str, budget: int | None, max_degree: int, index: str, order: int, n_test: int
) -> None:
    check_choice(method, "method", METHODS)
    if budget is not None:
        check_positive_int(budget, "budget")
    check_positive_int(max_degree, "max_degree")
    check_choice(index, "index", INDICES)
    check_positive_int(order, "order")
    check_positive_int(n_test, "n_test", minimum=0)


def explain(
    value_fn: Callable[[np.ndarray], Any],
    n: int,
    *,
    features: Sequence[str] | None = None,
    method: Method = "auto",
    budget: int | None = None,
    max_degree: int = 5,
    index: str = "FBII",
    order: int = 2,
    seed: int = 0,
    n_test: int = 200,
    progress: bool = False,
    metadata: dict[str, Any] | None = None,
) -> Explanation:
    """Explain any value function on ``{0,1}^n`` by its few important interactions.

    Parameters
    ----------
    value_fn : callable
        ``(m, n)`` 0/1 masks (1 = feature kept) -> ``m`` finite floats.
    n : int
        Number of features.
    features : list of str, optional
        Feature labels (default ``"x0"``, ``"x1"``, ...).
    method : {"auto", "proxyspex", "spex", "exact"}
        ``auto`` picks by ``n`` and ``budget`` (see :func:`choose_method`) and records why.
    budget : int, optional
        Model queries for fitting (default :func:`default_budget`).
    max_degree : int
        Largest interaction order searched for.
    index, order : str, int
        The interaction index reported (any of :data:`interspect.core.indices.INDICES`) and its order.
    n_test : int
        Fresh random masks for the faithfulness R² (0 skips it; costs ``n_test`` extra queries).
    progress : bool
        Show a progress bar with ETA over model queries.

    Examples
    --------
    >>> from interspect import games
    >>> from interspect import explain
    >>> g = games.DummyGame(6, active=(1, 4))
    >>> e = explain(g, 6, method="exact", index="Moebius")
    >>> e.top(1)[0].features, e.metadata["method"]
    ((1, 4), 'exact')
    """
    n = check_n(n)
    validate_common(method, budget, max_degree, index, order, n_test)
    if features is None:
        features = [f"x{i}" for i in range(n)]
    if len(features) != n:
        raise ValueError(f"features has {len(features)} labels, expected n={n}")
    reason = "chosen by the caller"
    if method == "auto":
        method, reason = choose_method(n, budget, max_degree)
        if progress:
            print(f"interspect: method={method!r} ({reason})", file=sys.stderr)
    if method == "exact" and n > EXACT_MAX_FEATURES:
        raise ValueError(
            f"method='exact' queries all 2^n masks and supports n <= {EXACT_MAX_FEATURES}, got n={n}"
        )
    if budget is None:
        budget = default_budget(n, method, max_degree)
    seed_int = int(seed)
    total = (2**n if method == "exact" else budget) + n_test + 1
    wrapped = _Progress(value_fn, total, enabled=progress, desc=f"{method} model queries")
    start = time.perf_counter()
    try:
        full = float(call_value_fn(wrapped, np.ones((1, n), dtype=np.uint8))[0])
        if method == "exact":
            from interspect.engines.exact import exact

            spectrum = exact(wrapped, n)
        elif method == "spex":
            from interspect.engines.spex import spex

            spectrum = spex(wrapped, n, budget, max_degree=max_degree, seed=seed_int)
        else:
            from interspect.engines.proxy import proxyspex

            spectrum = proxyspex(wrapped, n, budget, max_degree=max_degree, seed=seed_int)
        fit_seconds = time.perf_counter() - start
        # Fresh masks from a generator of their own, never the fitting masks.
        r2 = (
            faithfulness(spectrum, wrapped, n_test=n_test, seed=seed_int + 104729)
            if n_test >= 2
            else None
        )
    finally:
        wrapped.close()
    meta = {
        "method": method,
        "method_reason": reason,
        "budget": int(budget),
        "n_queries": int(spectrum.n_queries),
        "n_test": n_test,
        "faithfulness_r2": r2,
        "max_degree": max_degree,
        "seed": seed_int,
        "fit_seconds": round(fit_seconds, 3),
        "seconds": round(time.perf_counter() - start, 3),
    }
    meta.update(metadata or {})
    return Explanation(
        list(features), spectrum, index=index, order=order, full_output=full, metadata=meta
    )
