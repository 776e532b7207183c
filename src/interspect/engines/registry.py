"""The method registry: every engine by name, with one signature, and the defaults they share.

Every method runs as ``run_method(name, value_fn, n, budget, *, seed, max_degree, progress, ...)``
and returns a :class:`~interspect.Spectrum`; ``explain``, ``bench`` and the CLI read their choices
from :data:`METHODS`, so adding a method is one entry here. The defaults every caller shares
(seed, test masks, the exact limit, minimum budgets, ``method="auto"``) live here too.

Examples
--------
>>> from interspect import games
>>> from interspect.engines.registry import METHODS, run_method
>>> g = games.DummyGame(6, active=(1, 4))
>>> s = run_method("exact", g, 6, 64)
>>> s.top(1, index="Moebius")
[((1, 4), 1.0)]
>>> METHODS["lime"].first_order, METHODS["proxyspex"].min_budget(100, 5)
(True, 8)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from math import comb
from typing import Any

import numpy as np

from interspect.core.spectrum import Spectrum
from interspect.core.validation import check_memory, check_n, check_positive_int, check_seed
from interspect.engines.exact import MAX_EXACT_N
from interspect.queries.layer import Queries, as_queries
from interspect.queries.progress import ProgressArg

__all__ = [
    "MethodSpec",
    "METHODS",
    "AUTO",
    "DEFAULT_SEED",
    "DEFAULT_N_TEST",
    "FAITHFULNESS_N_TEST",
    "DEFAULT_MAX_DEGREE",
    "MAX_EXACT_N",
    "SPEX_MIN_FEATURES",
    "get_method",
    "run_method",
    "choose_method",
    "default_budget",
    "check_budget",
    "seed_of_test_masks",
]

#: Seed of every engine, baseline and test-mask draw unless the caller gives one.
DEFAULT_SEED = 0
#: Fresh random masks for the faithfulness R² of an explanation or a bench row (each one is a
#: model query, so fewer than the evaluation default below).
DEFAULT_N_TEST = 200
#: Fresh random masks of :func:`interspect.faithfulness` itself (SPEC §6: about 1,000).
FAITHFULNESS_N_TEST = 1000
#: Largest interaction order searched for.
DEFAULT_MAX_DEGREE = 5
#: Test masks come from a generator of their own: the seed plus this (a prime), never the fit's.
TEST_SEED_OFFSET = 104729
#: SPEX pays off over the tree proxy only when there are very many features.
SPEX_MIN_FEATURES = 1000
#: ``method="auto"`` with no budget queries all 2^n masks up to this n.
AUTO_EXACT_N = 9
AUTO = "auto"


@dataclass(frozen=True)
class MethodSpec:
    """One registered method.

    Attributes
    ----------
    name : str
    run : callable
        ``run(value_fn, n, budget, *, seed, max_degree, **options) -> Spectrum``; ``value_fn`` is
        a :class:`~interspect.queries.Queries` (progress and counting happen there).
    min_budget : callable
        ``min_budget(n, max_degree) -> int``, the smallest budget the method can work with.
    first_order : bool
        The method returns first-order scores only (removal ranks by them).
    summary : str
        One line for help texts.
    memory : callable, optional
        ``memory(n, budget, max_degree) -> bytes``: a lower estimate of the method's peak memory;
        :func:`check_budget` refuses a budget that would need more than the machine has.
    """

    name: str
    run: Callable[..., Spectrum]
    min_budget: Callable[[int, int], int]
    first_order: bool = False
    summary: str = ""
    memory: Callable[[int, int, int], float] | None = None


def _exact(value_fn: Queries, n: int, budget: int, *, seed: Any, max_degree: int) -> Spectrum:
    from interspect.engines.exact import exact

    return exact(value_fn, n)


def _spex(value_fn: Queries, n: int, budget: int, *, seed: Any, max_degree: int, **options: Any) -> Spectrum:
    from interspect.engines.spex import spex

    return spex(value_fn, n, budget, seed=seed, max_degree=max_degree, **options)


def _proxyspex(value_fn: Queries, n: int, budget: int, *, seed: Any, max_degree: int, **options: Any) -> Spectrum:
    from interspect.engines.proxy import proxyspex

    return proxyspex(value_fn, n, budget, seed=seed, max_degree=max_degree, **options)


def _baseline(name: str, order: int | None, value_fn: Queries, n: int, budget: int, *, seed: Any, max_degree: int, **options: Any) -> Spectrum:
    from interspect.engines import baselines

    fn = getattr(baselines, name)
    if order is not None:
        options["order"] = order
    return fn(value_fn, n, budget, seed=seed, **options)


def _spex_min(n: int, max_degree: int) -> int:
    from interspect.engines.spex.design import MIN_B, spex_budget

    return spex_budget(n, MIN_B, 1)


def _coefficients_min(order: int, n: int, max_degree: int) -> int:
    need = sum(comb(n, s) for s in range(min(order, n) + 1))
    return min(need, 2**n) if n <= MAX_EXACT_N else need


def _stii_min(order: int, n: int, max_degree: int) -> int:
    need = sum(comb(n, s) for s in range(min(order, n))) + 1
    return min(need, 2**n) if n <= MAX_EXACT_N else need


def _exact_min(n: int, max_degree: int) -> int:
    if n > MAX_EXACT_N:
        raise ValueError(
            f"method='exact' queries all 2^n masks and supports n <= {MAX_EXACT_N}, got n={n}; "
            "use 'spex' or 'proxyspex'"
        )
    return 2**n


def _spex_memory(n: int, budget: int, max_degree: int) -> float:
    from interspect.engines.spex import spex_memory

    return spex_memory(n, budget, max_degree)


def _proxyspex_memory(n: int, budget: int, max_degree: int) -> float:
    from interspect.engines.proxy import proxyspex_memory

    return proxyspex_memory(n, budget)


def _baseline_memory(n: int, budget: int, max_degree: int) -> float:
    from interspect.engines.baselines._common import sampling_memory

    return sampling_memory(n, budget)


def _registry() -> dict[str, MethodSpec]:
    base = _baseline_memory
    methods = [
        MethodSpec("exact", _exact, _exact_min, summary="all 2^n masks, the exact spectrum (n <= 20)"),
        MethodSpec("spex", _spex, _spex_min, summary="SPEX: coded subsampling + peeling (scales to huge n)", memory=_spex_memory),
        MethodSpec("proxyspex", _proxyspex, lambda n, d: 8, summary="ProxySPEX: tree proxy on random masks", memory=_proxyspex_memory),
        MethodSpec("lime", partial(_baseline, "lime", None), lambda n, d: 2, True, "LIME (linear, local kernel)", base),
        MethodSpec("kernelshap", partial(_baseline, "kernelshap", None), partial(_coefficients_min, 1), True, "KernelSHAP (Shapley values)", base),
        MethodSpec("banzhaf", partial(_baseline, "banzhaf", None), partial(_coefficients_min, 1), True, "Banzhaf values by regression", base),
    ]
    for k in (2, 3, 4):
        methods += [
            MethodSpec(f"fbii{k}", partial(_baseline, "faith_banzhaf", k), partial(_coefficients_min, k), summary=f"Faith-Banzhaf interactions, order {k}", memory=base),
            MethodSpec(f"fsii{k}", partial(_baseline, "faith_shapley", k), partial(_coefficients_min, k), summary=f"Faith-Shapley interactions, order {k}", memory=base),
            MethodSpec(f"stii{k}", partial(_baseline, "shapley_taylor", k), partial(_stii_min, k), summary=f"Shapley-Taylor interactions, order {k}", memory=base),
        ]
    return {m.name: m for m in methods}


#: Every method by name, in the order help texts list them.
METHODS: dict[str, MethodSpec] = _registry()


def get_method(name: Any) -> MethodSpec:
    """The method registered as ``name``; raises naming the accepted names otherwise."""
    if name not in METHODS:
        raise ValueError(
            f"method={name!r} is not supported; accepted values: "
            f"{', '.join(map(repr, (AUTO, *METHODS)))}"
        )
    return METHODS[name]


def check_budget(method: str, n: int, budget: int, max_degree: int = DEFAULT_MAX_DEGREE) -> int:
    """Raise one clear error when ``budget`` is below what ``method`` needs at ``n`` features, or
    so large that the run would need more memory than the machine has.

    Examples
    --------
    >>> check_budget("proxyspex", 40, 10**12)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ValueError: method='proxyspex' with budget=1,000,000,000,000 at n=40 would need at least ... GiB of memory, ...
    """
    budget = check_positive_int(budget, "budget")
    spec = get_method(method)
    need = spec.min_budget(n, max_degree)
    if budget < need:
        raise ValueError(f"method={method!r} needs budget >= {need} at n={n}, got budget={budget}")
    if spec.memory is not None:
        check_memory(spec.memory(n, budget, max_degree), f"method={method!r} with budget={budget:,} at n={n}")
    return budget


def run_method(
    name: str,
    value_fn: Callable[[np.ndarray], Any] | Queries,
    n: int,
    budget: int,
    *,
    seed: int | np.random.Generator | None = DEFAULT_SEED,
    max_degree: int = DEFAULT_MAX_DEGREE,
    progress: ProgressArg = False,
    **options: Any,
) -> Spectrum:
    """Run the method registered as ``name`` with the one signature every method shares.

    ``value_fn`` may be a plain function or a :class:`~interspect.queries.Queries` (then its cache,
    counts and progress are shared with the caller); ``options`` go to the engine as they are.
    """
    spec = get_method(name)
    n = check_n(n)
    check_seed(seed)  # one rule for seeds everywhere: None, a non-negative int or a Generator
    max_degree = check_positive_int(max_degree, "max_degree")
    budget = check_budget(name, n, budget, max_degree)
    queries = as_queries(value_fn, n, progress=progress)
    try:
        return spec.run(queries, n, budget, seed=seed, max_degree=max_degree, **options)
    finally:
        if queries is not value_fn:
            queries.close()


def default_budget(n: int, method: str, max_degree: int = DEFAULT_MAX_DEGREE) -> int:
    """A budget that is usually enough for a faithful surrogate at ``n`` features.

    exact: ``2^n``; spex: the smallest design at ``b = 6`` (or the minimum for ``n``); ``"auto"``
    (the data-driven choice of :func:`interspect.engines.auto.auto_method`): the ProxySPEX budget,
    raised where needed so that SPEX's ``b = 3`` design fits beside the uniform masks; every
    other method: ``20·n`` clipped to [500, 5000] (and at least what the method needs).

    Examples
    --------
    >>> default_budget(10, "exact"), default_budget(100, "proxyspex"), default_budget(128, "spex")
    (1024, 2000, 7872)
    >>> default_budget(128, "auto"), default_budget(20, "auto")
    (2560, 961)
    """
    if method == "exact":
        return 2**n
    if method == AUTO:
        from interspect.engines.auto import MIN_UNIFORM, UNIFORM_SHARE
        from interspect.engines.spex import spex_budget

        s3 = spex_budget(n, 3, max_degree)
        return max(default_budget(n, "proxyspex", max_degree), s3 + MIN_UNIFORM, int(np.ceil(s3 / (1 - UNIFORM_SHARE))))
    if method == "spex":
        from interspect.engines.spex import spex_budget

        return spex_budget(n, 6, max_degree)
    return max(int(min(5000, max(500, 20 * n))), get_method(method).min_budget(n, max_degree))


def choose_method(n: int, budget: int | None, max_degree: int = DEFAULT_MAX_DEGREE) -> tuple[str, str]:
    """``method="auto"``: returns ``(method, reason)``.

    - all ``2^n`` masks fit the budget (or no budget is given and n <= 9): ``exact`` — no
      approximation at all;
    - ``n >= 1000`` and the budget fits SPEX's smallest design: ``spex``;
    - otherwise ``proxyspex`` (the most faithful per query on LLM-like value functions).

    This is the choice made before any query. :func:`interspect.explain` with ``method="auto"``
    then lets data decide wherever it is not ``exact``: it runs SPEX's design and uniform masks
    and keeps what predicts held-out uniform masks best
    (:func:`interspect.engines.auto.auto_method`).

    Examples
    --------
    >>> choose_method(8, 1000)[0], choose_method(20, 1000)[0], choose_method(2000, None)[0]
    ('exact', 'proxyspex', 'spex')
    """
    if n <= MAX_EXACT_N and (budget is None and n <= AUTO_EXACT_N or budget is not None and 2**n <= budget):
        return "exact", f"all 2^{n} = {2**n} masks fit the budget: exact spectrum"
    if n >= SPEX_MIN_FEATURES:
        from interspect.engines.spex import spex_budget

        need = spex_budget(n, 3, max_degree)
        if budget is None or budget >= need:
            return "spex", f"n = {n} >= {SPEX_MIN_FEATURES} features: SPEX's coded design scales best"
    return "proxyspex", f"n = {n}: ProxySPEX needs the fewest model queries for this size"


def seed_of_test_masks(seed: int | np.random.Generator | None) -> int | None:
    """The seed of the fresh test masks of a run seeded with ``seed`` (never the fit's masks).

    Examples
    --------
    >>> seed_of_test_masks(0), seed_of_test_masks(None)
    (104729, None)
    """
    if seed is None:
        return None
    if isinstance(seed, np.random.Generator):
        # Drawn from the caller's generator: deterministic for a seeded Generator.
        return int(seed.integers(0, 2**62))
    check_seed(seed)
    return int(seed) + TEST_SEED_OFFSET
