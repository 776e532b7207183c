"""Leave-one-out: the classic first-order data-attribution score, as a surrogate to compare against.

``loo_i = f(all) − f(all but i)``. Read as a surrogate it is the additive model anchored at the
full training set, ``f(S) ≈ f(all) − Σ_{i∉S} loo_i`` (Möbius: ``a(∅) = f(all) − Σ loo_i``,
``a({i}) = loo_i``), so its faithfulness on random subsets can be measured beside the
interaction methods. It spends exactly ``n + 1`` queries, whatever the budget.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from interspect.core.spectrum import Spectrum
from interspect.core.validation import check_n
from interspect.queries.layer import Queries, as_queries

__all__ = ["leave_one_out"]


def leave_one_out(value_fn: Callable[[np.ndarray], Any] | Queries, n: int) -> Spectrum:
    """Leave-one-out scores of ``n`` features as a :class:`~interspect.Spectrum` (``n + 1`` queries).

    Examples
    --------
    >>> from interspect import games
    >>> g = games.LinearGame(4, weights=np.array([1.0, -2.0, 0.0, 0.5]), intercept=3.0)
    >>> s = leave_one_out(g, 4)
    >>> {k: round(v, 6) for k, v in sorted(s.interactions("Moebius").items())}
    {(): 3.0, (0,): 1.0, (1,): -2.0, (3,): 0.5}
    >>> s.n_queries
    5
    """
    n = check_n(n)
    queries = as_queries(value_fn, n)
    X = np.ones((n + 1, n), dtype=np.uint8)
    X[np.arange(1, n + 1), np.arange(n)] = 0
    y = queries(X)
    loo = y[0] - y[1:]
    mobius = {(): float(y[0] - loo.sum())}
    mobius.update({(i,): float(v) for i, v in enumerate(loo) if v != 0.0})
    return Spectrum.from_mobius(mobius, n, n_queries=n + 1)
