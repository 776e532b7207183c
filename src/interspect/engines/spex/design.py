"""Nested random subsampling designs with BCH-coded delays, and the query phase.

Group ``c`` has a random binary matrix ``M_c`` (n × b) and shares the delay matrix ``D``
((p+1) × n: the zero delay, then the rows of the code's parity part). For every ``ℓ ∈ {0,1}^b``
and delay ``d_p`` the design queries ``x = (M_c ℓ + d_p) mod 2``. Taking the first ``b' < b``
columns of ``M_c`` gives the design for ``b'``, whose masks are exactly the rows with
``ℓ < 2^{b'}`` — smaller designs are nested inside the largest one for free.

Masks are built by XOR alone, never by a product over n: a table of ``M_c ℓ`` over the low bits
of ℓ is filled by doubling (rows with bit i set are rows without it XOR column i), and every mask
is one table row XOR one n-vector (the high bits' part plus the delay). Mask time is therefore
one pass over the n bytes of each mask, i.e. linear in n × queries.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from interspect.engines.spex.codes import BCHCode, bch_code, parity_bits
from interspect.queries.layer import Queries

__all__ = ["Design", "spex_budget", "choose_parameters", "make_design", "query_design", "MIN_B"]

MIN_B = 3  # below 8 bins per group the peeling has nothing to work with
MAX_B = 22
TABLE_BYTES = 1 << 26  # cap on the per-group table of M_c ℓ that masks are built from


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
    """A SPEX query design: ``n_groups`` hash matrices and the shared coded delays.

    Treat it as immutable once built: mask generation caches a table built from ``M``.
    ``table_bytes`` bounds that cache (see :meth:`masks`); it changes speed, never the masks.

    Examples
    --------
    >>> import numpy as np
    >>> d = make_design(6, 3, 1, 2, np.random.default_rng(0))
    >>> X = d.masks(0, d.n_queries)  # ordered by (group, delay, ℓ): 2 · 5 · 2^3 rows
    >>> X.shape
    (80, 6)
    >>> row = (0 * d.n_delays + 1) * 8 + 5  # group 0, delay 1, ℓ = 5 = bits (1, 0, 1)
    >>> bool(np.array_equal(X[row], (d.M[0] @ np.array([1, 0, 1]) + d.D[1]) % 2))
    True
    """

    n: int
    b: int
    code: BCHCode
    M: np.ndarray  # (C, n, b) uint8
    D: np.ndarray  # (p+1, n) uint8, row 0 all zeros
    table_bytes: int = field(default=TABLE_BYTES, repr=False, compare=False)
    # (M it was built from, group, low-bit table (2^k, n), columns M_cᵀ (b, n)); one group at a time
    _cache: tuple[np.ndarray, int, np.ndarray, np.ndarray] | None = field(
        default=None, init=False, repr=False, compare=False
    )

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
        out = np.zeros(self.M.shape[:2], dtype=np.int64)
        for i in range(self.M.shape[2]):  # one bit at a time: no (C, n, b) int64 temporary
            out |= self.M[:, :, i].astype(np.int64) << i
        return out

    @property
    def low_bits(self) -> int:
        """``k``: masks are built from a table of ``M_c ℓ`` over the low ``k`` bits of ℓ.

        The largest ``k <= b`` whose table (``2^k × n`` bytes) fits ``table_bytes``.
        """
        k = 0
        while k < self.b and (2 << k) * self.n <= self.table_bytes:
            k += 1
        return k

    def _group(self, c: int) -> tuple[np.ndarray, np.ndarray]:
        """(low-bit table (2^k, n), columns (b, n)) of group c, cached for the latest group."""
        cache = self._cache
        k = self.low_bits
        if cache is not None and cache[0] is self.M and cache[1] == c and cache[2].shape[0] == 1 << k:
            return cache[2], cache[3]
        cols = np.ascontiguousarray(self.M[c].T)  # (b, n): column i of M_c as a row
        table = np.empty((1 << k, self.n), dtype=np.uint8)
        table[0] = 0
        for i in range(k):  # doubling: rows with bit i set are rows without it, XOR column i
            h = 1 << i
            np.bitwise_xor(table[:h], cols[i], out=table[h : 2 * h])
        self._cache = (self.M, c, table, cols)
        return table, cols

    def _rows(self, c: int, lo: int, hi: int, delay: int | None, out: np.ndarray, high: dict) -> None:
        """Write ``M_c ℓ (+ d_delay) mod 2`` for ℓ = lo..hi−1 into ``out`` (hi − lo, n).

        ``ℓ = h·2^k + r``: row = table[r] XOR (M_c's high columns · h), one XOR pass per row;
        ``high`` memoises the high parts (keyed by (c, h)) across calls.
        """
        table, cols = self._group(c)
        size = table.shape[0]
        k = size.bit_length() - 1
        ell = lo
        while ell < hi:
            h, r = divmod(ell, size)
            run = min(hi - ell, size - r)
            dst = out[ell - lo : ell - lo + run]
            v = high.get((c, h))
            if v is None and h:
                v = np.zeros(self.n, dtype=np.uint8)
                for j in range(self.b - k):
                    if h >> j & 1:
                        v ^= cols[k + j]
                high[(c, h)] = v
            if delay is not None and delay > 0:
                v = self.D[delay] if v is None else v ^ self.D[delay]
            if v is None:
                dst[:] = table[r : r + run]
            else:
                np.bitwise_xor(table[r : r + run], v, out=dst)
            ell += run

    def base(self, c: int, b: int | None = None) -> np.ndarray:
        """(2^b, n) masks ``M_c ℓ mod 2`` for ℓ = 0..2^b−1 (bit i of ℓ multiplies column i)."""
        b = self.b if b is None else b
        out = np.empty((1 << b, self.n), dtype=np.uint8)
        self._rows(c, 0, 1 << b, None, out, {})
        return out

    def masks(self, start: int, stop: int) -> np.ndarray:
        """Rows ``start..stop−1`` of the design, ordered by (group, delay, ℓ).

        Built by XOR alone (no products over n): every row costs one pass over n bytes, plus
        one table of ``M_c ℓ`` per group over ℓ's low bits (at most ``table_bytes``) and one
        ``n``-vector per run of rows that shares ℓ's high bits and the delay.
        """
        B = 1 << self.b
        per_group = self.n_delays * B
        out = np.empty((stop - start, self.n), dtype=np.uint8)
        high: dict = {}
        pos = start
        while pos < stop:
            c, rem = divmod(pos, per_group)
            p, ell = divmod(rem, B)
            run = min(stop - pos, B - ell)  # rows of one (group, delay) block
            self._rows(c, ell, ell + run, p, out[pos - start : pos - start + run], high)
            pos += run
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
