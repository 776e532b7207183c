"""How good is a surrogate: faithfulness, top-r removal and recovery metrics (SPEC §6).

- :func:`faithfulness` — R² of the surrogate on fresh uniformly random masks.
- :func:`removal` / :func:`removal_curve` — remove the r features whose removal the surrogate says
  moves the output most (an exact binary program over masks with r zeros, solved by SciPy's HiGHS
  ``milp``), query the real value function and report ``|f(1) − f(mask)| / |f(1)|``.
- :func:`recovery` — precision/recall of the top-k interactions against a known spectrum.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from interspect.core.metrics import r2_score
from interspect.core.spectrum import Spectrum, by_importance
from interspect.core.validation import check_choice, check_positive_int, check_seed
from interspect.engines.registry import DEFAULT_SEED, FAITHFULNESS_N_TEST
from interspect.queries.layer import as_queries

__all__ = [
    "faithfulness",
    "r2_score",
    "removal",
    "removal_curve",
    "removal_mask",
    "Recovery",
    "recovery",
]

Direction = Literal["auto", "down", "up"]
RemovalMethod = Literal["milp", "marginal"]
_DIRECTIONS = ("auto", "down", "up")
_REMOVAL_METHODS = ("milp", "marginal")


def faithfulness(
    spectrum: Spectrum,
    value_fn: Callable[[np.ndarray], Any],
    n_test: int = FAITHFULNESS_N_TEST,
    seed: int | np.random.Generator | None = DEFAULT_SEED,
    *,
    batch_size: int | None = None,
) -> float:
    """R² of ``spectrum`` against ``value_fn`` on ``n_test`` fresh uniformly random masks.

    The masks come from their own generator (``seed``), never from the masks used for fitting.

    Examples
    --------
    >>> from interspect import exact, faithfulness, games
    >>> g = games.SparseFourierGame(n=8, n_terms=5, seed=1)
    >>> round(faithfulness(exact(g, 8), g), 6)
    1.0
    """
    if not isinstance(spectrum, Spectrum):
        raise TypeError(f"spectrum must be an interspect.Spectrum, got {type(spectrum).__name__}")
    n_test = check_positive_int(n_test, "n_test", minimum=2)
    rng = check_seed(seed)
    X = rng.integers(0, 2, size=(n_test, spectrum.n), dtype=np.uint8)
    y = as_queries(value_fn, spectrum.n, batch_size=batch_size)(X)
    return r2_score(y, spectrum.predict(X))


# ---------------------------------------------------------------------------------------- removal
def _check_spectrum(spectrum: Any) -> Spectrum:
    if not isinstance(spectrum, Spectrum):
        raise TypeError(f"spectrum must be an interspect.Spectrum, got {type(spectrum).__name__}")
    return spectrum


def _polynomial(spectrum: Spectrum) -> tuple[float, np.ndarray, list[tuple[tuple[int, ...], float]]]:
    """The surrogate's Möbius polynomial split into constant, linear part and higher-order terms."""
    mob = spectrum.mobius()
    const = float(mob.get((), 0.0))
    lin = np.zeros(spectrum.n)
    higher: list[tuple[tuple[int, ...], float]] = []
    for key, val in mob.items():
        if len(key) == 1:
            lin[key[0]] = val
        elif len(key) > 1 and val != 0.0:
            higher.append((key, float(val)))
    return const, lin, higher


def _greedy_minimise(n: int, lin: np.ndarray, higher: list[tuple[tuple[int, ...], float]], r: int) -> np.ndarray:
    """Remove one feature at a time, each time the one that lowers the polynomial most."""
    spectrum = Spectrum.from_mobius({(i,): float(lin[i]) for i in range(n)} | dict(higher), n)
    x = np.ones(n, dtype=np.uint8)
    for _ in range(r):
        kept = np.flatnonzero(x)
        trial = np.repeat(x[None, :], len(kept), axis=0)
        trial[np.arange(len(kept)), kept] = 0
        x = trial[int(np.argmin(spectrum.predict(trial)))]
    return x


def _poly_value(x: np.ndarray, lin: np.ndarray, higher: list[tuple[tuple[int, ...], float]]) -> float:
    return float(lin @ x + sum(v for k, v in higher if all(x[i] for i in k)))


def _minimise_polynomial(
    n: int, lin: np.ndarray, higher: list[tuple[tuple[int, ...], float]], r: int, time_limit: float | None = None
) -> np.ndarray:
    """Exactly minimise ``Σ lin_i x_i + Σ a_S Π_{i∈S} x_i`` over x ∈ {0,1}^n with ``Σ x = n − r``.

    Each product gets a variable y_S ∈ [0, 1]. Only the side of the linearisation (SPEC §6) that
    can bind is needed: minimising pushes y_S down when a_S > 0, so ``y_S ≥ Σ_{i∈S} x_i − |S| + 1``
    suffices; when a_S < 0 it pushes y_S up, so ``y_S ≤ x_i`` for i ∈ S suffices. At the optimum
    y_S then equals the product, so the optimum of the program is the optimum of the polynomial.
    """
    from scipy.optimize import Bounds, LinearConstraint, milp
    from scipy.sparse import coo_matrix

    if not higher:
        # Linear objective: the r largest coefficients are the ones to zero (ties by index).
        order = np.lexsort((np.arange(n), -lin))
        x = np.ones(n, dtype=np.uint8)
        x[order[:r]] = 0
        return x
    m = len(higher)
    c = np.concatenate([lin, np.array([v for _, v in higher])])
    rows: list[int] = []
    cols: list[int] = []
    data: list[float] = []
    lb: list[float] = []
    ub: list[float] = []
    row = 0
    # Cardinality: exactly n − r features kept.
    rows += [0] * n
    cols += list(range(n))
    data += [1.0] * n
    lb.append(n - r)
    ub.append(n - r)
    row = 1
    for j, (key, val) in enumerate(higher):
        yj = n + j
        if val > 0:  # y_S − Σ x_i ≥ 1 − |S|
            rows += [row] * (len(key) + 1)
            cols += [yj, *key]
            data += [1.0] + [-1.0] * len(key)
            lb.append(1.0 - len(key))
            ub.append(np.inf)
            row += 1
        else:  # y_S − x_i ≤ 0 for every i ∈ S
            for i in key:
                rows += [row, row]
                cols += [yj, i]
                data += [1.0, -1.0]
                lb.append(-np.inf)
                ub.append(0.0)
                row += 1
    A = coo_matrix((data, (rows, cols)), shape=(row, n + m)).tocsr()
    integrality = np.concatenate([np.ones(n), np.zeros(m)])
    options: dict[str, Any] = {"mip_rel_gap": 0.0}
    if time_limit is not None:
        options["time_limit"] = float(time_limit)
    res = milp(
        c,
        constraints=LinearConstraint(A, np.array(lb), np.array(ub)),
        integrality=integrality,
        bounds=Bounds(np.zeros(n + m), np.ones(n + m)),
        options=options,
    )
    if res.status == 0:
        return (np.round(res.x[:n]) > 0.5).astype(np.uint8)
    # Time limit hit (dense high-order surrogates over many features are hard binary programs):
    # keep the better of HiGHS's incumbent and a greedy removal; no longer a proven optimum.
    greedy = _greedy_minimise(n, lin, higher, r)
    if res.x is None:
        return greedy
    best = (np.round(res.x[:n]) > 0.5).astype(np.uint8)
    if int((best == 0).sum()) != r or _poly_value(greedy, lin, higher) < _poly_value(best, lin, higher):
        return greedy
    return best


def removal_mask(
    spectrum: Spectrum,
    r: int,
    *,
    direction: Direction = "auto",
    method: RemovalMethod = "milp",
    time_limit: float | None = 20.0,
) -> np.ndarray:
    """The mask (``n`` entries, exactly ``r`` zeros) of the ``r`` features the surrogate says to remove.

    Parameters
    ----------
    spectrum : Spectrum
        The surrogate.
    r : int
        Number of features to remove, ``0 <= r <= n``.
    direction : {"auto", "down", "up"}
        ``"down"`` minimises the surrogate (removes what pushes the output up), ``"up"``
        maximises it, ``"auto"`` solves both and keeps the one with the larger predicted change
        ``|f̂(1) − f̂(mask)|``.
    method : {"milp", "marginal"}
        ``"milp"`` optimises the full Möbius polynomial exactly (a binary program solved by
        SciPy's HiGHS ``milp``). ``"marginal"`` ranks features by their first-order Möbius
        coefficient alone, as marginal (first-order) methods do; for a spectrum of degree ≤ 1
        both give the same answer.
    time_limit : float or None, default 20
        Seconds HiGHS may spend per program (None: no limit). Sparse surrogates solve in
        milliseconds; a dense order-2 surrogate over many features is a hard binary quadratic
        program, and on hitting the limit the better of HiGHS's best solution and a greedy
        removal is used (no longer a proven optimum).

    Examples
    --------
    >>> from interspect import Spectrum
    >>> s = Spectrum.from_mobius({(0,): 0.5, (1,): 0.2, (2,): 0.3, (1, 2): 2.0}, n=4)
    >>> removal_mask(s, 1, direction="down").tolist()
    [1, 1, 0, 1]
    >>> removal_mask(s, 1, direction="down", method="marginal").tolist()
    [0, 1, 1, 1]
    """
    spectrum = _check_spectrum(spectrum)
    n = spectrum.n
    r = check_positive_int(r, "r", minimum=0)
    if r > n:
        raise ValueError(f"r must be at most n={n} (the number of features), got {r}")
    check_choice(direction, "direction", _DIRECTIONS)
    check_choice(method, "method", _REMOVAL_METHODS)
    const, lin, higher = _polynomial(spectrum)
    if method == "marginal":
        higher = []
    ones = np.ones(n, dtype=np.uint8)
    if r == 0:
        return ones
    candidates: list[np.ndarray] = []
    if direction in ("down", "auto"):
        candidates.append(_minimise_polynomial(n, lin, higher, r, time_limit))
    if direction in ("up", "auto"):
        candidates.append(_minimise_polynomial(n, -lin, [(k, -v) for k, v in higher], r, time_limit))
    if len(candidates) == 1:
        return candidates[0]
    pred = spectrum.predict(np.vstack([ones[None, :], *candidates]))
    change = np.abs(pred[1:] - pred[0])
    return candidates[int(np.argmax(change))]


def removal_curve(
    spectrum: Spectrum,
    value_fn: Callable[[np.ndarray], Any],
    rs: Sequence[int] = (1, 2, 3, 4, 5),
    *,
    direction: Direction = "auto",
    method: RemovalMethod = "milp",
    time_limit: float | None = 20.0,
) -> dict[int, float]:
    """:func:`removal` for several ``r`` at once, with one call to ``value_fn`` (``len(rs) + 1`` rows).

    Returns ``{r: |f(1) − f(mask_r)| / |f(1)|}``; values are NaN when ``f(1) == 0``. An ``r`` larger
    than ``n`` gives NaN too, so a table over r = 1..5 stays rectangular for tiny inputs.

    Examples
    --------
    >>> from interspect import Spectrum
    >>> s = Spectrum.from_mobius({(): 1.0, (0, 1): 3.0}, n=3)
    >>> f = lambda X: 1.0 + 3.0 * X[:, 0] * X[:, 1]
    >>> removal_curve(s, f, rs=(1, 2))
    {1: 0.75, 2: 0.75}
    """
    spectrum = _check_spectrum(spectrum)
    rs = [check_positive_int(r, "r", minimum=0) for r in rs]
    n = spectrum.n
    valid = [r for r in rs if r <= n]
    masks = [np.ones(n, dtype=np.uint8)] + [removal_mask(spectrum, r, direction=direction, method=method, time_limit=time_limit) for r in valid]
    y = as_queries(value_fn, spectrum.n)(np.vstack(masks))
    full = y[0]
    out: dict[int, float] = {}
    for r in rs:
        if r > n or full == 0.0:
            out[r] = float("nan")
        else:
            out[r] = float(abs(full - y[1 + valid.index(r)]) / abs(full))
    return out


def removal(
    spectrum: Spectrum,
    value_fn: Callable[[np.ndarray], Any],
    r: int,
    *,
    direction: Direction = "auto",
    method: RemovalMethod = "milp",
    time_limit: float | None = 20.0,
) -> float:
    """Top-r removal: relative change of the real output when the surrogate's best r features go.

    The r features are chosen by :func:`removal_mask` (exact optimisation of the surrogate's Möbius
    polynomial over masks with exactly r zeros, or first-order ranking with
    ``method="marginal"``); then ``value_fn`` is queried on the all-ones mask and on that mask, and
    ``|f(1) − f(mask)| / |f(1)|`` is returned (NaN when ``f(1) == 0``). Costs 2 queries.

    Examples
    --------
    >>> from interspect import exact, games
    >>> g = games.DummyGame(n=5, active=(1, 3))
    >>> removal(exact(g, 5), g, 1)
    1.0
    """
    spectrum = _check_spectrum(spectrum)
    r = check_positive_int(r, "r", minimum=0)
    if r > spectrum.n:
        raise ValueError(f"r must be at most n={spectrum.n} (the number of features), got {r}")
    return removal_curve(spectrum, value_fn, (r,), direction=direction, method=method, time_limit=time_limit)[r]


# --------------------------------------------------------------------------------------- recovery
@dataclass(frozen=True)
class Recovery:
    """Precision, recall and F1 of an estimated top-k set of interactions against the true one."""

    precision: float
    recall: float
    f1: float
    found: tuple[tuple[int, ...], ...]
    true: tuple[tuple[int, ...], ...]


def recovery(
    spectrum: Spectrum,
    true_spectrum: Spectrum,
    k: int,
    *,
    index: str = "Moebius",
    order: int | None = None,
    tol: float = 1e-9,
) -> Recovery:
    """Precision/recall of the top-``k`` interactions of ``spectrum`` against ``true_spectrum``.

    Both sides take their ``k`` largest non-constant interactions by ``|value|`` under ``index``
    (and ``order``, see :meth:`Spectrum.interactions`), ignoring values with ``|v| <= tol``; if the
    truth has fewer than ``k`` such terms, all of them form the true set. Precision =
    ``|found ∩ true| / |found|``, recall = ``|found ∩ true| / |true|`` (1.0 for an empty side).

    Examples
    --------
    >>> from interspect import Spectrum
    >>> truth = Spectrum.from_mobius({(0, 1): 2.0, (2,): 1.0}, n=4)
    >>> est = Spectrum.from_mobius({(0, 1): 1.9, (3,): 0.5}, n=4)
    >>> rec = recovery(est, truth, k=2)
    >>> rec.precision, rec.recall
    (0.5, 0.5)
    """
    spectrum = _check_spectrum(spectrum)
    true_spectrum = _check_spectrum(true_spectrum)
    if spectrum.n != true_spectrum.n:
        raise ValueError(f"spectrum and true_spectrum must have the same n, got {spectrum.n} and {true_spectrum.n}")
    k = check_positive_int(k, "k")

    def top(s: Spectrum) -> tuple[tuple[int, ...], ...]:
        items = by_importance([(key, v) for key, v in s.interactions(index, order).items() if key and abs(v) > tol])
        return tuple(key for key, _ in items[:k])

    found, true = top(spectrum), top(true_spectrum)
    hits = len(set(found) & set(true))
    precision = hits / len(found) if found else 1.0
    recall = hits / len(true) if true else 1.0
    f1 = 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)
    return Recovery(precision, recall, f1, found, true)
