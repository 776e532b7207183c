"""Baseline explainers under the same query budget as SPEX/ProxySPEX, each returning a :class:`Spectrum`.

Every baseline has the signature ``baseline(value_fn, n, budget, *, seed=0, ...) -> Spectrum`` and
spends at most ``budget`` rows of ``value_fn`` (``spectrum.n_queries`` says how many). First-order
methods return a degree-1 spectrum (the fitted additive surrogate), so faithfulness and removal
apply to every method alike.

========================  =========================================  ==============================
name (``BASELINES``)      function                                   implementation
========================  =========================================  ==============================
``lime``                  :func:`lime`                               numpy + scikit-learn ``Ridge``
``kernelshap``            :func:`kernelshap`                         numpy ``lstsq`` (Shapley kernel)
``banzhaf``               :func:`banzhaf`                            numpy ``lstsq`` (uniform masks)
``fbii2`` .. ``fbii4``    :func:`faith_banzhaf` (order 2..4)         numpy ``lstsq`` (uniform masks)
``fsii2`` .. ``fsii4``    :func:`faith_shapley` (order 2..4)         numpy ``lstsq`` (Shapley kernel)
``stii2`` .. ``stii4``    :func:`shapley_taylor` (order 2..4)        numpy importance sampling
========================  =========================================  ==============================

No third-party explainer library is needed; see ``docs/baselines.md``.

Examples
--------
>>> from interspect import games
>>> from interspect.engines.baselines import BASELINES
>>> g = games.LinearGame(n=6, seed=0)
>>> s = BASELINES["kernelshap"](g, 6, 64)
>>> s.degree, s.n_queries
(1, 64)
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from interspect.core.spectrum import Spectrum
from interspect.engines.baselines.banzhaf import banzhaf, faith_banzhaf
from interspect.engines.baselines.lime import lime
from interspect.engines.baselines.shapley import faith_shapley, kernelshap
from interspect.engines.baselines.shapley_taylor import shapley_taylor

__all__ = [
    "BASELINES",
    "FIRST_ORDER",
    "get_baseline",
    "lime",
    "kernelshap",
    "banzhaf",
    "faith_banzhaf",
    "faith_shapley",
    "shapley_taylor",
]

BaselineFn = Callable[..., Spectrum]

BASELINES: dict[str, BaselineFn] = {
    "lime": lime,
    "kernelshap": kernelshap,
    "banzhaf": banzhaf,
    **{f"fbii{k}": partial(faith_banzhaf, order=k) for k in (2, 3, 4)},
    **{f"fsii{k}": partial(faith_shapley, order=k) for k in (2, 3, 4)},
    **{f"stii{k}": partial(shapley_taylor, order=k) for k in (2, 3, 4)},
}

#: Baselines whose output is first-order only (removal ranks by first-order scores for these).
FIRST_ORDER = frozenset({"lime", "kernelshap", "banzhaf"})


def get_baseline(name: Any) -> BaselineFn:
    """The baseline registered as ``name``; raises naming the accepted names otherwise."""
    if name not in BASELINES:
        raise ValueError(f"unknown baseline {name!r}; accepted values: {', '.join(map(repr, BASELINES))}")
    return BASELINES[name]
