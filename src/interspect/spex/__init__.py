"""SPEX: sparse Fourier transform of a value function with BCH-coded subsampling (SPEC §3)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

import numpy as np
from threadpoolctl import threadpool_limits

from interspect._validation import check_choice, check_n, check_positive_int, check_seed
from interspect.spectrum import Spectrum
from interspect.spex.design import (
    choose_parameters,
    default_batch_size,
    make_design,
    query_design,
    spex_budget,
)
from interspect.spex.peeling import bin_transform, peel
from interspect.spex.regression import refit

__all__ = ["spex", "spex_budget"]


def spex(
    value_fn: Callable[[np.ndarray], Any],
    n: int,
    budget: int,
    *,
    max_degree: int = 5,
    decoder: Literal["soft", "hard"] = "soft",
    n_groups: int = 3,
    seed: int | np.random.Generator | None = None,
    regression: bool = True,
    batch_size: int | None = None,
    progress: bool | Callable[[str, int, int], None] = False,
) -> Spectrum:
    """Sparse Fourier spectrum of ``value_fn`` by SPEX (work in progress docstring)."""
    n = check_n(n)
    budget = check_positive_int(budget, "budget")
    max_degree = check_positive_int(max_degree, "max_degree")
    check_choice(decoder, "decoder", ("soft", "hard"))
    n_groups = check_positive_int(n_groups, "n_groups")
    rng = check_seed(seed)
    b, t = choose_parameters(n, budget, max_degree, n_groups)
    design = make_design(n, b, t, n_groups, rng)
    bs = default_batch_size(n) if batch_size is None else check_positive_int(batch_size, "batch_size")
    y = query_design(value_fn, design, batch_size=bs)
    # Small dense solves thrash when BLAS spreads them over busy cores: keep them on one thread.
    with threadpool_limits(limits=1, user_api="blas"):
        U = bin_transform(y)
        found = peel(U, design, decoder=decoder)
        if regression:
            found = refit(found, y, design)
    return Spectrum(found, n, n_queries=design.n_queries)
