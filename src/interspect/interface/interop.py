"""Hand results to shapiq and back: :class:`Spectrum` <-> ``shapiq.InteractionValues``.

shapiq (an optional extra: ``pip install 'interspect[shapiq]'``) stores the values of one
interaction index for all sets up to an order, plus a baseline. A spectrum determines every such
index exactly (SPEC §2), so :func:`to_shapiq` is lossless for the index asked for, and
:func:`from_shapiq` inverts it: it returns the unique surrogate of degree ``<= max_order`` whose
values for that index are the ones given. For a surrogate of degree ``<= order`` the round trip
gives the surrogate back; otherwise ``from_shapiq`` gives the degree-``order`` surrogate that the
index values describe (for ``"FBII"`` that is the least-squares fit on uniform masks, i.e. the
Fourier terms of degree ``<= order``).

Conventions follow shapiq 1.4.1's exact computer (checked in ``tests/test_interop.py``): every
object has ``min_order=0`` and carries the empty set ``()``, which is ``f(∅)`` for SV, k-SII,
STII, FSII and Moebius, the mean over all masks for BV and BII, ``Σ_S a(S)/(|S|+1)`` for SII and
the fitted intercept for FBII; ``baseline_value`` is ``f(∅)``, except for FBII where shapiq
stores the intercept. At order 1 the Shapley-type indices are the Shapley value and the
Banzhaf-type ones the Banzhaf value, and shapiq names them so: they are written as SV and BV.
SII, BII and BV store under ``()`` something other than ``f(∅)``; reading such an object back
keeps ``()``, and the baseline becomes the degree-``order`` surrogate's own ``f(∅)``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from interspect.core.indices import fourier_weight, index_weight, superset_transform
from interspect.core.spectrum import Spectrum
from interspect.core.validation import check_positive_int

if TYPE_CHECKING:
    from interspect.interface.explanation import Explanation

__all__ = [
    "SHAPIQ_INDICES",
    "to_shapiq",
    "from_shapiq",
    "explanation_to_shapiq",
    "explanation_from_shapiq",
]

#: The interaction indices interspect and shapiq both define.
SHAPIQ_INDICES: tuple[str, ...] = ("SV", "BV", "SII", "BII", "k-SII", "STII", "FSII", "FBII", "Moebius")

# What shapiq stores for the empty set, as the index whose weights give it.
_EMPTY_AS = {"SV": "Moebius", "BV": "BII"}


def _shapiq() -> Any:
    try:
        import shapiq
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "shapiq interop needs shapiq: pip install 'interspect[shapiq]' (shapiq==1.4.1)"
        ) from exc
    return shapiq


def _check_index(index: Any) -> str:
    if index not in SHAPIQ_INDICES:
        extra = " ('Fourier' has no shapiq counterpart)" if index == "Fourier" else ""
        raise ValueError(
            f"index={index!r} is not an index shapiq and interspect share{extra}; "
            f"accepted values: {', '.join(SHAPIQ_INDICES)}"
        )
    return str(index)


def _resolve_order(index: str, order: int | None, n: int) -> int:
    """shapiq's ``max_order`` for ``index``: 1 for SV/BV, n (all) for an uncapped Möbius, else 2."""
    if index in ("SV", "BV"):
        if order not in (None, 1):
            raise ValueError(
                f"order={order} is not supported for index {index!r}; it is a first-order index (order=None or 1)"
            )
        return 1
    if order is None:
        return n if index == "Moebius" else 2
    return check_positive_int(order, "order", minimum=1)


def _empty_value(spectrum: Spectrum, index: str, order: int) -> float:
    """The value shapiq keeps under ``()`` for ``index`` (see the module docstring)."""
    base = _EMPTY_AS.get(index, index)
    vals = superset_transform(
        spectrum.keys, spectrum.values, lambda d, s: fourier_weight(base, d, s, order), max_size=0
    )
    return float(vals.get((), 0.0))


def to_shapiq(
    spectrum: Spectrum,
    index: str = "Moebius",
    order: int | None = None,
    *,
    estimated: bool = True,
    estimation_budget: int | None = None,
) -> Any:
    """The values of ``index`` up to ``order`` as a ``shapiq.InteractionValues``.

    Parameters
    ----------
    spectrum : Spectrum
        The surrogate.
    index : {"SV", "BV", "SII", "BII", "k-SII", "STII", "FSII", "FBII", "Moebius"}
        Any index both libraries define (``"Fourier"`` has no shapiq counterpart).
    order : int, optional
        shapiq's ``max_order``: default 1 for SV/BV, 2 for the interaction indices, and ``n``
        (every term) for Moebius.
    estimated : bool, default True
        shapiq's flag; pass False for a spectrum computed exactly.
    estimation_budget : int, optional
        Model queries spent (default ``spectrum.n_queries`` when it is positive).

    Returns
    -------
    shapiq.InteractionValues
        Sparse: every first-order entry and every non-zero higher-order entry; shapiq reads a
        missing entry as 0.

    Examples
    --------
    >>> from interspect import Spectrum
    >>> s = Spectrum.from_mobius({(): 1.0, (0,): 2.0, (0, 1): 4.0}, n=3)
    >>> iv = to_shapiq(s, "k-SII", 2)
    >>> iv.index, iv.max_order, iv[(0, 1)], iv[(0,)], iv.baseline_value
    ('k-SII', 2, 4.0, 2.0, 1.0)
    >>> from_shapiq(iv) == s
    True
    """
    if not isinstance(spectrum, Spectrum):
        raise TypeError(f"spectrum must be an interspect.Spectrum, got {type(spectrum).__name__}")
    index = _check_index(index)
    n = spectrum.n
    max_order = _resolve_order(index, order, n)
    if max_order == 1 and index not in ("SV", "BV", "Moebius"):
        # At order 1 every Shapley-type index is the Shapley value and every Banzhaf-type one
        # the Banzhaf value; shapiq renames them so, and they are written as SV and BV are.
        index = "BV" if index in ("BII", "FBII") else "SV"
    shapiq = _shapiq()
    cap = None if index in ("SV", "BV") else max_order
    values = {k: float(v) for k, v in spectrum.interactions(index, cap).items() if k}
    # Every player gets a first-order entry, so shapiq's per-player plots see all n features.
    values = {(i,): values.get((i,), 0.0) for i in range(n)} | values
    empty = _empty_value(spectrum, index, max_order)
    f_empty = float(spectrum.predict(np.zeros((1, n), dtype=np.uint8))[0])
    baseline = empty if index == "FBII" else f_empty
    if estimation_budget is None and spectrum.n_queries > 0:
        estimation_budget = int(spectrum.n_queries)
    # Sorted by order, then by key: the layout shapiq's own computers produce.
    ordered = {(): empty} | dict(sorted(values.items(), key=lambda kv: (len(kv[0]), kv[0])))
    return shapiq.InteractionValues(
        np.array(list(ordered.values()), dtype=float),
        index=index,
        max_order=max_order,
        min_order=0,
        n_players=n,
        interaction_lookup={k: j for j, k in enumerate(ordered)},
        estimated=bool(estimated),
        estimation_budget=estimation_budget,
        baseline_value=baseline,
    )


def _weight(index: str, r: int, s: int, order: int) -> float:
    """Möbius weight of ``a(S)``, ``|S| = r``, in what shapiq stores for a set of size ``s``."""
    if s == 0 and index in _EMPTY_AS:
        index = _EMPTY_AS[index]
    return float(index_weight(index, r, s, order))


def from_shapiq(values: Any) -> Spectrum:
    """The surrogate of degree ``<= values.max_order`` whose index values are ``values``.

    Every shared index is a triangular map from Möbius coefficients of sets up to ``max_order``
    to its values (each set's own coefficient has weight 1), so the coefficients are recovered
    exactly, largest sets first. Entries absent from ``values`` count as 0. When ``()`` is absent
    (``min_order >= 1``), the constant is set so the surrogate's ``f(∅)`` is ``baseline_value``.

    Parameters
    ----------
    values : shapiq.InteractionValues
        With ``index`` one of :data:`SHAPIQ_INDICES`.

    Returns
    -------
    Spectrum
        ``n_queries`` is the object's ``estimation_budget`` (0 when unknown).

    Examples
    --------
    >>> import numpy as np, shapiq
    >>> iv = shapiq.InteractionValues(np.array([0.5, 1.0, -1.0, 3.0]), index="Moebius",
    ...     max_order=2, min_order=0, n_players=2,
    ...     interaction_lookup={(): 0, (0,): 1, (1,): 2, (0, 1): 3}, baseline_value=0.5)
    >>> from_shapiq(iv).mobius()
    {(): 0.5, (0,): 1.0, (1,): -1.0, (0, 1): 3.0}
    """
    shapiq = _shapiq()
    if not isinstance(values, shapiq.InteractionValues):
        raise TypeError(f"values must be a shapiq.InteractionValues, got {type(values).__name__}")
    index = _check_index(values.index)
    n = int(values.n_players)
    order = 1 if index in ("SV", "BV") else int(values.max_order)
    given: dict[tuple[int, ...], float] = {}
    for key, v in values.dict_values.items():
        k = tuple(sorted(int(i) for i in key))
        if len(k) > order:
            raise ValueError(
                f"values has an entry for {k} above its max_order={values.max_order}; "
                "shapiq objects hold sets of size <= max_order only"
            )
        given[k] = given.get(k, 0.0) + float(v)
    for k in given:
        if k and (k[0] < 0 or k[-1] >= n):
            raise ValueError(f"values has an entry for {k} outside players 0..{n - 1}")
    # Contributions of the coefficients found so far to the stored value of each smaller set.
    pending: dict[tuple[int, ...], float] = {}
    mobius: dict[tuple[int, ...], float] = {}
    for size in range(order, 0, -1):
        level = {k: v - pending.get(k, 0.0) for k, v in given.items() if len(k) == size}
        level = {k: v for k, v in level.items() if v != 0.0}
        mobius.update(level)
        if not level:
            continue
        keys = list(level)
        contrib = superset_transform(
            keys,
            np.array([level[k] for k in keys]),
            lambda r, s: _weight(index, r, s, order),
            max_size=size - 1,
        )
        for k, v in contrib.items():
            pending[k] = pending.get(k, 0.0) + v
    if () in given:
        mobius[()] = given[()] - pending.get((), 0.0)
    else:
        # Only the surrogate's value on the empty mask is known: f(∅) = a(∅).
        mobius[()] = float(values.baseline_value)
    budget = values.estimation_budget
    return Spectrum.from_mobius(mobius, n, n_queries=int(budget) if budget else 0)


def explanation_to_shapiq(expl: Explanation, index: str | None = None, order: int | None = None) -> Any:
    """:func:`to_shapiq` of an explanation's spectrum, by default with its own index and order.

    ``estimated`` is False when the explanation's method was ``"exact"``; the budget is the
    explanation's model queries.
    """
    index = expl.index if index is None else index
    if order is None and index == expl.index:
        order = None if index in ("SV", "BV") else expl.order
    return to_shapiq(
        expl.spectrum,
        index,
        order,
        estimated=expl.metadata.get("method") != "exact",
        estimation_budget=expl.metadata.get("n_queries") or None,
    )


def explanation_from_shapiq(values: Any, features: list[str] | None = None) -> Explanation:
    """An :class:`~interspect.interface.explanation.Explanation` of a shapiq result.

    Its spectrum is :func:`from_shapiq`'s, its index and order are the object's, and its
    ``full_output`` is that surrogate's value on the whole input.
    """
    from interspect.interface.explanation import Explanation

    spectrum = from_shapiq(values)
    n = spectrum.n
    labels = [f"x{i}" for i in range(n)] if features is None else [str(f) for f in features]
    index = str(values.index)
    order = 1 if index in ("SV", "BV") else int(values.max_order)
    full = float(spectrum.predict(np.ones((1, n), dtype=np.uint8))[0])
    return Explanation(
        labels,
        spectrum,
        index=index,
        order=order,
        full_output=full,
        metadata={"method": "shapiq", "n_queries": spectrum.n_queries},
    )
