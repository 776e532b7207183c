"""The main job: from any value function on ``{0,1}^n`` to an :class:`~interspect.Explanation`.

Applications (text, and those to come) build a value function over their features and call
:func:`explain`; everything that spends model queries goes through one
:class:`~interspect.queries.Queries` object made here, so the cache, the counts, the executor and
the progress bar cover the whole run (fit, the unmasked output and the test masks).
"""

from __future__ import annotations

import math
import numbers
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

from interspect.core.indices import INDICES
from interspect.core.validation import check_choice, check_n, check_positive_int, check_seed
from interspect.engines.auto import AutoBudget, auto_method, proxyspex_rounds, resolve_budget
from interspect.engines.registry import (
    AUTO,
    DEFAULT_MAX_DEGREE,
    DEFAULT_N_TEST,
    DEFAULT_SEED,
    check_budget,
    choose_method,
    default_budget,
    get_method,
    run_method,
    seed_of_test_masks,
)
from interspect.evaluation.metrics import faithfulness
from interspect.interface.explanation import Explanation
from interspect.queries.cache import QueryCache
from interspect.queries.executors import Executor
from interspect.queries.layer import DEDUP_MAX_N, Queries
from interspect.queries.progress import Progress, ProgressArg

__all__ = ["explain", "validate_common", "R2_UNDEFINED"]

#: ``metadata["faithfulness_note"]`` when the test outputs are constant and not reproduced.
R2_UNDEFINED = "undefined (constant output)"

Method = Literal[
    "auto", "proxyspex", "spex", "exact", "lime", "kernelshap", "banzhaf",
    "fbii2", "fbii3", "fbii4", "fsii2", "fsii3", "fsii4", "stii2", "stii3", "stii4",
]  # fmt: skip


def validate_common(
    method: str, budget: int | str | AutoBudget | None, max_degree: int, index: str, order: int, n_test: int,
    *, seed: Any = DEFAULT_SEED,
) -> None:
    """The checks every ``explain_*`` entry point makes before it loads or calls anything (the
    seed by the one rule of :func:`~interspect.core.validation.check_seed`)."""
    check_seed(seed)
    if method != AUTO:
        get_method(method)
    budget = resolve_budget(budget)
    if isinstance(budget, AutoBudget) and method not in (AUTO, "proxyspex"):
        raise ValueError(f"budget='auto' works with method='auto' or 'proxyspex', got method={method!r}")
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
    budget: int | Literal["auto"] | AutoBudget | None = None,
    max_degree: int = DEFAULT_MAX_DEGREE,
    index: str = "FBII",
    order: int = 2,
    seed: int | np.random.Generator | None = DEFAULT_SEED,
    n_test: int = DEFAULT_N_TEST,
    progress: ProgressArg = False,
    cache: str | Path | QueryCache | None = None,
    executor: str | Executor | None = None,
    batch_size: int | None = None,
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
    method : str
        ``"auto"``: ``exact`` when all ``2^n`` masks fit (see
        :func:`interspect.engines.registry.choose_method`); otherwise SPEX's design and uniform
        masks are both queried and held-out uniform masks decide between SPEX's support,
        ProxySPEX's and the two together (:func:`interspect.engines.auto.auto_method`); the
        choice and its reason are recorded. Or any name in
        :data:`interspect.engines.registry.METHODS` (``"proxyspex"``, ``"spex"``, ``"exact"``,
        ``"lime"``, ``"banzhaf"``, ...).
    budget : int, "auto" or AutoBudget, optional
        Model queries for fitting (default :func:`~interspect.engines.registry.default_budget`).
        ``"auto"`` (or :class:`~interspect.engines.auto.AutoBudget` for ``max_budget``,
        ``target_r2``, ...; methods ``"auto"`` and ``"proxyspex"``): queries in rounds until the
        cross-validated R² estimate stops improving; ``metadata["r2_estimate"]`` then holds that
        estimate (an estimate from the fit's own samples, not a test), and ``n_test=0`` costs
        no extra query.
    max_degree : int
        Largest interaction order searched for.
    index, order : str, int
        The interaction index reported (any of :data:`interspect.core.indices.INDICES`) and its order.
    seed : int, Generator or None
        Seeds the method and, through its own generator, the test masks.
    n_test : int
        Fresh random masks for the faithfulness R² (0 skips it; costs ``n_test`` extra queries).
    progress : bool, callable or Progress
        ``True``: a progress bar with ETA over model queries (and the engine's stages); a callable
        is called as ``progress(stage, done, total)``.
    cache : str, Path or QueryCache, optional
        SQLite file keeping every computed output under ``value_fn.identity``; a rerun reuses them.
    executor : "serial" or executor, optional
        Where the value function runs (see :mod:`interspect.queries.executors`).
    batch_size : int, optional
        Rows per value-function call and per cache commit.
    metadata : dict, optional
        Extra entries for ``Explanation.metadata``.

    Examples
    --------
    >>> from interspect import explain, games
    >>> g = games.DummyGame(6, active=(1, 4))
    >>> e = explain(g, 6, method="exact", index="Moebius")
    >>> e.top(1)[0].features, e.metadata["method"]
    ((1, 4), 'exact')
    """
    n = check_n(n)
    validate_common(method, budget, max_degree, index, order, n_test, seed=seed)
    budget = resolve_budget(budget)
    auto_budget = isinstance(budget, AutoBudget)
    if features is None:
        features = [f"x{i}" for i in range(n)]
    features = [str(f) for f in features]
    if len(features) != n:
        raise ValueError(f"features has {len(features)} labels, expected n={n}")
    reason = "chosen by the caller"
    # A caller may hand over its own Progress (e.g. to put an HTTP backend's retries on the bar).
    prog = progress if isinstance(progress, Progress) else Progress(progress)
    duel = False
    if method == AUTO:
        method, reason = choose_method(n, None if auto_budget else budget, max_degree)
        # Anything short of the exact spectrum is decided by data (auto_method).
        duel = method != "exact"
        if prog.enabled and not duel:
            print(f"interspect: method={method!r} ({reason})", file=sys.stderr)
    prog.label = prog.label or ("auto" if duel else method)
    if budget is None:
        budget = default_budget(n, AUTO if duel else method, max_degree)
    if not auto_budget and not duel:
        check_budget(method, n, budget, max_degree)
    fit_rows = 2**n if method == "exact" else (budget.start or 0) if auto_budget else budget
    tests_seed = seed_of_test_masks(seed)
    queries = Queries(
        value_fn, n, cache=cache, executor=executor, batch_size=batch_size,
        progress=prog, dedup=n <= DEDUP_MAX_N,
    )
    queries.expect(fit_rows + 1 + (n_test if n_test >= 2 else 0))
    start = time.perf_counter()
    record: dict[str, Any] = {}
    try:
        full = float(queries(np.ones((1, n), dtype=np.uint8))[0])
        if duel:
            spectrum, record = auto_method(queries, n, budget, seed=seed, max_degree=max_degree)
            method, reason = record["method"], record["reason"]
        elif auto_budget and method == "proxyspex":
            spectrum, record = proxyspex_rounds(queries, n, budget, seed=seed, max_degree=max_degree)
            reason += f"; budget='auto' stopped ({record['stop']}) after {len(record['rounds'])} rounds"
        else:
            spectrum = run_method(method, queries, n, budget, seed=seed, max_degree=max_degree)
        fit_seconds = time.perf_counter() - start
        r2 = faithfulness(spectrum, queries, n_test=n_test, seed=tests_seed) if n_test >= 2 else None
    finally:
        queries.close()
    r2_note = None
    if r2 is not None and not math.isfinite(r2):
        # Zero-variance test outputs the surrogate does not reproduce: R² has no value (and
        # -Infinity is not JSON); say why instead.
        r2, r2_note = None, R2_UNDEFINED
    meta = {
        "method": method,
        "method_reason": reason,
        "budget": "auto" if auto_budget else int(budget),
        "n_queries": int(spectrum.n_queries),
        "n_test": n_test,
        "faithfulness_r2": r2,
        **({"faithfulness_note": r2_note} if r2_note else {}),
        "max_degree": max_degree,
        "seed": None if seed is None else int(seed) if isinstance(seed, numbers.Integral) else repr(seed),
        "fit_seconds": round(fit_seconds, 3),
        "seconds": round(time.perf_counter() - start, 3),
        "n_model_calls": queries.stats["computed"],
        "n_from_cache": queries.stats["from_cache"],
        "n_duplicates": queries.stats["duplicates"],
    }
    if record.get("r2_estimate") is not None:
        meta["r2_estimate"] = float(record["r2_estimate"])
        meta["r2_estimate_kind"] = "estimate: cross-validated on the fit's own uniform samples (not a test)"
    if auto_budget:
        meta["budget_auto"] = {
            "max_budget": record.get("max_budget"), "target_r2": budget.target_r2,
            "stop": record.get("stop"), "rounds": record.get("rounds"),
        }
    if duel and record.get("family_r2"):
        meta["method_scores"] = {k: float(v) for k, v in record["family_r2"].items()}
        if record.get("weights"):
            meta["method_weights"] = {k: float(v) for k, v in record["weights"].items()}
    meta.update(metadata or {})
    return Explanation(features, spectrum, index=index, order=order, full_output=full, metadata=meta)
