"""Nested random subsampling designs with BCH-coded delays, and the query phase.

Group ``c`` has a random binary matrix ``M_c`` (n × b) and shares the delay matrix ``D``
((p+1) × n: the zero delay, then the rows of the code's parity part). For every ``ℓ ∈ {0,1}^b``
and delay ``d_p`` the design queries ``x = (M_c ℓ + d_p) mod 2``. Taking the first ``b' < b``
columns of ``M_c`` gives the design for ``b'``, whose masks are exactly the rows with
``ℓ < 2^{b'}`` — smaller designs are nested inside the largest one for free.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from interspect.engines.spex.codes import BCHCode, bch_code, parity_bits
from interspect.queries.layer import Queries

__all__ = ["Design", "spex_budget", "choose_parameters", "make_design", "query_design", "MIN_B"]

MIN_B = 3  # below 8 bins per group the peeling has nothing to work with
MAX_B = 22


def spex_budget(n: int, b: int, max_degree: int = 5, *, n_groups: int = 3) -> int:
    """Number of value-function queries SPEX makes: ``n_groups · 2^b · (p + 1)``.

    ``p`` is the parity length of the shortened binary BCH code of designed distance
    ``2·t + 1`` with ``t = min(max_degree, n)``.

    Examples
    --------
    >>> from interspect import spex_budget
    >>> spex_budget(128, 6, 5), spex_budget(1000, 8, 5)
    (7872, 43008)
    """
    from interspect.core.validation import check_n, check_positive_int

    n = check_n(n)
    b = check_positive_int(b, "b")
    max_degree = check_positive_int(max_degree, "max_degree")
    n_groups = check_positive_int(n_groups, "n_groups")
    t = min(max_degree, n)
    return n_groups * (1 << b) * (parity_bits(n, t) + 1)


def choose_parameters(n: int, budget: int, max_degree: int, n_groups: int) -> tuple[int, int]:
    """Largest ``b`` that fits the budget at ``t = min(max_degree, n)``; lower t if b < 3.

    Raises ``ValueError`` naming the smallest workable budget when even t = 1 does not fit b = 3.
    """
    b_cap = MAX_B if n < MIN_B else max(MIN_B, min(n, MAX_B))
    t0 = min(max_degree, n)
    for t in range(t0, 0, -1):
        per_bin = n_groups * (parity_bits(n, t) + 1)
        b = int(np.floor(np.log2(budget / per_bin))) if budget >= per_bin else -1
        # guard the float log against off-by-one at exact powers
        while b + 1 <= b_cap and per_bin * (1 << (b + 1)) <= budget:
            b += 1
        while b >= 0 and per_bin * (1 << b) > budget:
            b -= 1
        b = min(b, b_cap)
        if b >= MIN_B:
            if t < t0:
                warnings.warn(
                    f"budget={budget} is too small for max_degree={max_degree} at n={n}; using "
                    f"max_degree={t} (interactions of higher degree cannot be identified). "
                    f"max_degree={t0} needs budget >= {spex_budget(n, MIN_B, t0, n_groups=n_groups)}",
                    stacklevel=3,
                )
            return b, t
    smallest = spex_budget(n, MIN_B, 1, n_groups=n_groups)
    raise ValueError(
        f"budget={budget} is too small for SPEX at n={n} with n_groups={n_groups}: the smallest "
        f"workable budget is {smallest} (b={MIN_B}, max_degree=1); max_degree={t0} needs "
        f"{spex_budget(n, MIN_B, t0, n_groups=n_groups)}"
    )


@dataclass
class Design:
    """A SPEX query design: ``n_groups`` hash matrices and the shared coded delays."""

    n: int
    b: int
    code: BCHCode
    M: np.ndarray  # (C, n, b) uint8
    D: np.ndarray  # (p+1, n) uint8, row 0 all zeros

    @property
    def n_groups(self) -> int:
        return self.M.shape[0]

    @property
    def n_delays(self) -> int:
        return self.D.shape[0]

    @property
    def n_queries(self) -> int:
        return self.n_groups * self.n_delays * (1 << self.b)

    @property
    def hash_int(self) -> np.ndarray:
        """(C, n) int64: bin index contributed by each feature (bit i = column i of M_c)."""
        weights = (1 << np.arange(self.b, dtype=np.int64))
        return (self.M.astype(np.int64) * weights).sum(axis=2)

    def base(self, c: int, b: int | None = None) -> np.ndarray:
        """(2^b, n) masks ``M_c ℓ mod 2`` for ℓ = 0..2^b−1 (bit i of ℓ multiplies column i)."""
        b = self.b if b is None else b
        ell = ((np.arange(1 << b)[:, None] >> np.arange(b)[None, :]) & 1).astype(np.uint8)
        return ((ell.astype(np.int64) @ self.M[c, :, :b].T.astype(np.int64)) & 1).astype(np.uint8)

    def masks(self, start: int, stop: int) -> np.ndarray:
        """Rows ``start..stop−1`` of the design, ordered by (group, delay, ℓ)."""
        B = 1 << self.b
        rows = np.arange(start, stop)
        c, rem = np.divmod(rows, self.n_delays * B)
        p, ell = np.divmod(rem, B)
        out = np.empty((rows.size, self.n), dtype=np.uint8)
        for g in np.unique(c):
            sel = c == g
            out[sel] = self.base(int(g))[ell[sel]] ^ self.D[p[sel]]
        return out

    def batches(self, batch_size: int) -> Iterator[tuple[int, int]]:
        for start in range(0, self.n_queries, batch_size):
            yield start, min(self.n_queries, start + batch_size)


def make_design(n: int, b: int, t: int, n_groups: int, rng: np.random.Generator) -> Design:
    """Draw the random hash matrices (the only randomness in SPEX) and build the coded delays."""
    code = bch_code(n, t)
    M = rng.integers(0, 2, size=(n_groups, n, b), dtype=np.uint8)
    D = np.zeros((code.p + 1, n), dtype=np.uint8)
    D[1:] = code.parity.T
    return Design(n=n, b=b, code=code, M=M, D=D)


def query_design(queries: Queries, design: Design, *, batch_size: int) -> np.ndarray:
    """Query every mask of the design in batches (masks are generated a batch at a time, so
    memory stays bounded); returns y reshaped (C, p+1, 2^b)."""
    y = np.empty(design.n_queries, dtype=float)
    queries.expect(design.n_queries)
    for start, stop in design.batches(batch_size):
        y[start:stop] = queries(design.masks(start, stop))
    return y.reshape(design.n_groups, design.n_delays, 1 << design.b)
