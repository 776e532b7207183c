"""Learners: what the training-data value function retrains on every subset.

A learner is one of

- a scikit-learn estimator (any object with ``fit`` and ``predict_proba``, ``decision_function``
  or ``predict``): it is cloned, its unset ``random_state`` parameters are set to the value
  function's seed, and it is fit from scratch on each subset;
- a caller's function ``fit(X, y) -> predictor``, where the predictor has ``predict_proba``,
  ``decision_function`` or ``predict`` (or is itself a callable ``X -> probabilities``);
- a name from :data:`LEARNERS`: ``"logistic"`` (the default: multinomial logistic regression),
  ``"svm"`` (an RBF support-vector classifier) or ``"torch"`` (:class:`TorchClassifier`, a small
  PyTorch network trained with a fixed seed for a fixed number of epochs; torch is imported only
  when it trains).

:func:`class_probabilities` turns any fitted predictor into probabilities over *all* classes of
the training data (classes missing from a subset get probability 0), which is what the outputs
(margin, log-loss, probability) are computed from.
"""

from __future__ import annotations

import hashlib
import inspect
from collections.abc import Callable
from typing import Any, Literal

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, clone

__all__ = [
    "LEARNERS",
    "Learner",
    "TorchClassifier",
    "PriorPredictor",
    "make_learner",
    "class_probabilities",
]

#: Learner names accepted by ``learner=``.
LEARNERS = ("logistic", "svm", "torch")


def _named(name: str) -> Any:
    if name == "logistic":
        from sklearn.linear_model import LogisticRegression

        return LogisticRegression(C=1.0, max_iter=300)
    if name == "svm":
        from sklearn.svm import SVC

        return SVC(C=10.0, gamma="scale")
    return TorchClassifier()


def _has_scores(obj: Any) -> bool:
    return any(callable(getattr(obj, a, None)) for a in ("predict_proba", "decision_function", "predict"))


class Learner:
    """A learner made uniform: ``fit(X, y) -> predictor`` with a fixed seed, plus an identity.

    Use :func:`make_learner` to build one from what a caller passes as ``learner=``.
    """

    def __init__(self, spec: Any, seed: int, learner_id: str | None = None) -> None:
        self.seed = int(seed)
        if isinstance(spec, str):
            from interspect.core.validation import check_choice

            check_choice(spec, "learner", LEARNERS)
            self.name = spec
            spec = _named(spec)
        else:
            self.name = None
        if isinstance(spec, type):
            raise TypeError(
                f"learner must be an estimator instance, a fit(X, y) function or one of "
                f"{', '.join(map(repr, LEARNERS))}; got the class {spec.__name__}: pass an instance, "
                f"e.g. {spec.__name__}()"
            )
        if callable(getattr(spec, "fit", None)) and _has_scores(spec):
            self.kind = "estimator"
            self.estimator = self._seeded(spec)
            self.fit_function = None
            self.name = self.name or type(spec).__name__
        elif callable(spec) and not hasattr(spec, "fit"):
            self.kind = "function"
            self.estimator = None
            self.fit_function = spec
            self.name = getattr(spec, "__qualname__", type(spec).__name__)
        else:
            missing = "fit" if not callable(getattr(spec, "fit", None)) else "predict_proba/decision_function/predict"
            raise TypeError(
                f"learner must be a scikit-learn style estimator (fit plus predict_proba, "
                f"decision_function or predict), a function fit(X, y) -> predictor, or one of "
                f"{', '.join(map(repr, LEARNERS))}; got {type(spec).__name__}, which has no {missing}"
            )
        if learner_id is not None and not isinstance(learner_id, str):
            raise TypeError(f"learner_id must be a str or None, got {type(learner_id).__name__}")
        self.learner_id = learner_id

    def _seeded(self, estimator: Any) -> Any:
        """A clone whose unset ``random_state`` parameters (nested ones too) are the seed: the same
        subset then always trains the same model."""
        est = clone(estimator)
        params = est.get_params(deep=True) if hasattr(est, "get_params") else {}
        unset = {k: self.seed for k, v in params.items() if k.split("__")[-1] == "random_state" and v is None}
        if unset:
            est.set_params(**unset)
        return est

    def fit(self, X: np.ndarray, y: np.ndarray) -> Any:
        """A predictor trained from scratch on ``(X, y)``."""
        if self.kind == "estimator":
            return clone(self.estimator).fit(X, y)
        predictor = self.fit_function(X, y)  # type: ignore[misc]
        if not (_has_scores(predictor) or callable(predictor)):
            raise TypeError(
                f"learner {self.name} returned {type(predictor).__name__}, which has no predict_proba, "
                "decision_function or predict and is not callable; fit(X, y) must return a predictor"
            )
        return predictor

    def identity(self) -> dict:
        """What determines the trained models: the estimator's type and every parameter, or the
        function's qualified name and source (or the caller's ``learner_id``)."""
        import sklearn

        if self.learner_id is not None:
            return {"learner_id": self.learner_id}
        if self.kind == "estimator":
            est = self.estimator
            params = est.get_params(deep=True) if hasattr(est, "get_params") else {}
            return {
                "estimator": f"{type(est).__module__}.{type(est).__qualname__}",
                "params": {k: repr(v) for k, v in sorted(params.items())},
                "sklearn": sklearn.__version__,
            }
        fn = self.fit_function
        try:
            source = inspect.getsource(fn)  # type: ignore[arg-type]
        except (OSError, TypeError):
            source = repr(fn)
        return {
            "function": f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', repr(fn))}",
            "source": hashlib.sha256(source.encode()).hexdigest(),
        }

    def describe(self) -> dict:
        d: dict[str, Any] = {"learner": self.name, "kind": self.kind, "seed": self.seed}
        if self.kind == "estimator":
            d["estimator"] = repr(self.estimator)
        return d

    def __repr__(self) -> str:
        return f"Learner({self.name!r}, kind={self.kind!r}, seed={self.seed})"


def make_learner(learner: Any, seed: int, learner_id: str | None = None) -> Learner:
    """``learner=`` (a name, an estimator or a fit function) as a :class:`Learner`.

    Examples
    --------
    >>> from sklearn.tree import DecisionTreeClassifier
    >>> make_learner(DecisionTreeClassifier(), seed=3).estimator.random_state
    3
    >>> make_learner("logistic", seed=0).name
    'logistic'
    """
    if isinstance(learner, Learner):
        return learner
    return Learner(learner, seed, learner_id)


class PriorPredictor:
    """What a subset that cannot train a classifier predicts: class frequencies with add-one
    smoothing, ``p(c) = (count(c) + 1) / (m + K)`` over all K classes (uniform when empty).

    Used for every subset with fewer than two classes (the empty subset included), so the value
    function is defined on the whole cube.

    Examples
    --------
    >>> p = PriorPredictor(np.array([0, 1, 2]), np.array([2, 2, 2]))
    >>> p.predict_proba(np.zeros((1, 4))).round(3).tolist()
    [[0.167, 0.167, 0.667]]
    """

    def __init__(self, classes: np.ndarray, y: np.ndarray) -> None:
        self.classes_ = np.asarray(classes)
        counts = np.array([(np.asarray(y) == c).sum() for c in self.classes_], dtype=float)
        self.probabilities = (counts + 1.0) / (counts.sum() + len(self.classes_))

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        return np.tile(self.probabilities, (len(X), 1))

    def predict(self, X: np.ndarray) -> np.ndarray:
        return np.full(len(X), self.classes_[int(np.argmax(self.probabilities))])


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def class_probabilities(predictor: Any, X: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """``(len(X), K)`` probabilities over all ``classes`` from any fitted predictor.

    ``predict_proba`` is used when the predictor has it; else ``decision_function`` scores are
    taken as logits (softmax; a binary score ``s`` as logits ``(0, s)``); else ``predict`` gives
    one-hot rows. Columns follow ``predictor.classes_`` when it has one (classes it never saw get
    0), else they must be all K classes in sorted order.

    Examples
    --------
    >>> from sklearn.linear_model import LogisticRegression
    >>> clf = LogisticRegression().fit([[0.0], [1.0], [2.0]], [1, 2, 2])
    >>> class_probabilities(clf, np.array([[2.0]]), np.array([0, 1, 2]))[0, 0].item()
    0.0
    """
    if callable(getattr(predictor, "predict_proba", None)):
        P = np.asarray(predictor.predict_proba(X), dtype=float)
    elif callable(getattr(predictor, "decision_function", None)):
        S = np.asarray(predictor.decision_function(X), dtype=float)
        if S.ndim == 1:
            S = np.stack([np.zeros_like(S), S], axis=1)
        P = _softmax(S)
    elif callable(getattr(predictor, "predict", None)):
        pred = np.asarray(predictor.predict(X))
        own = np.asarray(getattr(predictor, "classes_", classes))
        P = (pred[:, None] == own[None, :]).astype(float)
    else:
        P = np.asarray(predictor(X), dtype=float)
    if P.ndim != 2 or P.shape[0] != len(X):
        raise ValueError(
            f"the learner's predictor gave probabilities of shape {P.shape} for {len(X)} test points; "
            f"expected ({len(X)}, number of classes)"
        )
    own = getattr(predictor, "classes_", None)
    if own is None:
        if P.shape[1] != len(classes):
            raise ValueError(
                f"the learner's predictor gave {P.shape[1]} probability columns and has no classes_ "
                f"attribute; expected one column per class of the training data ({len(classes)})"
            )
        return P
    own = np.asarray(own)
    if P.shape[1] != len(own):
        raise ValueError(
            f"the learner's predictor gave {P.shape[1]} probability columns for {len(own)} classes_"
        )
    if not np.isin(own, classes).all():
        extra = own[~np.isin(own, classes)][0]
        raise ValueError(f"the learner's predictor has a class {extra!r} that is not in the training labels")
    out = np.zeros((len(X), len(classes)))
    pos = np.searchsorted(classes, own)
    out[:, pos] = P
    return out


# ----------------------------------------------------------------------------------- PyTorch
Architecture = Literal["mlp", "cnn"]


class TorchClassifier(ClassifierMixin, BaseEstimator):
    """A small PyTorch classifier trained full-batch with Adam for a fixed number of epochs.

    Training is seeded (the initial weights come from ``random_state`` through a forked torch RNG,
    so the global torch RNG is left alone) and runs on ``n_threads`` CPU threads, so the same data
    always gives the same model. torch is imported only in :meth:`fit`; it is an optional
    dependency (``pip install torch``).

    Parameters
    ----------
    architecture : {"mlp", "cnn"}
        ``"mlp"``: one hidden layer of ``hidden`` ReLU units. ``"cnn"``: one 3×3 convolution with
        ``hidden`` channels, ReLU and 2×2 max-pooling over images of ``image_shape``, then a linear
        layer (for image data such as the 8×8 digits).
    hidden : int
        Hidden units (mlp) or channels (cnn).
    epochs : int
        Full-batch Adam steps.
    lr, weight_decay : float
        Adam's learning rate and L2 penalty.
    image_shape : (int, int), optional
        Height and width of the images a row holds (cnn only).
    random_state : int or None
        Seed of the initial weights (None: 0).
    n_threads : int
        CPU threads torch may use while training and predicting.

    Examples
    --------
    >>> clf = TorchClassifier(epochs=50).fit(np.array([[0.0, 1], [1, 0], [0, 0.9], [0.8, 0]]), [0, 1, 0, 1])  # doctest: +SKIP
    >>> clf.predict(np.array([[0.0, 1.0]])).tolist()  # doctest: +SKIP
    [0]
    """

    def __init__(
        self,
        *,
        architecture: Architecture = "mlp",
        hidden: int = 32,
        epochs: int = 60,
        lr: float = 0.02,
        weight_decay: float = 1e-4,
        image_shape: tuple[int, int] | None = None,
        random_state: int | None = None,
        n_threads: int = 1,
    ) -> None:
        self.architecture = architecture
        self.hidden = hidden
        self.epochs = epochs
        self.lr = lr
        self.weight_decay = weight_decay
        self.image_shape = image_shape
        self.random_state = random_state
        self.n_threads = n_threads

    def _torch(self) -> Any:
        try:
            import torch
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise ImportError("learner='torch' needs PyTorch: pip install torch") from exc
        return torch

    def _network(self, torch: Any, d: int, k: int) -> Any:
        nn = torch.nn
        if self.architecture == "mlp":
            return nn.Sequential(nn.Linear(d, self.hidden), nn.ReLU(), nn.Linear(self.hidden, k))
        if self.architecture != "cnn":
            raise ValueError(f"architecture={self.architecture!r} is not supported; accepted values: 'mlp', 'cnn'")
        if self.image_shape is None or int(np.prod(self.image_shape)) != d:
            raise ValueError(
                f"architecture='cnn' needs image_shape=(height, width) with height*width = {d} "
                f"(the number of columns), got image_shape={self.image_shape!r}"
            )
        h, w = (int(v) for v in self.image_shape)
        return nn.Sequential(
            nn.Unflatten(1, (1, h, w)),
            nn.Conv2d(1, self.hidden, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(self.hidden * (h // 2) * (w // 2), k),
        )

    def fit(self, X: Any, y: Any) -> TorchClassifier:
        torch = self._torch()
        X = np.asarray(X, dtype=np.float32)
        y = np.asarray(y)
        self.classes_ = np.unique(y)
        target = torch.as_tensor(np.searchsorted(self.classes_, y), dtype=torch.long)
        inputs = torch.as_tensor(X)
        threads = torch.get_num_threads()
        torch.set_num_threads(int(self.n_threads))
        try:
            # fork_rng keeps the caller's global torch RNG untouched while we seed ours.
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(0 if self.random_state is None else int(self.random_state))
                net = self._network(torch, X.shape[1], len(self.classes_))
            opt = torch.optim.Adam(net.parameters(), lr=self.lr, weight_decay=self.weight_decay)
            loss_fn = torch.nn.CrossEntropyLoss()
            for _ in range(int(self.epochs)):
                opt.zero_grad()
                loss = loss_fn(net(inputs), target)
                loss.backward()
                opt.step()
        finally:
            torch.set_num_threads(threads)
        self.network_ = net.eval()
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        torch = self._torch()
        threads = torch.get_num_threads()
        torch.set_num_threads(int(self.n_threads))
        try:
            with torch.no_grad():
                logits = self.network_(torch.as_tensor(np.asarray(X, dtype=np.float32)))
                return torch.softmax(logits, dim=1).double().numpy()
        finally:
            torch.set_num_threads(threads)

    def predict(self, X: Any) -> np.ndarray:
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]


FitFunction = Callable[[np.ndarray, np.ndarray], Any]
