"""Budgets and methods that pick themselves: ``budget="auto"`` and ``method="auto"``.

``budget="auto"`` (:class:`AutoBudget`) draws uniformly random masks in rounds; after each round
ProxySPEX is fitted with its cross-fitting (:mod:`interspect.engines.proxy.crossfitting`), whose
held-out error estimates the surrogate's R² on fresh masks from the samples already paid for.
Querying stops when that estimate reaches ``target_r2``, when it stops improving, or at
``max_budget``. "Stops improving": the last four rounds' estimates, fitted by the learning curve
``R²(m) ≈ a − c/m``, promise less than ``tol`` more R² from all of ``max_budget`` (a flat or falling
estimate promises nothing). Estimates move by a few hundredths from round to round, so the rule
needs four rounds and at least ``max(4·n, 500)`` samples before it stops anything.

``method="auto"`` with a budget ``B`` runs both designs and lets held-out data decide:

1. SPEX's coded design with the largest ``b`` that leaves at least 30% of ``B`` (and at
   least :data:`MIN_UNIFORM` masks) free; SPEX decodes its support from it;
2. the rest of ``B`` as uniformly random masks;
3. one cross-fit over all samples, with the uniform masks as the only held-out rows: ProxySPEX's
   own candidate supports (fitted to every sample, SPEX's included — its masks are as good
   training data for the trees as random ones), SPEX's support, and the two united compete on
   the uniform rows; the winner is refitted on all samples.

SPEX's queries are never wasted when ProxySPEX wins, nor the uniform ones when SPEX does.
Tree proxies are blind to parity-like structure (a sparse Fourier game without hierarchy) and
SPEX is weak with few queries or squashed outputs; the held-out R² tells which case this is.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from interspect.core.spectrum import Spectrum
from interspect.core.validation import check_n, check_positive_int, check_seed
from interspect.queries.layer import Queries

__all__ = ["AutoBudget", "proxyspex_rounds", "auto_method", "MIN_UNIFORM", "resolve_budget"]

#: Fewest uniform masks ``method="auto"`` keeps beside SPEX's design (they score both methods).
MIN_UNIFORM = 100
#: Share of the budget ``method="auto"`` keeps for uniform masks at least. Trees learn less from
#: SPEX's structured masks than from uniform ones; at small budgets a tenth left ProxySPEX short
#: (budget 800 on the wide benchmark: 7 of 14 runs within 0.02 of the better method with 0.1,
#: 11 of 14 with 0.3, at the rows' own budgets no worse).
UNIFORM_SHARE = 0.3
#: With ``method="auto"`` and ``budget="auto"``: ProxySPEX rounds first; if their estimate
#: levels off below this, a SPEX design is tried with what is left of ``max_budget``.
PROBE_BELOW = 0.95
DEFAULT_MAX_BUDGET = 5000


@dataclass(frozen=True)
class AutoBudget:
    """``budget="auto"``: query in rounds until the cross-validated R² estimate stops improving.

    Parameters
    ----------
    max_budget : int, optional
        Never more queries than this (default: 5,000, or the method's default budget if larger).
    target_r2 : float, optional
        Stop as soon as the estimate reaches this.
    start : int, optional
        Masks of the first round (default ``clip(2·n, 100, 500)``).
    growth : float, default 1.5
        Each round multiplies the number of masks by at most this: the rounds are spaced evenly
        on a log scale from ``start`` to ``max_budget``, which the last one lands on.
    tol : float, default 0.015
        Stop when the rest of ``max_budget`` is projected to raise the estimate by less than
        this (see the module docstring).

    Examples
    --------
    >>> from interspect import games
    >>> from interspect.engines.auto import AutoBudget, proxyspex_rounds
    >>> g = games.HierarchicalGame(24, n_top=3, min_degree=2, max_degree=3, seed=0)
    >>> s, info = proxyspex_rounds(g, 24, AutoBudget(max_budget=3000), seed=0)
    >>> info["stop"], s.n_queries < 3000, info["r2_estimate"] > 0.99
    ('target', True, True)
    """

    max_budget: int | None = None
    target_r2: float | None = None
    start: int | None = None
    growth: float = 1.5
    tol: float = 0.015

    def __post_init__(self) -> None:
        if self.max_budget is not None:
            check_positive_int(self.max_budget, "max_budget", minimum=8)
        if self.start is not None:
            check_positive_int(self.start, "start", minimum=8)
        if self.target_r2 is not None and not (isinstance(self.target_r2, int | float) and self.target_r2 <= 1.0):
            raise ValueError(f"target_r2 must be a number <= 1, got {self.target_r2!r}")
        if not (isinstance(self.growth, int | float) and self.growth > 1.0):
            raise ValueError(f"growth must be a number > 1, got {self.growth!r}")
        if not (isinstance(self.tol, int | float) and self.tol >= 0.0):
            raise ValueError(f"tol must be a number >= 0, got {self.tol!r}")


def resolve_budget(budget: Any) -> int | AutoBudget | None:
    """``None``, a positive int, ``"auto"`` or an :class:`AutoBudget`; anything else is refused."""
    if budget is None or isinstance(budget, AutoBudget):
        return budget
    if isinstance(budget, str):
        if budget != "auto":
            raise ValueError(f"budget={budget!r} is not supported; accepted values: a positive integer, 'auto' or an AutoBudget")
        return AutoBudget()
    return check_positive_int(budget, "budget")


def _target(auto: AutoBudget) -> float:
    # A target of exactly 1 is reached by exactly sparse functions (the held-out error is then
    # rounding); anything at least 1 − 1e-9 counts.
    return 1.0 - 1e-9 if auto.target_r2 is None else min(float(auto.target_r2), 1.0 - 1e-9)


class _Recorder:
    """Passes masks to the query layer and keeps every (mask, output) pair it saw."""

    def __init__(self, queries: Queries) -> None:
        self.queries = queries
        self.identity = getattr(queries, "identity", None)
        self.X: list[np.ndarray] = []
        self.y: list[np.ndarray] = []

    def __call__(self, X: np.ndarray) -> np.ndarray:
        y = self.queries(X)
        self.X.append(np.array(X, dtype=np.uint8))
        self.y.append(np.array(y, dtype=float))
        return y

    def samples(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        if not self.X:
            return np.zeros((0, n), np.uint8), np.zeros(0)
        return np.concatenate(self.X), np.concatenate(self.y)


def _fit(X: np.ndarray, y: np.ndarray, *, seed: int, max_degree: int, eligible: np.ndarray | None = None,
         extra: dict[str, list[tuple[int, ...]]] | None = None, labels: np.ndarray | None = None,
         n_jobs: int | None = None) -> tuple[Spectrum, dict[str, Any]]:
    from interspect.engines.proxy import _spectrum_from_samples

    return _spectrum_from_samples(
        X, y, max_degree=max_degree, backend="lightgbm", estimator=None, rng=np.random.default_rng(seed),
        n_jobs=n_jobs, energy=0.999, eligible=eligible, extra=extra, labels=labels,
    )


# Fold labels are drawn from 0..9: ``label % k`` is a balanced fold for k = 2 and k = 5.
_LABELS = 10


@dataclass
class _State:
    X: np.ndarray
    y: np.ndarray
    eligible: np.ndarray
    labels: np.ndarray
    extra: dict[str, list[tuple[int, ...]]] = field(default_factory=dict)

    def add(self, X: np.ndarray, y: np.ndarray, eligible: bool, rng: np.random.Generator) -> None:
        self.X = np.concatenate([self.X, X])
        self.y = np.concatenate([self.y, y])
        self.eligible = np.concatenate([self.eligible, np.full(len(X), eligible)])
        self.labels = np.concatenate([self.labels, rng.integers(0, _LABELS, size=len(X))])


def _rounds(queries: Queries, n: int, auto: AutoBudget, state: _State, rng: np.random.Generator, *, fit_seed: int,
            max_degree: int, history: list[dict[str, Any]], n_jobs: int | None = None) -> tuple[Spectrum, dict[str, Any], str]:
    """Fit, then add uniform masks round by round until a stopping rule fires."""
    from interspect.engines.proxy.sampling import more_masks

    max_budget = int(auto.max_budget or DEFAULT_MAX_BUDGET)
    while True:
        s, info = _fit(state.X, state.y, seed=fit_seed, max_degree=max_degree, eligible=state.eligible,
                       extra=state.extra, labels=state.labels, n_jobs=n_jobs)
        r2 = float(info.get("cv_r2", np.nan))
        history.append({"queries": int(len(state.X)), "r2_estimate": r2, "family": info.get("family"),
                        "fold_rows": _fold_rows(len(state.X), info.get("folds"))})
        stop = _stop(history, n, auto)
        if stop is not None:
            return s, info, stop
        want = _next_size(len(state.X), history[0]["queries"], max_budget, auto.growth) - len(state.X)
        Xn = more_masks(state.X, want, rng)
        if len(Xn) == 0:
            return s, info, "exhausted"
        queries.expect(len(Xn))
        state.add(Xn, queries(Xn), True, rng)


def _next_size(m: int, first: int, max_budget: int, growth: float) -> int:
    """The sample count after the next round: the rounds are ``first · r^i``, spaced evenly on a
    log scale with the smallest number of steps whose ratio ``r`` is at most ``growth``, so the
    last one lands on ``max_budget``. (Multiplying by ``growth`` each time overshot the points a
    user cares about: 1,688 → 2,532 queries on the wide benchmark's n = 256 row, and a last round
    of 6 masks in a test.)

    Examples
    --------
    >>> [_next_size(m, 100, 330, 1.8) for m in (100, 149, 222)]
    [149, 222, 330]
    """
    if m >= max_budget or first >= max_budget:
        return max_budget
    steps = max(1, math.ceil(math.log(max_budget / first) / math.log(growth) - 1e-9))
    ratio = (max_budget / first) ** (1.0 / steps)
    return next((s for s in (round(first * ratio**i) for i in range(1, steps)) if s > m), max_budget)


_PLATEAU_MIN = 500
_CURVE_ROUNDS = 4


def _stop(history: list[dict[str, Any]], n: int, auto: AutoBudget, *, power: float = 1.0) -> str | None:
    """The stopping rule that fires after the last round of ``history`` (``None``: query on).
    ``power`` is the learning curve's, see :func:`_projected_gain`."""
    last = history[-1]
    max_budget = int(auto.max_budget or DEFAULT_MAX_BUDGET)
    if last["r2_estimate"] >= _target(auto):
        return "target"
    if last["queries"] >= max_budget:
        return "max_budget"
    if last["queries"] >= max(4 * n, _PLATEAU_MIN) and _projected_gain(history, max_budget, power=power) < auto.tol:
        return "plateau"
    return None


def _projected_gain(history: list[dict[str, Any]], max_budget: int, *, power: float = 1.0) -> float:
    """R² still to be gained up to ``max_budget`` by the curve ``a − c/m^power`` (``a − c/m``
    unless the benchmark replays another) fitted to the last four rounds (infinite before there
    are four).

    ``c/m`` is the excess error of a least-squares fit with a fixed number of terms. The slower
    ``a − c/√m`` (small terms of a squashed function surfacing one by one) was the rule before
    2026-12-02; replayed on every round of the wide benchmark's 15 synthetic rows × seeds 0–3
    (``proxyspex_wide.py --part auto-curve``), ``c/m`` stops within 0.02 of the 5,000-query R²
    with at most 2,500 queries in 34 runs against 26 (of the 39 where some round could), and
    within 0.02 at all in 53 of 60 against 54, with 19% fewer queries on average.
    """
    last = [h for h in history[-_CURVE_ROUNDS:] if np.isfinite(h["r2_estimate"])]
    if len(last) < _CURVE_ROUNDS:
        return np.inf
    # Each estimate is the R² of models fitted to the folds' training rows, not to all samples:
    # the curve is fitted against those (the number of folds changes with the sample count, and
    # against the sample count a drop from five folds to two looked like a plateau), then
    # extrapolated from the final fit's size (all samples) to max_budget.
    m = np.array([h.get("fold_rows") or h["queries"] for h in last], dtype=float)
    r = np.array([h["r2_estimate"] for h in last])
    A = np.column_stack([np.ones(len(m)), -(m**-power)])
    _, c = np.linalg.lstsq(A, r, rcond=None)[0]
    return float(max(c, 0.0) * (float(last[-1]["queries"]) ** -power - float(max_budget) ** -power))


def _fold_rows(m: int, folds: int | None) -> float:
    """Rows each fold's model is fitted to (all ``m`` without cross-fitting)."""
    return m * (folds - 1) / folds if folds else float(m)


def _start(n: int, auto: AutoBudget, max_budget: int) -> int:
    start = auto.start if auto.start is not None else int(np.clip(2 * n, 100, 500))
    return max(8, min(start, max_budget))


def proxyspex_rounds(
    value_fn: Callable[[np.ndarray], Any] | Queries,
    n: int,
    auto: AutoBudget | None = None,
    *,
    seed: int | np.random.Generator | None = 0,
    max_degree: int = 5,
    n_jobs: int | None = None,
) -> tuple[Spectrum, dict[str, Any]]:
    """ProxySPEX with ``budget="auto"``: rounds of uniform masks (see :class:`AutoBudget`).

    Returns the spectrum and a record: ``r2_estimate`` (the last round's cross-validated R², an
    *estimate* from the fit's own samples), ``rounds`` (queries and estimate per round) and
    ``stop`` (``"target"``, ``"plateau"``, ``"max_budget"`` or ``"exhausted"``). ``n_jobs``:
    threads for each round's fit, as in :func:`~interspect.engines.proxy.proxyspex`.
    """
    from interspect.engines.proxy.sampling import draw_masks
    from interspect.queries.layer import as_queries

    n = check_n(n)
    if n_jobs is not None:
        n_jobs = check_positive_int(n_jobs, "n_jobs")
    auto = auto or AutoBudget()
    max_budget = int(auto.max_budget or DEFAULT_MAX_BUDGET)
    rng = check_seed(seed)
    fit_seed = int(rng.integers(2**63))
    queries = as_queries(value_fn, n)
    X = draw_masks(n, _start(n, auto, max_budget), rng)
    queries.expect(len(X))
    y = queries(X)
    history: list[dict[str, Any]] = []
    if len(X) == 2**n:
        from interspect.engines.proxy import _spectrum

        return _spectrum(X, y, n, max_degree=max_degree, backend="lightgbm", estimator=None, rng=rng, n_jobs=n_jobs, energy=0.999), {
            "r2_estimate": 1.0, "rounds": [{"queries": len(X), "r2_estimate": 1.0}], "stop": "exhausted"}
    state = _State(X, y, np.ones(len(X), dtype=bool), rng.integers(0, _LABELS, size=len(X)))
    s, info, stop = _rounds(queries, n, auto, state, rng, fit_seed=fit_seed, max_degree=max_degree, history=history, n_jobs=n_jobs)
    return s, {"r2_estimate": history[-1]["r2_estimate"], "rounds": history, "stop": stop, "family": info.get("family"),
               "max_budget": max_budget}


def _spex_design(queries: Queries, n: int, budget: int, *, seed: int, max_degree: int) -> tuple[Spectrum, np.ndarray, np.ndarray] | None:
    """SPEX with at most ``budget`` queries (None when even its smallest design does not fit)."""
    from interspect.engines.spex import spex
    from interspect.engines.spex.design import choose_parameters

    rec = _Recorder(queries)
    with warnings.catch_warnings():
        # A lowered max_degree is reported in the reason instead (the probe warns about it too).
        warnings.simplefilter("ignore", UserWarning)
        try:
            choose_parameters(n, budget, max_degree, 3)
        except ValueError:
            return None
        s = spex(rec, n, budget, seed=seed, max_degree=max_degree)
    X, y = rec.samples(n)
    return s, X, y


_NAMES = {"select": "ProxySPEX (selection)", "cut": "ProxySPEX (99% energy cut)", "pool": "ProxySPEX (energy cut)",
          "spex": "SPEX's support", "spex+select": "SPEX's and ProxySPEX's terms together", "constant": "the mean"}


def _weights(info: dict[str, Any]) -> dict[str, float]:
    """The families in the final combination with their weights (see ``crossfitting.stack``);
    a record without weights holds its one family."""
    return info.get("weights") or ({info["family"]: 1.0} if info.get("family") else {})


def _method_of(info: dict[str, Any]) -> str:
    """Whose terms the surrogate holds: ``"spex"``, ``"proxyspex"`` or ``"spex+proxyspex"``."""
    kinds: set[str] = set()
    for family in _weights(info):
        if family == "spex":
            kinds.add("spex")
        elif family == "spex+select":
            kinds.update(("spex", "proxyspex"))
        elif family != "constant":
            kinds.add("proxyspex")
    return "spex" if kinds == {"spex"} else "spex+proxyspex" if len(kinds) == 2 else "proxyspex"


def _reason(info: dict[str, Any], n_spex: int, n_uniform: int) -> str:
    scores = info.get("family_r2", {})
    shown = ", ".join(f"{_NAMES.get(f, f)} {r:.3f}" for f, r in sorted(scores.items(), key=lambda kv: -kv[1]))
    weights = _weights(info) or {None: 1.0}
    if len(weights) == 1:
        fam = next(iter(weights))
        kept = f"kept {_NAMES.get(fam, fam)}"
    else:
        shown_w = [(f, w) for f, w in sorted(weights.items(), key=lambda kv: -kv[1]) if w >= 0.01]
        kept = "combined " + ", ".join(f"{_NAMES.get(f, f)} ×{w:.2f}" for f, w in shown_w)
        if len(shown_w) < len(weights):
            kept += f" (and {len(weights) - len(shown_w)} below 0.01)"
    return (f"auto: SPEX's design ({n_spex} queries) plus {n_uniform} uniform masks; held-out R² on the uniform "
            f"masks: {shown}; {kept}, refitted on all samples")


def auto_method(
    value_fn: Callable[[np.ndarray], Any] | Queries,
    n: int,
    budget: int | AutoBudget,
    *,
    seed: int | np.random.Generator | None = 0,
    max_degree: int = 5,
    n_jobs: int | None = None,
) -> tuple[Spectrum, dict[str, Any]]:
    """``method="auto"``: SPEX's design and uniform masks, the winner chosen on held-out uniform
    masks (see the module docstring). ``budget`` may be an :class:`AutoBudget`.

    Returns the spectrum and a record with ``method`` (``"spex"``, ``"proxyspex"``,
    ``"spex+proxyspex"``, or ``"exact"`` where the budget holds all ``2^n`` masks), ``reason``,
    ``r2_estimate`` and, for an automatic budget, ``rounds`` and ``stop``. ``n_jobs``: threads
    for the fits, as in :func:`~interspect.engines.proxy.proxyspex`.

    Examples
    --------
    >>> from interspect import games
    >>> from interspect.engines.auto import auto_method
    >>> g = games.SparseFourierGame(n=64, n_terms=12, max_degree=3, seed=0)
    >>> s, info = auto_method(g, 64, 2000, seed=0)
    >>> info["method"], info["r2_estimate"] > 0.99
    ('spex', True)
    """
    from interspect.engines.proxy.sampling import more_masks
    from interspect.queries.layer import as_queries

    n = check_n(n)
    if n_jobs is not None:
        n_jobs = check_positive_int(n_jobs, "n_jobs")
    rng = check_seed(seed)
    # SPEX gets the caller's seed itself (the same design as spex(..., seed=seed) would query).
    spex_seed = seed if isinstance(seed, int) else int(rng.integers(2**31 - 1))
    fit_seed = int(rng.integers(2**63))
    queries = as_queries(value_fn, n)
    if isinstance(budget, AutoBudget):
        return _auto_auto(queries, n, budget, rng, spex_seed=spex_seed, fit_seed=fit_seed, max_degree=max_degree, n_jobs=n_jobs)
    budget = check_positive_int(budget, "budget", minimum=8)
    from interspect.engines.registry import choose_method

    method, reason = choose_method(n, budget, max_degree)
    if method == "exact":
        # A budget that holds every mask buys the exact spectrum; SPEX's design would repeat masks.
        from interspect.engines.exact import exact

        return exact(queries, n), {"method": "exact", "reason": f"auto: {reason}", "r2_estimate": None}
    keep = max(MIN_UNIFORM, math.ceil(UNIFORM_SHARE * budget))
    found = _spex_design(queries, n, budget - keep, seed=spex_seed, max_degree=max_degree) if budget > keep else None
    if found is None:
        from interspect.engines.proxy import proxyspex

        s = proxyspex(queries, n, budget, seed=rng, max_degree=max_degree, n_jobs=n_jobs)
        return s, {"method": "proxyspex", "reason": f"auto: budget {budget} leaves no room for SPEX's smallest design "
                   f"beside {keep} uniform masks: ProxySPEX", "r2_estimate": None}
    s_spex, Xs, ys = found
    Xu = _uniform_beside(Xs, budget - len(Xs), rng, more_masks)
    queries.expect(len(Xu))
    yu = queries(Xu)
    X = np.concatenate([Xu, Xs])
    y = np.concatenate([yu, ys])
    eligible = np.zeros(len(X), dtype=bool)
    eligible[: len(Xu)] = True
    extra = {"spex": sorted((k for k in s_spex.fourier if k), key=lambda k: (len(k), k))}
    s, info = _fit(X, y, seed=fit_seed, max_degree=max_degree, eligible=eligible, extra=extra, n_jobs=n_jobs)
    return s, {"method": _method_of(info), "reason": _reason(info, len(Xs), len(Xu)),
               "r2_estimate": info.get("cv_r2"), "family_r2": info.get("family_r2"), "family": info.get("family"),
               "weights": info.get("weights")}


def _uniform_beside(Xs: np.ndarray, m: int, rng: np.random.Generator, more_masks: Any) -> np.ndarray:
    """``m`` uniform masks, all-ones and all-zeros first unless SPEX already asked for them."""
    n = Xs.shape[1]
    ext = np.stack([np.ones(n, np.uint8), np.zeros(n, np.uint8)])
    have = {r.tobytes() for r in Xs}
    ext = np.array([r for r in ext if r.tobytes() not in have], dtype=np.uint8).reshape(-1, n)[:m]
    rest = more_masks(np.concatenate([Xs, ext]), m - len(ext), rng)
    return np.concatenate([ext, rest])


def _auto_auto(queries: Queries, n: int, auto: AutoBudget, rng: np.random.Generator, *, spex_seed: int, fit_seed: int,
               max_degree: int, n_jobs: int | None = None) -> tuple[Spectrum, dict[str, Any]]:
    """``method="auto"`` with ``budget="auto"``: ProxySPEX rounds; if the estimate levels off
    below :data:`PROBE_BELOW`, SPEX's design with what is left, then one more honest choice."""
    from interspect.engines.proxy.sampling import draw_masks

    max_budget = int(auto.max_budget or DEFAULT_MAX_BUDGET)
    X = draw_masks(n, _start(n, auto, max_budget), rng)
    queries.expect(len(X))
    y = queries(X)
    history: list[dict[str, Any]] = []
    state = _State(X, y, np.ones(len(X), dtype=bool), rng.integers(0, _LABELS, size=len(X)))
    s, info, stop = _rounds(queries, n, auto, state, rng, fit_seed=fit_seed, max_degree=max_degree, history=history, n_jobs=n_jobs)
    record: dict[str, Any] = {"method": "proxyspex", "rounds": history, "stop": stop, "r2_estimate": history[-1]["r2_estimate"],
                              "family": info.get("family"), "max_budget": max_budget,
                              "reason": f"auto: ProxySPEX rounds stopped ({stop}) at an estimated R² {history[-1]['r2_estimate']:.3f}"}
    left = max_budget - len(state.X)
    if stop == "target" or history[-1]["r2_estimate"] >= PROBE_BELOW or left < MIN_UNIFORM:
        return s, record
    found = _spex_design(queries, n, left, seed=spex_seed, max_degree=max_degree)
    if found is None:
        return s, record
    s_spex, Xs, ys = found
    state.add(Xs, ys, False, rng)
    state.extra = {"spex": sorted((k for k in s_spex.fourier if k), key=lambda k: (len(k), k))}
    s2, info2 = _fit(state.X, state.y, seed=fit_seed, max_degree=max_degree, eligible=state.eligible,
                     extra=state.extra, labels=state.labels, n_jobs=n_jobs)
    history.append({"queries": int(len(state.X)), "r2_estimate": float(info2.get("cv_r2", np.nan)), "family": info2.get("family")})
    record.update({"method": _method_of(info2), "r2_estimate": history[-1]["r2_estimate"], "family": info2.get("family"),
                   "family_r2": info2.get("family_r2"), "weights": info2.get("weights"),
                   "reason": record["reason"] + "; then " + _reason(info2, len(Xs), int(state.eligible.sum()))})
    return s2, record
