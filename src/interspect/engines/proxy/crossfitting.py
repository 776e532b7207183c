"""Honest choices for ProxySPEX's last step: cross-fitting, then a refit on all samples.

The last step has to choose: which terms (those the forward selection keeps, or an energy cut of
the trees' spectrum), and how strongly ridge shrinks them. Criteria computed on the samples the
trees were fitted to are fooled — the trees' terms were picked because they fit those very
samples, so an in-sample score (GCV included) rewards keeping the noise they fitted. Here every
choice is made on rows the whole pipeline never saw:

1. the samples are split into ``K`` folds;
2. for each fold the *entire* pipeline (tree fit, tree spectrum, candidate supports) runs on the
   other folds, and every candidate — a support family × a ridge penalty — predicts the held-out
   fold;
3. the candidate with the smallest summed held-out squared error, or the simplest candidate
   within one standard error of it (fewest terms, then the strongest penalty), wins; it is
   refitted on all samples with the same penalty.

Every sample is used for fitting (``K − 1`` times) and for validation (once). The held-out error
also gives an estimate of the final surrogate's out-of-sample R² (:attr:`CrossFit.r2`); it is
slightly pessimistic (the fold models see ``(K − 1)/K`` of the samples).

:func:`stack` goes one step further than choosing (a "super learner"): the held-out predictions
of every family at its best penalty, and of the constant, are combined with non-negative weights
fitted to the held-out outputs (non-negative least squares, normalised to sum to one) — unless
that does no better than the best single candidate, when cross-fitting's choice stands. The
surrogate is then the same combination of the families' refits on all samples
(:func:`ridge_mixture`) — still a sparse spectrum, on the union of the supports. Where samples
are few the candidates' held-out errors differ by less than their noise, and averaging them beats
betting on one: on the wide benchmark (``benchmarks/results_proxyspex_wide.md``, part 1) the model
rows' R² rose by 0.009–0.063 and no row's fell.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.linalg
import scipy.optimize

from interspect.core.parity import parity_design
from interspect.engines.proxy.ridge import NormalEquations

__all__ = ["CrossFit", "Stack", "crossfit", "stack", "make_folds", "ridge_fixed", "ridge_mixture", "ALPHAS"]

Key = tuple[int, ...]
#: Absolute ridge penalties tried (for ±1 columns the Gram diagonal is m, so α = 0.01·m shrinks a
#: coefficient by 1 %). Absolute, not relative to m: the best penalty for a given signal-to-noise
#: ratio does not grow with m, so the value chosen on the folds carries over to the refit.
ALPHAS = np.concatenate([[0.0], np.logspace(-3, 4, 15)])
# Candidates whose held-out error is within this fraction of the best count as tied (the one with
# fewer terms is kept); the absolute part, relative to the held-out total sum of squares, covers
# exactly fitted data whose errors are all rounding.
_TIE_RTOL = 2e-3
_TIE_ATOL = 1e-10


@dataclass
class CrossFit:
    """What cross-fitting chose and measured.

    Attributes
    ----------
    family : str
        The winning support family (a key of what the pipeline returns).
    alpha : float
        The winning absolute ridge penalty.
    r2 : float
        Held-out R² of the winner, pooled over the folds: ``1 − SSE / SST`` with SST about each
        training part's mean. An estimate of the surrogate's R² on fresh masks.
    folds : list of (train rows, held-out rows)
    scores : dict
        ``(family, alpha) -> held-out SSE`` for every candidate.
    terms : dict
        ``family -> mean number of terms over the folds``.
    """

    family: str
    alpha: float
    r2: float
    folds: list[tuple[np.ndarray, np.ndarray]] = field(repr=False)
    scores: dict[tuple[str, float], float] = field(repr=False)
    terms: dict[str, float] = field(repr=False)
    sst: float = field(default=float("nan"), repr=False)
    #: ``family -> (rows, penalties)`` out-of-fold predictions (NaN on rows never held out).
    oof: dict[str, np.ndarray] = field(default_factory=dict, repr=False)

    def family_r2(self) -> dict[str, float]:
        """Each family's held-out R² at its best penalty."""
        best: dict[str, float] = {}
        for (family, _), sse in self.scores.items():
            best[family] = min(best.get(family, np.inf), sse)
        return {f: float(1.0 - v / self.sst) if self.sst > 0 else 1.0 for f, v in best.items()}


def make_folds(
    m: int, k: int, rng: np.random.Generator, *, eligible: np.ndarray | None = None,
    labels: np.ndarray | None = None,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """``k`` disjoint held-out parts of ``range(m)`` (sizes differing by at most one) with their
    complements as training rows.

    ``eligible`` (boolean, length m) limits the held-out parts to those rows; the others are
    training rows in every fold (structured designs, which say nothing about the error on
    uniformly random masks, are fitted to but never scored). ``labels`` (non-negative ints, one
    per row) fixes the assignment: row ``i`` is held out in fold ``labels[i] % k``, so rows keep
    their fold when more samples arrive (``budget="auto"``), which makes successive estimates
    comparable.

    Examples
    --------
    >>> import numpy as np
    >>> folds = make_folds(10, 3, np.random.default_rng(0))
    >>> sorted(int(i) for _, va in folds for i in va) == list(range(10))
    True
    >>> all(not set(tr.tolist()) & set(va.tolist()) for tr, va in folds)
    True
    """
    rows = np.arange(m) if eligible is None else np.flatnonzero(eligible)
    if labels is None:
        parts = np.array_split(rows[rng.permutation(len(rows))], k)
    else:
        parts = [rows[np.asarray(labels)[rows] % k == j] for j in range(k)]
    out = []
    for j in range(k):
        train = np.ones(m, dtype=bool)
        train[parts[j]] = False
        out.append((np.flatnonzero(train), np.sort(parts[j])))
    return out


def _eigen_ridge(gram: np.ndarray, b: np.ndarray, mu: np.ndarray, ybar: float, m: int,
                 alphas: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Ridge fits (unpenalised constant) from centred normal equations for every penalty in
    ``alphas`` at once: constants ``(penalties,)`` and coefficients ``(terms, penalties)``."""
    s2, V = np.linalg.eigh(gram)  # releases the GIL (see ridge.ridge_gcv)
    s2 = np.clip(s2, 0.0, None)
    z = V.T @ b
    # Directions with no sample variance get no weight (α = 0 is then the minimum-norm fit).
    with np.errstate(divide="ignore", invalid="ignore"):
        inv = np.where(s2[:, None] > 1e-9 * m, 1.0 / (s2[:, None] + alphas[None, :]), 0.0)
    W = V @ (z[:, None] * inv)
    return ybar - mu @ W, W


class _RidgePath:
    """Ridge fits of one support on training rows for every penalty in ``alphas`` at once (one
    eigen-decomposition of the centred Gram matrix)."""

    def __init__(self, keys: Sequence[Key], X: np.ndarray, y: np.ndarray, alphas: np.ndarray) -> None:
        self.keys = list(keys)
        self.alphas = alphas
        if not self.keys:
            self.const = np.full(len(alphas), float(np.mean(y)))
            self.W = np.zeros((0, len(alphas)))
            return
        eq = NormalEquations.from_keys(self.keys, X, y)
        self.const, self.W = _eigen_ridge(eq.gram, eq.b, eq.mu, eq.ybar, eq.m, alphas)

    def predict(self, X: np.ndarray) -> np.ndarray:
        """``(rows, penalties)`` predictions."""
        if not self.keys:
            return np.repeat(self.const[None, :], len(X), axis=0)
        return self.const[None, :] + parity_design(self.keys, X) @ self.W


def crossfit(
    X: np.ndarray,
    y: np.ndarray,
    supports: Callable[[np.ndarray, np.ndarray, int], dict[str, list[Key]]],
    *,
    folds: list[tuple[np.ndarray, np.ndarray]],
    alphas: np.ndarray = ALPHAS,
    map: Callable[[Callable[[int], Any], Sequence[int]], Sequence[Any]] | None = None,
) -> CrossFit:
    """Score every (support family, penalty) on held-out folds; see the module docstring.

    Parameters
    ----------
    X, y : arrays
        All samples.
    supports : callable
        ``supports(X_train, y_train, fold) -> {family: keys}``: the pipeline, run on one fold's
        training rows only. Every call must return the same families.
    folds : list of (train rows, held-out rows)
        From :func:`make_folds`.
    alphas : array
        Absolute ridge penalties to try.
    map : callable, optional
        ``map(fn, fold_indices) -> results in order``, to run the folds' pipelines side by side
        (e.g. :meth:`interspect.engines.proxy.threads.Split.map`); default: one after another.

    Returns
    -------
    CrossFit

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = rng.integers(0, 2, size=(200, 6))
    >>> y = (-1.0) ** X[:, 2] + 0.1 * rng.normal(size=200)
    >>> cv = crossfit(X, y, lambda Xt, yt, k: {"none": [], "x2": [(2,)]}, folds=make_folds(200, 4, rng))
    >>> cv.family, cv.r2 > 0.95
    ('x2', True)
    """
    scores: dict[tuple[str, float], float] = {}
    terms: dict[str, list[int]] = {}
    oof: dict[str, np.ndarray] = {}
    sst = 0.0
    run = map or (lambda fn, items: [fn(i) for i in items])
    pipelines = run(lambda j: supports(X[folds[j][0]], y[folds[j][0]], j), range(len(folds)))
    for (tr, va), found in zip(folds, pipelines):
        if scores and {f for f, _ in scores} != set(found):
            raise ValueError("supports() must return the same families for every fold")
        sst += float(np.sum((y[va] - np.mean(y[tr])) ** 2))
        # Families often coincide (the cut and the pool, a shallow pipeline's selection and the
        # deep one's): each distinct support is fitted and scored once per fold.
        done: dict[tuple[Key, ...], tuple[np.ndarray, np.ndarray]] = {}
        for family, keys in found.items():
            terms.setdefault(family, []).append(len(keys))
            got = done.get(tuple(keys))
            if got is None:
                pred = _RidgePath(keys, X[tr], y[tr], alphas).predict(X[va])
                err = pred - y[va][:, None]
                got = done[tuple(keys)] = (pred, err * err)
            pred, sq = got
            oof.setdefault(family, np.full((len(y), len(alphas)), np.nan))[va] = pred
            sse = sq.sum(axis=0)
            for a, s in zip(alphas.tolist(), sse.tolist()):
                scores[(family, a)] = scores.get((family, a), 0.0) + s
    mean_terms = {f: float(np.mean(t)) for f, t in terms.items()}
    best = min(scores.values())
    # The one-standard-error rule: a candidate whose extra held-out error over the best is within
    # the standard error of that difference (paired over the held-out rows) is as good as the
    # data can tell; of those the simplest wins — fewest terms, then the strongest penalty. On
    # few or noisy samples the best candidate's lead is mostly luck (the embedded model at a few
    # hundred queries); on exactly sparse data the differences are systematic and the best wins.
    # The relative and absolute floors cover rounding on exactly fitted data.
    fb, ab = min(scores, key=scores.__getitem__)
    held = np.concatenate([va for _, va in folds])
    row_err = {f: (pred[held] - y[held][:, None]) ** 2 for f, pred in oof.items()}
    e_best = row_err[fb][:, list(alphas.tolist()).index(ab)]
    near = []
    for f, err2 in row_err.items():
        d = err2 - e_best[:, None]
        se = np.sqrt(len(d)) * d.std(axis=0)
        for a, v in zip(alphas.tolist(), se.tolist()):
            if scores[(f, a)] <= best + max(v, best * _TIE_RTOL + _TIE_ATOL * sst):
                near.append((f, a))
    family, alpha = min(near, key=lambda c: (mean_terms[c[0]], -c[1]))
    r2 = 1.0 - scores[(family, alpha)] / sst if sst > 0 else 1.0
    return CrossFit(family, alpha, float(r2), folds, scores, mean_terms, sst, oof)


@dataclass
class Stack:
    """Weights of the candidates combined by :func:`stack`.

    Attributes
    ----------
    weights : dict
        ``family -> (alpha, weight)`` for the families with a positive weight; ``""`` is the
        constant (the training rows' mean). Weights sum to one.
    r2 : float
        Held-out R² of the combination (its weights were fitted to the same held-out rows, a
        handful of numbers against hundreds of rows: slightly optimistic).
    """

    weights: dict[str, tuple[float, float]]
    r2: float

    @property
    def family(self) -> str:
        """The heaviest family (the constant only when nothing else has weight)."""
        return max(self.weights, key=lambda f: (f != "", self.weights[f][1]))


def stack(cv: CrossFit, y: np.ndarray, *, alphas: np.ndarray = ALPHAS) -> Stack:
    """Combine the candidates of ``cv`` (each family at its best penalty, and the constant) with
    non-negative weights fitted to their held-out predictions; see the module docstring.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = rng.integers(0, 2, size=(300, 6))
    >>> y = (-1.0) ** X[:, 2] + 0.5 * (-1.0) ** X[:, 4] + 0.1 * rng.normal(size=300)
    >>> fams = {"x2": [(2,)], "x2x4": [(2,), (4,)]}
    >>> st = stack(crossfit(X, y, lambda Xt, yt, k: fams, folds=make_folds(300, 5, rng)), y)
    >>> st.family, round(st.weights["x2x4"][1], 2), st.r2 > 0.95
    ('x2x4', 1.0, True)
    """
    held = np.concatenate([va for _, va in cv.folds])
    const = np.empty(len(y))
    for tr, va in cv.folds:
        const[va] = np.mean(y[tr])
    names, alpha_of, cols, seen = [""], [0.0], [const[held]], set()
    for family, pred in cv.oof.items():
        j = int(np.argmin([cv.scores[(family, a)] for a in alphas.tolist()]))
        col = pred[held, j]
        sig = col.tobytes()
        if sig in seen:  # families with the same support predict the same
            continue
        seen.add(sig)
        names.append(family)
        alpha_of.append(float(alphas[j]))
        cols.append(col)
    P = np.column_stack(cols)
    w, _ = scipy.optimize.nnls(P, y[held])
    if not w.sum() > 0:
        w = np.eye(len(names))[int(np.argmin(((P - y[held][:, None]) ** 2).sum(axis=0)))]
    w = w / w.sum()
    sse = float(np.sum((P @ w - y[held]) ** 2))
    # A combination no better than the best single candidate (exactly sparse data, where several
    # fit exactly) gives way to cross-fitting's own choice: the simplest of the near-best.
    if sse >= min(cv.scores.values()) * (1.0 - _TIE_RTOL) - _TIE_ATOL * cv.sst:
        return Stack({cv.family: (cv.alpha, 1.0)}, cv.r2)
    r2 = 1.0 - sse / cv.sst if cv.sst > 0 else 1.0
    weights = {f: (a, float(v)) for f, a, v in zip(names, alpha_of, w) if v > 0}
    return Stack(weights, float(r2))


def ridge_mixture(parts: Sequence[tuple[Sequence[Key], float, float]], X: np.ndarray, y: np.ndarray) -> tuple[list[Key], float, np.ndarray]:
    """``Σ weight · ridge_fixed(keys, X, y, alpha)`` over ``parts`` as one spectrum: the union of
    the keys, the combined constant and coefficients (the normal equations built once for the
    union; an empty key list is the constant).

    Examples
    --------
    >>> import numpy as np
    >>> X = np.random.default_rng(0).integers(0, 2, size=(100, 3))
    >>> y = 2.0 + (-1.0) ** X[:, 0]
    >>> keys, c, w = ridge_mixture([([(0,)], 0.0, 0.5), ([], 0.0, 0.5)], X, y)  # half exact fit, half mean
    >>> keys, bool(np.isclose(c, 0.5 * 2.0 + 0.5 * y.mean())), np.round(w, 6).tolist()
    ([(0,)], True, [0.5])
    """
    union = list(dict.fromkeys(k for keys, _, _ in parts for k in keys))
    index = {k: i for i, k in enumerate(union)}
    eq = NormalEquations.from_keys(union, X, y) if union else None
    const, coef = 0.0, np.zeros(len(union))
    for keys, alpha, weight in parts:
        if not keys:
            const += weight * float(np.mean(y))
            continue
        idx = np.array([index[k] for k in keys])
        c, w = _ridge_solve(eq, idx, alpha)
        const += weight * c
        coef[idx] += weight * w
    return union, const, coef


def _ridge_solve(eq: NormalEquations, idx: np.ndarray, alpha: float) -> tuple[float, np.ndarray]:
    """The ridge fit (unpenalised constant) of the columns ``idx`` of ``eq``."""
    gram, b, mu = eq.gram[np.ix_(idx, idx)], eq.b[idx], eq.mu[idx]
    if alpha > 0:
        # One penalty: a Cholesky solve is several times cheaper than the eigen-decomposition.
        try:
            c, low = scipy.linalg.cho_factor(gram + alpha * np.eye(len(idx)), check_finite=False)
            w = scipy.linalg.cho_solve((c, low), b, check_finite=False)
            return float(eq.ybar - mu @ w), w
        except np.linalg.LinAlgError:
            pass
    const, W = _eigen_ridge(gram, b, mu, eq.ybar, eq.m, np.array([float(alpha)]))
    return float(const[0]), W[:, 0]


def ridge_fixed(keys: Sequence[Key], X: np.ndarray, y: np.ndarray, alpha: float) -> tuple[float, np.ndarray]:
    """Ridge fit of ``keys`` on all of ``(X, y)`` with absolute penalty ``alpha`` (unpenalised
    constant); returns ``(constant, coefficients)``.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.random.default_rng(0).integers(0, 2, size=(100, 3))
    >>> c, w = ridge_fixed([(0,)], X, 2.0 + (-1.0) ** X[:, 0], 0.0)
    >>> round(c, 6), np.round(w, 6).tolist()
    (2.0, [1.0])
    """
    keys = list(keys)
    if not keys:
        return float(np.mean(y)), np.zeros(0)
    return _ridge_solve(NormalEquations.from_keys(keys, X, y), np.arange(len(keys)), float(alpha))
