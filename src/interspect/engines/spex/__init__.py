"""SPEX: sparse Fourier transform of a value function with BCH-coded subsampling (SPEC §3)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

import numpy as np
from threadpoolctl import threadpool_limits

from interspect.core.spectrum import Spectrum
from interspect.core.validation import (
    check_choice,
    check_memory,
    check_n,
    check_positive_int,
    check_seed,
)
from interspect.engines.spex.design import (
    choose_parameters,
    make_design,
    query_design,
    spex_budget,
)
from interspect.engines.spex.peeling import bin_transform, peel
from interspect.engines.spex.regression import refit_support
from interspect.queries.layer import as_queries, default_batch_size
from interspect.queries.progress import Progress, ProgressArg

__all__ = ["spex", "spex_budget", "spex_memory"]

MAX_ROUNDS = 100  # peeling rounds; real runs stop after a handful


def spex_memory(n: int, budget: int, max_degree: int = 5, *, n_groups: int = 3) -> float:
    """Lower estimate of SPEX's peak memory in bytes at this budget: the design's outputs, their
    bin transform and the peeling's working copies (about 32 bytes per query; masks are built
    batch by batch).

    Examples
    --------
    >>> spex_memory(128, 8000)
    251904.0
    """
    b, t = choose_parameters(n, budget, max_degree, n_groups)
    return 32.0 * spex_budget(n, b, t, n_groups=n_groups)


def spex(
    value_fn: Callable[[np.ndarray], Any],
    n: int,
    budget: int,
    *,
    max_degree: int = 5,
    decoder: Literal["soft", "hard"] = "soft",
    n_groups: int = 3,
    seed: int | np.random.Generator | None = 0,
    regression: bool = True,
    batch_size: int | None = None,
    progress: ProgressArg = False,
) -> Spectrum:
    """Sparse Fourier spectrum of a value function by SPEX (coded subsampling + peeling).

    ``n_groups`` random hashes split the ``2^n`` Fourier coefficients into ``2^b`` bins each;
    BCH-coded delays (designed distance ``2·max_degree + 1``) let every bin that holds a single
    coefficient name it; found coefficients are peeled from all groups until nothing new
    appears; finally the discovered support (plus the constant and the first-order terms) is
    refit by cross-validated ridge regression on all samples. See SPEC §3.

    Parameters
    ----------
    value_fn : callable
        ``value_fn(X) -> y`` mapping an ``(m, n)`` uint8 array of 0/1 masks (1 = feature kept)
        to ``m`` finite floats. It is called on large batches (``batch_size`` rows), never row
        by row.
    n : int
        Number of features.
    budget : int
        Most queries to spend. The largest ``b`` with ``n_groups · 2^b · (p + 1) <= budget`` is
        used (:func:`spex_budget` gives the exact count); if even ``b = 3`` does not fit,
        ``max_degree`` is lowered (with a warning), and below ``max_degree = 1`` a
        ``ValueError`` names the smallest workable budget for this ``n``.
    max_degree : int, default 5
        ``t``: the largest interaction order that can be identified (capped at ``n``).
        Coefficients of higher degree are **never reported under a wrong key**: a bin holding
        one cannot be decoded to it, and a miscorrected key fails the bin and cross-group
        checks, so such terms are simply missing from the result (their energy stays
        unexplained, and bins they share stay undecoded until other groups resolve them).
    decoder : {"soft", "hard"}, default "soft"
        ``"hard"`` BCH-decodes the sign bits; ``"soft"`` additionally runs Chase decoding
        (flipping the least reliable of ``2·t`` positions, likeliest patterns first) on bins
        where the hard decision fails, and keeps the candidate that explains the bin best.
    n_groups : int, default 3
        Number of independent hashes ``C``.
    seed : int, numpy Generator or None
        Seeds the only random choice (the hash matrices). Same seed, same spectrum, bit for
        bit; numpy's global RNG is not touched.
    regression : bool, default True
        Refit the discovered support (+ constant + first-order terms for ``n <= 4096``) by
        ridge regression whose penalty is chosen by leave-one-group-out cross-validation,
        computed from the bin transforms without forming the design matrix. ``False``
        returns the raw peeled values.
    batch_size : int, optional
        Rows per ``value_fn`` call (default: about 32 MB of masks, at least 256 rows).
    progress : bool or callable, default False
        ``True`` shows tqdm bars for the query and decode phases; a callable is called as
        ``progress(stage, done, total)`` with ``stage`` ``"query"`` (rows done of total) or
        ``"decode"`` (peeling round of the maximum; a last call has ``done == total``).

    Returns
    -------
    Spectrum
        The sparse Fourier surrogate, with ``n_queries`` set to the rows queried.

    Examples
    --------
    >>> from interspect import spex, games, faithfulness
    >>> g = games.SparseFourierGame(n=64, n_terms=20, max_degree=3, seed=0)
    >>> s = spex(g, 64, budget=8000, seed=0)
    >>> sorted(s.fourier) == sorted(g.spectrum.fourier), s.n_queries
    (True, 6912)
    >>> round(faithfulness(s, g), 6)
    1.0
    """
    n = check_n(n)
    budget = check_positive_int(budget, "budget")
    max_degree = check_positive_int(max_degree, "max_degree")
    check_choice(decoder, "decoder", ("soft", "hard"))
    n_groups = check_positive_int(n_groups, "n_groups")
    if not isinstance(regression, (bool, np.bool_)):
        raise TypeError(f"regression must be True or False, got {regression!r}")
    rng = check_seed(seed)
    b, t = choose_parameters(n, budget, max_degree, n_groups)
    check_memory(32.0 * spex_budget(n, b, t, n_groups=n_groups), f"spex with budget={budget:,} at n={n}")
    design = make_design(n, b, t, n_groups, rng)
    bs = default_batch_size(n) if batch_size is None else check_positive_int(batch_size, "batch_size")
    queries = as_queries(value_fn, n, batch_size=bs, progress=Progress(progress, "spex"))
    try:
        y = query_design(queries, design, batch_size=bs)
        decode_report = queries.progress.stage("decode", MAX_ROUNDS)
        # Small dense solves thrash when BLAS spreads them over busy cores: keep them on one thread.
        with threadpool_limits(limits=1, user_api="blas"):
            U = bin_transform(y)
            found = peel(U, design, decoder=decoder, max_rounds=MAX_ROUNDS, progress=decode_report)
            if regression:
                found = refit_support(found, y, design)
        if decode_report is not None:
            decode_report(MAX_ROUNDS, MAX_ROUNDS)
    finally:
        if queries is not value_fn:
            queries.close()
    return Spectrum(found, n, n_queries=design.n_queries)

