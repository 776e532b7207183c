"""Pruning by the surrogate: which k components can go while the task score stays highest.

- **Surrogate**: the mask with exactly k zeros that maximises the surrogate's Möbius polynomial,
  the exact binary program of :func:`interspect.evaluation.metrics.removal_mask`
  (``direction="up"``), so interactions between the removed components are accounted for.
- **Marginal**: remove the k components with the lowest marginal scores (Banzhaf or Shapley
  values, from any estimator), each judged alone.

Each chosen mask is then run on the real model (through the query layer, so a cache serves
repeats) and its real task score reported beside the surrogate's prediction.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from interspect.core.spectrum import Spectrum
from interspect.core.validation import check_positive_int
from interspect.evaluation.metrics import removal_mask
from interspect.queries.cache import QueryCache
from interspect.queries.layer import Queries

__all__ = ["PruneResult", "prune_mask", "pruning_curve", "format_pruning"]

SURROGATE = "surrogate"


@dataclass(frozen=True)
class PruneResult:
    """One pruned model: ``k`` components removed as chosen by ``method``.

    Attributes
    ----------
    k : int
    method : str
        ``"surrogate"`` or the name of a marginal score.
    mask : tuple of int
        1 = kept, 0 = removed.
    predicted : float
        The surrogate's prediction of the score at this mask.
    real : dict
        The real value of each scoring function at this mask (``"score"`` is the value
        function itself).
    """

    k: int
    method: str
    mask: tuple[int, ...]
    predicted: float
    real: dict[str, float] = field(default_factory=dict)

    @property
    def removed(self) -> list[int]:
        return [i for i, v in enumerate(self.mask) if v == 0]


def prune_mask(
    k: int,
    *,
    spectrum: Spectrum | None = None,
    scores: Sequence[float] | np.ndarray | None = None,
    time_limit: float | None = 20.0,
) -> np.ndarray:
    """The mask removing ``k`` components: by the surrogate (``spectrum``) or by marginal ``scores``.

    With ``spectrum``: the mask with exactly k zeros that maximises the surrogate (an exact binary
    program over its Möbius polynomial). With ``scores``: the k lowest scores go (ties: lower
    index first).

    Examples
    --------
    >>> from interspect import Spectrum
    >>> s = Spectrum.from_mobius({(0,): 1.0, (1,): 0.2, (2,): 0.3, (1, 2): 2.0}, n=3)
    >>> prune_mask(1, spectrum=s).tolist(), prune_mask(1, scores=[1.0, 0.2, 0.3]).tolist()
    ([0, 1, 1], [1, 0, 1])
    """
    if (spectrum is None) == (scores is None):
        raise ValueError("give exactly one of spectrum= (surrogate pruning) or scores= (marginal pruning)")
    if spectrum is not None:
        return removal_mask(spectrum, k, direction="up", time_limit=time_limit)
    s = np.asarray(scores, dtype=float)
    if s.ndim != 1 or not np.all(np.isfinite(s)):
        raise ValueError(f"scores must be a 1-D array of finite floats, got shape {s.shape}")
    linear = Spectrum.from_mobius({(i,): float(v) for i, v in enumerate(s)}, len(s))
    # Maximising a linear function with k zeros removes the k smallest coefficients.
    return removal_mask(linear, k, direction="up", method="marginal")


def pruning_curve(
    spectrum: Spectrum,
    value_fn: Callable[[np.ndarray], Any],
    ks: Sequence[int],
    *,
    marginals: Mapping[str, Sequence[float] | np.ndarray] | None = None,
    extra: Mapping[str, Callable[[np.ndarray], Any]] | None = None,
    cache: str | Path | QueryCache | None = None,
    time_limit: float | None = 20.0,
) -> list[PruneResult]:
    """Prune k components for every k, by the surrogate and by each marginal score; run each.

    Parameters
    ----------
    spectrum : Spectrum
        The surrogate of ``value_fn``.
    value_fn : callable
        The value function the surrogate explains (e.g. a :class:`ComponentValueFunction`).
    ks : list of int
        Numbers of components to remove.
    marginals : dict, optional
        ``{name: n scores}``, e.g. ``{"banzhaf": banzhaf_values, "shapley": shapley_values}``.
    extra : dict, optional
        ``{name: value function}`` also run on every chosen mask (e.g. the same components
        scored by accuracy).
    cache : str, Path or QueryCache, optional
        Query cache for every value function here.
    time_limit : float or None
        Seconds per binary program (see :func:`~interspect.evaluation.metrics.removal_mask`).

    Returns
    -------
    list of PruneResult
        By k, then the surrogate first and the marginals in the given order.

    Examples
    --------
    >>> from interspect import Spectrum
    >>> s = Spectrum.from_mobius({(): 0.0, (0,): 1.0, (1,): 0.2, (2,): 0.3, (1, 2): 2.0}, n=3)
    >>> f = lambda X: X[:, 0] + 0.2 * X[:, 1] + 0.3 * X[:, 2] + 2.0 * X[:, 1] * X[:, 2]
    >>> rows = pruning_curve(s, f, [1], marginals={"first-order": [1.0, 0.2, 0.3]})
    >>> [(r.method, r.removed, r.real["score"]) for r in rows]
    [('surrogate', [0], 2.5), ('first-order', [1], 1.3)]
    """
    if not isinstance(spectrum, Spectrum):
        raise TypeError(f"spectrum must be an interspect.Spectrum, got {type(spectrum).__name__}")
    n = spectrum.n
    ks = [check_positive_int(k, "k", minimum=0) for k in ks]
    if any(k > n for k in ks):
        raise ValueError(f"ks must be at most n={n} components, got {max(ks)}")
    marginals = dict(marginals or {})
    for name, s in marginals.items():
        if len(np.asarray(s).reshape(-1)) != n:
            raise ValueError(f"marginals[{name!r}] has {len(np.asarray(s).reshape(-1))} scores, expected n={n}")
    if SURROGATE in marginals:
        raise ValueError(f"marginals may not be named {SURROGATE!r}")
    plan: list[tuple[int, str, np.ndarray]] = []
    for k in ks:
        plan.append((k, SURROGATE, prune_mask(k, spectrum=spectrum, time_limit=time_limit)))
        for name, s in marginals.items():
            plan.append((k, name, prune_mask(k, scores=s)))
    X = np.vstack([m for _, _, m in plan]).astype(np.uint8)
    fns = {"score": value_fn, **dict(extra or {})}
    store = cache if isinstance(cache, QueryCache) or cache is None else QueryCache(cache)
    real: dict[str, np.ndarray] = {}
    try:
        for name, fn in fns.items():
            q = Queries(fn, n, cache=store if getattr(fn, "identity", None) else None, dedup=True)
            try:
                real[name] = q(X)
            finally:
                q.close()
    finally:
        if store is not None and store is not cache:
            store.close()
    pred = spectrum.predict(X)
    return [
        PruneResult(k, method, tuple(int(v) for v in mask), float(pred[i]), {name: float(y[i]) for name, y in real.items()})
        for i, (k, method, mask) in enumerate(plan)
    ]


def format_pruning(rows: Sequence[PruneResult], *, n: int | None = None) -> str:
    """A plain-text table of a pruning curve (one row per k, one column pair per method)."""
    methods = list(dict.fromkeys(r.method for r in rows))
    names = list(dict.fromkeys(name for r in rows for name in r.real))
    head = ["k" + (f" (of {n})" if n else "")] + [f"{m}: {name}" for m in methods for name in names]
    lines = [" | ".join(head)]
    for k in dict.fromkeys(r.k for r in rows):
        by = {r.method: r for r in rows if r.k == k}
        cells = [str(k)] + [f"{by[m].real[name]:.4g}" if m in by else "" for m in methods for name in names]
        lines.append(" | ".join(cells))
    return "\n".join(lines)
