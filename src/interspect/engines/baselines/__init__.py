"""Baseline explainers under the same query budget as SPEX/ProxySPEX, each returning a :class:`Spectrum`.

Every baseline has the signature ``baseline(value_fn, n, budget, *, seed=0, ...) -> Spectrum`` and
spends at most ``budget`` rows of ``value_fn`` (``spectrum.n_queries`` says how many). First-order
methods return a degree-1 spectrum (the fitted additive surrogate), so faithfulness and removal
apply to every method alike.

========================  =========================================  ==============================
registry name             function                                   implementation
========================  =========================================  ==============================
``lime``                  :func:`lime`                               numpy + scikit-learn ``Ridge``
``kernelshap``            :func:`kernelshap`                         numpy ``lstsq`` (Shapley kernel)
``banzhaf``               :func:`banzhaf`                            numpy ``lstsq`` (uniform masks)
``fbii2`` .. ``fbii4``    :func:`faith_banzhaf` (order 2..4)         numpy ``lstsq`` (uniform masks)
``fsii2`` .. ``fsii4``    :func:`faith_shapley` (order 2..4)         numpy ``lstsq`` (Shapley kernel)
``stii2`` .. ``stii4``    :func:`shapley_taylor` (order 2..4)        numpy importance sampling
========================  =========================================  ==============================

No third-party explainer library is needed; see ``docs/baselines.md``. The names in the first
column are their entries in :data:`interspect.engines.registry.METHODS`.

Examples
--------
>>> from interspect import games
>>> from interspect.engines.baselines import kernelshap
>>> g = games.LinearGame(n=6, seed=0)
>>> s = kernelshap(g, 6, 64)
>>> s.degree, s.n_queries
(1, 64)
"""

from __future__ import annotations

from interspect.engines.baselines.banzhaf import banzhaf, faith_banzhaf
from interspect.engines.baselines.lime import lime
from interspect.engines.baselines.shapley import faith_shapley, kernelshap
from interspect.engines.baselines.shapley_taylor import shapley_taylor

__all__ = ["lime", "kernelshap", "banzhaf", "faith_banzhaf", "faith_shapley", "shapley_taylor"]
