"""The sparse Fourier surrogate every algorithm returns."""

from __future__ import annotations

import json
import math
import numbers
from collections.abc import Iterable, Mapping
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from interspect.core.indices import INDICES, ORDERED_INDICES, fourier_weight, superset_transform
from interspect.core.parity import membership, parity_signs
from interspect.core.validation import check_choice, check_masks, check_n, check_positive_int

__all__ = ["Spectrum", "by_importance"]


def by_importance(items: list[tuple[tuple[int, ...], float]]) -> list[tuple[tuple[int, ...], float]]:
    """``(key, value)`` pairs by decreasing ``|value|``, ties broken by order then key: the one
    ranking every top-k list uses."""
    return sorted(items, key=lambda kv: (-abs(kv[1]), len(kv[0]), kv[0]))

_JSON_FORMAT = "interspect.spectrum/1"


def _normalise_key(key: Any, n: int) -> tuple[int, ...]:
    # A string would iterate as digits ("12" -> (1, 2)) and a float would truncate (0.9 -> 0):
    # only integers are feature indices.
    if isinstance(key, str | bytes) or not isinstance(key, Iterable):
        raise TypeError(f"spectrum keys must be tuples of feature indices, got {key!r}")
    items = list(key)
    for i in items:
        if isinstance(i, bool) or not isinstance(i, numbers.Integral):
            raise TypeError(
                f"spectrum key {key!r} holds {i!r}; feature indices must be integers"
            )
    k = tuple(sorted(int(i) for i in items))
    if len(set(k)) != len(k):
        raise ValueError(f"spectrum key {key!r} repeats a feature index")
    if k and (k[0] < 0 or k[-1] >= n):
        raise ValueError(f"spectrum key {key!r} has a feature index outside 0..{n - 1} (n={n})")
    return k


class Spectrum:
    """A sparse Fourier (Walsh–Hadamard) surrogate of a value function on ``{0,1}^n``.

    ``f(x) = Σ_k F(k) · (−1)^{Σ_{i∈k} x_i}`` with ``x_i = 1`` meaning feature ``i`` is kept.

    Parameters
    ----------
    fourier : dict of tuple of int to float
        Fourier coefficients keyed by sorted tuples of feature indices; ``()`` is the constant.
    n : int
        Number of features.
    n_queries : int, default 0
        Rows of the value function this spectrum cost (0 when built by hand).

    Examples
    --------
    >>> import numpy as np
    >>> from interspect import Spectrum
    >>> s = Spectrum({(): 1.0, (0, 1): -0.5}, n=3)
    >>> s.predict(np.array([[1, 1, 0], [1, 0, 0]]))
    array([0.5, 1.5])
    >>> s.mobius()
    {(): 0.5, (0,): 1.0, (1,): 1.0, (0, 1): -2.0}
    >>> s.top(1, index="Moebius")
    [((0, 1), -2.0)]
    """

    def __init__(
        self, fourier: Mapping[tuple[int, ...], float], n: int, *, n_queries: int = 0
    ) -> None:
        self._n = check_n(n)
        if not isinstance(fourier, Mapping):
            raise TypeError(
                f"fourier must be a dict {{tuple of feature indices: float}}, got {type(fourier).__name__}"
            )
        merged: dict[tuple[int, ...], float] = {}
        for key, value in fourier.items():
            k = _normalise_key(key, self._n)
            if isinstance(value, bool | str | bytes) or not isinstance(value, numbers.Real | np.ndarray):
                raise TypeError(f"fourier coefficient for {k} must be a real number, got {value!r}")
            v = float(value)
            if not math.isfinite(v):
                raise ValueError(f"fourier coefficient for {k} is not finite ({v!r})")
            merged[k] = merged.get(k, 0.0) + v
        self._keys: list[tuple[int, ...]] = list(merged)
        self._values = np.fromiter(merged.values(), dtype=float, count=len(merged))
        self.n_queries = check_positive_int(n_queries, "n_queries", minimum=0)
        self._membership: sp.csr_matrix | None = None

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_mobius(
        cls, mobius: Mapping[tuple[int, ...], float], n: int, *, n_queries: int = 0
    ) -> Spectrum:
        """Build a spectrum from Möbius coefficients (Harsanyi dividends) ``a(S)``.

        ``F(k) = (−1)^{|k|} Σ_{S ⊇ k} a(S) / 2^{|S|}``.

        >>> Spectrum.from_mobius({(0, 1): 4.0}, n=2).fourier
        {(): 1.0, (0,): -1.0, (1,): -1.0, (0, 1): 1.0}
        """
        n = check_n(n)
        keys = [_normalise_key(k, n) for k in mobius]
        vals = np.array([float(v) for v in mobius.values()], dtype=float)
        fourier = superset_transform(keys, vals, lambda r, s: (-1.0) ** s * 0.5**r)
        return cls(fourier, n, n_queries=n_queries)

    # ------------------------------------------------------------------ basic properties
    @property
    def n(self) -> int:
        """Number of features."""
        return self._n

    @property
    def fourier(self) -> dict[tuple[int, ...], float]:
        """Fourier coefficients as a new dict ``{sorted feature tuple: value}``."""
        return dict(zip(self._keys, self._values.tolist()))

    @property
    def keys(self) -> list[tuple[int, ...]]:
        """The support (interaction keys) in storage order."""
        return list(self._keys)

    @property
    def values(self) -> np.ndarray:
        """Coefficient values aligned with :attr:`keys` (a copy)."""
        return self._values.copy()

    @property
    def degree(self) -> int:
        """Largest interaction order in the support (0 for a constant)."""
        return max((len(k) for k in self._keys), default=0)

    def __len__(self) -> int:
        return len(self._keys)

    def __repr__(self) -> str:
        return f"Spectrum(n={self._n}, terms={len(self)}, degree={self.degree}, n_queries={self.n_queries})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Spectrum):
            return NotImplemented
        return (
            self._n == other._n
            and self.fourier == other.fourier
            and self.n_queries == other.n_queries
        )

    # ------------------------------------------------------------------ evaluation
    def _member_matrix(self) -> sp.csr_matrix:
        if self._membership is None:
            self._membership = membership(self._keys, self._n)
        return self._membership

    def predict(self, X: Any, *, chunk_size: int | None = None) -> np.ndarray:
        """Evaluate the surrogate on an ``(m, n)`` batch of 0/1 masks; returns ``(m,)`` floats.

        Parities come from one sparse product per chunk of rows (membership × masksᵀ), so the
        cost is about ``m × (number of key entries)`` with bounded memory.
        """
        X = check_masks(X, self._n)
        m = X.shape[0]
        if not self._keys:
            return np.zeros(m)
        K = self._member_matrix()
        if chunk_size is None:
            chunk_size = max(1, int(2e7 // max(len(self._keys), 1)))
        out = np.empty(m)
        for start in range(0, m, chunk_size):
            signs = parity_signs(K, X[start : start + chunk_size])  # (terms, rows)
            out[start : start + chunk_size] = self._values @ signs
        return out

    __call__ = predict

    # ------------------------------------------------------------------ conversions
    def mobius(self, *, tol: float = 0.0) -> dict[tuple[int, ...], float]:
        """Möbius coefficients ``a(S) = (−2)^{|S|} Σ_{k ⊇ S} F(k)``; ``f(x) = Σ_S a(S) Π_{i∈S} x_i``."""
        return superset_transform(
            self._keys, self._values, lambda d, s: fourier_weight("Moebius", d, s, 0), tol=tol
        )

    def interactions(
        self, index: str = "Moebius", order: int | None = None, *, tol: float = 0.0
    ) -> dict[tuple[int, ...], float]:
        """Interaction scores of every set the index covers, as ``{key: value}``.

        Parameters
        ----------
        index : {"Fourier", "Moebius", "SV", "BV", "SII", "BII", "k-SII", "STII", "FSII", "FBII"}
            See SPEC §2. ``SV``/``BV`` return one value per feature (keys ``(i,)``).
        order : int, optional
            For ``k-SII``, ``STII``, ``FSII``, ``FBII``: the explanation order ℓ (default 2); keys with
            ``|T| <= ℓ`` are returned, ``()`` carrying the baseline. For ``SII``/``BII``: the largest
            ``|T|`` reported (default 2; sets of size 1..order). For ``Fourier``/``Moebius``: an
            optional cap on the degree (default: all). ``SV``/``BV``: must be None or 1.
        tol : float
            Drop entries with ``|value| <= tol``.

        Examples
        --------
        >>> s = Spectrum.from_mobius({(0,): 1.0, (0, 1): 2.0}, n=2)
        >>> {k: round(v, 6) for k, v in s.interactions("SV").items()}
        {(0,): 2.0, (1,): 1.0}
        """
        check_choice(index, "index", INDICES)
        if order is not None:
            order = check_positive_int(order, "order", minimum=1)
        if index in ("SV", "BV"):
            if order not in (None, 1):
                raise ValueError(
                    f"order={order} is not supported for index {index!r}; it is a first-order index (order=None or 1)"
                )
            values = superset_transform(
                self._keys,
                self._values,
                lambda d, s: fourier_weight(index, d, s, 1),
                min_size=1,
                max_size=1,
                tol=tol,
            )
            return {
                (i,): values.get((i,), 0.0)
                for i in range(self._n)
                if abs(values.get((i,), 0.0)) > tol or tol == 0.0
            }
        if index in ("Fourier", "Moebius"):
            if index == "Fourier":
                return {
                    k: v
                    for k, v in zip(self._keys, self._values.tolist())
                    if (order is None or len(k) <= order) and abs(v) > tol
                }
            return superset_transform(
                self._keys,
                self._values,
                lambda d, s: fourier_weight("Moebius", d, s, 0),
                max_size=order,
                tol=tol,
            )
        ell = 2 if order is None else order
        lo = 0 if index in ORDERED_INDICES else 1
        return superset_transform(
            self._keys,
            self._values,
            lambda d, s: fourier_weight(index, d, s, ell),
            min_size=lo,
            max_size=ell,
            tol=tol,
        )

    def top(
        self,
        k: int = 10,
        *,
        index: str = "Moebius",
        order: int | None = None,
        include_empty: bool = False,
    ) -> list[tuple[tuple[int, ...], float]]:
        """The ``k`` largest interactions by absolute value, as ``[(key, value), ...]``.

        The constant ``()`` is left out unless ``include_empty``; ties are broken by key.
        """
        k = check_positive_int(k, "k", minimum=1)
        items = [
            (key, v) for key, v in self.interactions(index, order).items() if include_empty or key
        ]
        return by_importance(items)[:k]

    # ------------------------------------------------------------------ persistence
    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (floats are written with full precision by :mod:`json`)."""
        return {
            "format": _JSON_FORMAT,
            "n": self._n,
            "n_queries": self.n_queries,
            "terms": [[list(k), float(v)] for k, v in zip(self._keys, self._values.tolist())],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Spectrum:
        """Inverse of :meth:`to_dict`; nothing is coerced: one ``ValueError`` names the first bad
        or missing field.

        Examples
        --------
        >>> Spectrum.from_dict({"format": "interspect.spectrum/1", "n": 2, "terms": [[[0], 1.5]]})
        Spectrum(n=2, terms=1, degree=1, n_queries=0)
        >>> Spectrum.from_dict({"format": "interspect.spectrum/1", "n": 2, "terms": [["01", 1.5]]})
        Traceback (most recent call last):
        ValueError: field 'terms', entry 0: the features must be a list of integer indices, got '01'
        """
        if not isinstance(data, Mapping) or data.get("format") != _JSON_FORMAT:
            raise ValueError(f"not an interspect spectrum (expected 'format': {_JSON_FORMAT!r})")
        for field in ("n", "terms"):
            if field not in data:
                raise ValueError(f"field {field!r} is missing")
        n, terms, n_queries = data["n"], data["terms"], data.get("n_queries", 0)
        for field, value in (("n", n), ("n_queries", n_queries)):
            if isinstance(value, bool) or not isinstance(value, int) or value < (field == "n"):
                raise ValueError(f"field {field!r} must be an integer >= {int(field == 'n')}, got {value!r}")
        if not isinstance(terms, list):
            raise ValueError(f"field 'terms' must be a list of [features, value] pairs, got {type(terms).__name__}")
        fourier: dict[tuple[int, ...], float] = {}
        for j, term in enumerate(terms):
            where = f"field 'terms', entry {j}"
            if not isinstance(term, list | tuple) or len(term) != 2:
                raise ValueError(f"{where} must be a pair [features, value], got {term!r}")
            key, value = term
            if not isinstance(key, list | tuple) or any(isinstance(i, bool) or not isinstance(i, int) for i in key):
                raise ValueError(f"{where}: the features must be a list of integer indices, got {key!r}")
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
                raise ValueError(f"{where}: the value must be a finite number, got {value!r}")
            k = tuple(sorted(key))
            if k in fourier:
                raise ValueError(f"{where}: the features {list(key)} appear twice")
            if len(set(k)) != len(k) or (k and (k[0] < 0 or k[-1] >= n)):
                raise ValueError(f"{where}: the features {list(key)} must be distinct indices in 0..{n - 1}")
            fourier[k] = float(value)
        return cls(fourier, n, n_queries=n_queries)

    def to_json(self, path: str | PathLike[str]) -> None:
        """Write the spectrum to ``path`` as JSON; lossless (``from_json`` gives an equal object)."""
        Path(path).write_text(json.dumps(self.to_dict(), allow_nan=False))

    @classmethod
    def from_json(cls, path: str | PathLike[str]) -> Spectrum:
        """Read a spectrum written by :meth:`to_json`; a bad file gives one ``ValueError`` that
        names the file and the field."""
        raw = Path(path).read_bytes()
        shown = repr(str(path))
        try:
            data = json.loads(raw.decode("utf-8"))
        except UnicodeDecodeError as exc:
            raise ValueError(f"{shown} is not UTF-8 text (byte offset {exc.start}); expected JSON") from None
        except json.JSONDecodeError as exc:
            raise ValueError(f"{shown} is not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})") from None
        try:
            return cls.from_dict(data)
        except ValueError as exc:
            raise ValueError(f"{shown}: {exc}") from None

    # ------------------------------------------------------------------ shapiq
    def to_shapiq(self, index: str = "Moebius", order: int | None = None) -> Any:
        """This surrogate's ``index`` values as a ``shapiq.InteractionValues`` (see :mod:`interspect.interface.interop`)."""
        from interspect.interface.interop import to_shapiq

        return to_shapiq(self, index, order)

    @classmethod
    def from_shapiq(cls, values: Any) -> Spectrum:
        """The surrogate a ``shapiq.InteractionValues`` describes (see :mod:`interspect.interface.interop`)."""
        from interspect.interface.interop import from_shapiq

        return from_shapiq(values)
