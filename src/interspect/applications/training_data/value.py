"""`TrainingDataValueFunction`: a model retrained on a subset of its training data, scored at test points.

``vf(X)`` takes an ``(m, n)`` 0/1 mask batch over n features — training examples or groups of them
(:mod:`~interspect.applications.training_data.groups`) — and returns m floats: for each mask the
kept groups' examples form the training subset S, a model is trained **from scratch** on S by the
learner (:mod:`~interspect.applications.training_data.learners`) with a fixed seed, and its
output at the test points is averaged. Retraining is the query cost; the query layer runs masks
in parallel with ``executor="process"`` (or a cluster executor), caches and de-duplicates them.

Outputs (per test point ``(x, y)``, averaged over the test points; ``p`` = the retrained model's
class probabilities, floored at ``min_probability`` before a logarithm):

- ``"margin"``: ``log p(y) − max_{c≠y} log p(c)`` — positive when the true class wins (for a
  softmax model it is the logit margin, the "datamodel" output);
- ``"logloss"``: ``−log p(y)``;
- ``"probability"``: ``p(y)``;
- a callable ``output(predictor, X_test, y_test) -> float or one float per test point``.

Degenerate subsets: a subset with fewer than two classes (the empty one included) trains no
model; its prediction is :class:`~interspect.applications.training_data.learners.PriorPredictor`
— add-one-smoothed class frequencies, ``p(c) = (count(c) + 1) / (|S| + K)`` — so the empty
subset gives ``p = 1/K`` (margin 0, log-loss ``log K``). Classes absent from a subset get
probability 0 (then ``min_probability`` under a logarithm).
"""

from __future__ import annotations

import hashlib
import sys
import warnings
from collections.abc import Callable, Sequence
from typing import Any, Literal

import numpy as np

from interspect.applications.training_data.groups import Grouping, make_groups
from interspect.applications.training_data.learners import (
    Learner,
    PriorPredictor,
    class_probabilities,
    make_learner,
)
from interspect.core.validation import check_masks, check_positive_int
from interspect.queries.cache import identity_hash

__all__ = ["TrainingDataValueFunction", "OUTPUTS", "check_training_data"]

#: Named outputs accepted by ``output=``.
OUTPUTS = ("margin", "logloss", "probability")

OutputName = Literal["margin", "logloss", "probability"]


_CONTROLLER: Any = None
_MODULES_SEEN = -1


def _limit_threads(n_threads: int) -> Any:
    """A context that caps BLAS/OpenMP threads at ``n_threads``.

    Scanning the loaded native libraries costs tens of milliseconds, so the scan is kept per
    process and redone only after new modules were imported (they may have loaded a library).
    """
    global _CONTROLLER, _MODULES_SEEN
    from threadpoolctl import ThreadpoolController

    if _CONTROLLER is None or len(sys.modules) != _MODULES_SEEN:
        _CONTROLLER = ThreadpoolController()
        _MODULES_SEEN = len(sys.modules)
    return _CONTROLLER.limit(limits=n_threads)


def _digest(a: np.ndarray) -> str:
    a = np.ascontiguousarray(a)
    if a.dtype == object or a.dtype.kind in "US":
        return hashlib.sha256("\x1f".join(map(str, a.tolist())).encode()).hexdigest()
    return hashlib.sha256(str(a.dtype).encode() + str(a.shape).encode() + a.tobytes()).hexdigest()


def check_training_data(
    X_train: Any, y_train: Any, X_test: Any, y_test: Any
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The four arrays validated: ``X_train`` (m, d) finite floats, ``y_train`` m labels of at least
    two classes, ``X_test`` one point (d,) or several (t, d), ``y_test`` their labels (classes of
    ``y_train``). Raises one clear error naming the argument otherwise.

    Examples
    --------
    >>> Xtr, ytr, Xte, yte = check_training_data([[0.0, 1], [1, 0]], [0, 1], [0.5, 0.5], 1)
    >>> Xte.shape, yte.tolist()
    ((1, 2), [1])
    """

    def as_float(name: str, a: Any) -> np.ndarray:
        try:
            arr = np.asarray(a, dtype=float)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"{name} must be a numeric array, got {type(a).__name__} ({exc})") from exc
        if not np.isfinite(arr).all():
            raise ValueError(f"{name} holds NaN or inf; fill or drop those values first")
        return arr

    Xtr = as_float("X_train", X_train)
    if Xtr.ndim != 2 or Xtr.shape[0] < 1 or Xtr.shape[1] < 1:
        raise ValueError(f"X_train must be a 2-d array (examples x input features), got shape {Xtr.shape}")
    ytr = np.asarray(y_train)
    if ytr.ndim != 1 or len(ytr) != len(Xtr):
        raise ValueError(f"y_train must hold one label per row of X_train ({len(Xtr)}), got shape {ytr.shape}")
    if ytr.dtype == object:
        ytr = ytr.astype(str)
    classes = np.unique(ytr)
    if len(classes) < 2:
        raise ValueError(
            f"y_train has a single class ({classes[0]!r}); a classifier needs at least two classes "
            "in its training labels"
        )
    Xte = as_float("X_test", X_test)
    if Xte.ndim == 1:
        Xte = Xte[None, :]
    if Xte.ndim != 2 or Xte.shape[1] != Xtr.shape[1]:
        raise ValueError(
            f"X_test must have {Xtr.shape[1]} input features per test point (as X_train), got shape "
            f"{np.asarray(X_test).shape}"
        )
    if len(Xte) < 1:
        raise ValueError("X_test holds no test point")
    yte = np.asarray(y_test)
    yte = yte.reshape(1) if yte.ndim == 0 else yte
    if yte.dtype == object:
        yte = yte.astype(str)
    if yte.shape != (len(Xte),):
        raise ValueError(f"y_test must hold one label per test point ({len(Xte)}), got shape {yte.shape}")
    unknown = ~np.isin(yte, classes)
    if unknown.any():
        raise ValueError(
            f"y_test holds the label {yte[unknown][0].item()!r}, which no training example has; "
            f"training classes: {', '.join(map(str, classes))}"
        )
    return Xtr, ytr, Xte, yte


class TrainingDataValueFunction:
    """A model retrained on the kept training examples, scored at test points: masks -> floats.

    Parameters
    ----------
    X_train, y_train : array-like
        Training inputs ``(m, d)`` and labels (at least two classes).
    X_test, y_test : array-like
        One test point ``(d,)`` and its label, or several ``(t, d)`` and ``t`` labels (the output
        is their mean).
    learner : str, estimator or callable
        ``"logistic"`` (default), ``"svm"``, ``"torch"``, any scikit-learn classifier (cloned and
        refit), or ``fit(X, y) -> predictor``; see
        :mod:`~interspect.applications.training_data.learners`.
    groups : str, ids or index lists
        What one feature is: ``"examples"``, ``"class"``, ``"kmeans"`` (with ``n_groups``),
        ``"duplicates"``, a group id per example, or a partition; see
        :mod:`~interspect.applications.training_data.groups`.
    n_groups : int, optional
        Clusters for ``groups="kmeans"``.
    duplicate_threshold : float, optional
        Distance for ``groups="duplicates"``.
    group_labels : list of str, optional
        One label per group instead of the made-up ones.
    class_names : list of str, optional
        Names of the classes (in sorted label order), for labels and reports.
    output : {"margin", "logloss", "probability"} or callable
        What is read off the retrained model (module docstring).
    seed : int
        Seeds the learner (every retrain uses the same seed, so the output is a function of the
        subset alone) and the k-means grouping.
    min_probability : float
        Floor of a probability under a logarithm (a class the subset lacks has probability 0).
    batch_size : int
        Subsets per call: the query layer's unit of caching, progress and parallel work.
    n_threads : int
        BLAS/OpenMP threads per retrain (1: reproducible bit for bit, and no oversubscription when
        a process pool runs one retrain per core).
    learner_id : str, optional
        Names a callable learner in the cache identity when its code alone does not determine it.

    Attributes
    ----------
    n : int
        Number of features (groups).
    grouping : Grouping
    classes : array
        The training classes (sorted).
    identity : str
        Hash of the data, learner, its parameters and seed, the grouping, the output and the test
        points: the cache key.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> X, y = load_iris(return_X_y=True)
    >>> vf = TrainingDataValueFunction(X[::3], y[::3], X[1], y[1], groups="class")
    >>> vf.n, vf.labels_for([0])
    (3, ['class 0 (17 ex.)'])
    >>> vf(np.array([[0, 0, 0], [1, 0, 0]])).round(4).tolist()  # empty: uniform; one class: prior
    [0.0, 2.8904]
    >>> bool(vf(np.ones((1, 3)))[0] > 0)  # the full model gets the test flower right
    True
    """

    def __init__(
        self,
        X_train: Any,
        y_train: Any,
        X_test: Any,
        y_test: Any,
        *,
        learner: Any = "logistic",
        groups: Any = "examples",
        n_groups: int | None = None,
        duplicate_threshold: float | None = None,
        group_labels: Sequence[str] | None = None,
        class_names: Sequence[str] | None = None,
        output: OutputName | Callable[..., Any] = "margin",
        seed: int = 0,
        min_probability: float = 1e-6,
        batch_size: int = 8,
        n_threads: int = 1,
        learner_id: str | None = None,
    ) -> None:
        from interspect.core.validation import check_choice

        self.X_train, self.y_train, self.X_test, self.y_test = check_training_data(
            X_train, y_train, X_test, y_test
        )
        self.seed = check_positive_int(seed, "seed", minimum=0)
        self.classes = np.unique(self.y_train)
        if class_names is not None:
            class_names = [str(c) for c in class_names]
            if len(class_names) != len(self.classes):
                raise ValueError(
                    f"class_names has {len(class_names)} names for {len(self.classes)} classes"
                )
        self.class_names = class_names
        if callable(output):
            self.output = output
        else:
            self.output = check_choice(output, "output", OUTPUTS)
        if not (isinstance(min_probability, float) and 0.0 < min_probability < 1.0):
            raise ValueError(f"min_probability must be a float in (0, 1), got {min_probability!r}")
        self.min_probability = min_probability
        self.batch_size = check_positive_int(batch_size, "batch_size")
        self.n_threads = check_positive_int(n_threads, "n_threads")
        self.learner: Learner = make_learner(learner, self.seed, learner_id)
        self.grouping: Grouping = make_groups(
            groups, self.X_train, self.y_train, n_groups=n_groups,
            duplicate_threshold=duplicate_threshold, labels=group_labels,
            class_names=class_names, seed=self.seed,
        )
        self.n = self.grouping.n
        self._owner = self.grouping.owner
        # Positions of the test labels among the classes (for the outputs).
        self._true = np.searchsorted(self.classes, self.y_test)
        self.identity = identity_hash(self._settings())

    # -- identity and description ------------------------------------------------------------------
    def _settings(self) -> dict:
        out = self.output
        if callable(out):
            import inspect

            try:
                src = inspect.getsource(out)
            except (OSError, TypeError):
                src = repr(out)
            out = {"callable": getattr(out, "__qualname__", repr(out)), "source": hashlib.sha256(src.encode()).hexdigest()}
        return {
            "application": "training_data",
            "X_train": _digest(self.X_train),
            "y_train": _digest(self.y_train),
            "X_test": _digest(self.X_test),
            "y_test": _digest(self.y_test),
            "learner": self.learner.identity(),
            "seed": self.seed,
            "grouping": self.grouping.identity(),
            "output": out,
            "min_probability": self.min_probability,
        }

    def describe(self) -> dict:
        """The settings, for reports (JSON-able)."""
        return {
            "application": "training_data",
            "n": self.n,
            "n_train": int(len(self.y_train)),
            "n_inputs": int(self.X_train.shape[1]),
            "n_test_points": int(len(self.y_test)),
            "classes": [str(c) for c in self.classes],
            "output": self.output if isinstance(self.output, str) else getattr(self.output, "__qualname__", "callable"),
            "min_probability": self.min_probability,
            "grouping": self.grouping.describe(),
            **self.learner.describe(),
            "identity": self.identity,
        }

    def labels_for(self, features: Sequence[int]) -> list[str]:
        """The labels of the given features."""
        out = []
        for i in features:
            i = int(i)
            if not 0 <= i < self.n:
                raise IndexError(f"feature index {i} is out of range for n={self.n} groups")
            out.append(self.grouping.labels[i])
        return out

    def __repr__(self) -> str:
        return (
            f"TrainingDataValueFunction(n={self.n}, n_train={len(self.y_train)}, "
            f"learner={self.learner.name!r}, groups={self.grouping.kind!r}, output={self.describe()['output']!r})"
        )

    # -- one retrain -------------------------------------------------------------------------------
    def subset(self, mask: Any) -> np.ndarray:
        """The training-example indices a mask keeps (sorted, so the training order is canonical)."""
        row = check_masks(mask, self.n)[0]
        return np.flatnonzero(row[self._owner])

    def fit(self, mask: Any) -> Any:
        """The predictor trained on the subset a mask keeps (:class:`PriorPredictor` when the subset
        has fewer than two classes)."""
        return self._fit(self.subset(mask))

    def _fit(self, idx: np.ndarray) -> Any:
        y = self.y_train[idx]
        if len(np.unique(y)) < 2:
            return PriorPredictor(self.classes, y)
        with warnings.catch_warnings():
            # A fixed iteration limit is part of the learner; a retrain that hits it is still a
            # deterministic function of the subset, and thousands of warnings would drown the run.
            from sklearn.exceptions import ConvergenceWarning

            warnings.simplefilter("ignore", ConvergenceWarning)
            return self.learner.fit(self.X_train[idx], y)

    def _score(self, predictor: Any) -> float:
        if callable(self.output):
            vals = np.asarray(self.output(predictor, self.X_test, self.y_test), dtype=float).reshape(-1)
            if vals.size not in (1, len(self.y_test)):
                raise ValueError(
                    f"output callable returned {vals.size} values; expected 1 or one per test point ({len(self.y_test)})"
                )
            return float(vals.mean())
        P = class_probabilities(predictor, self.X_test, self.classes)
        rows = np.arange(len(self._true))
        p_true = P[rows, self._true]
        if self.output == "probability":
            return float(p_true.mean())
        logp = np.log(np.maximum(P, self.min_probability))
        if self.output == "logloss":
            return float(-logp[rows, self._true].mean())
        others = logp.copy()
        others[rows, self._true] = -np.inf
        return float((logp[rows, self._true] - others.max(axis=1)).mean())

    def __call__(self, X: Any) -> np.ndarray:
        """Outputs for masks ``X`` (``(m, n)`` 0/1, 1 = group kept in the training set)."""
        X = check_masks(X, self.n)
        out = np.empty(len(X), dtype=float)
        with _limit_threads(self.n_threads):
            for r, row in enumerate(X):
                out[r] = self._score(self._fit(np.flatnonzero(row[self._owner])))
        return out
