"""Bundled cases that run offline: scikit-learn's own data sets (no download).

- ``"digits"``: 1,797 handwritten digits, 8×8 grey images (``load_digits``), pixels scaled to
  [0, 1]; the default case of :func:`interspect.explain_data`.
- ``"breast_cancer"`` (569 × 30), ``"iris"`` (150 × 4), ``"wine"`` (178 × 13): tabular data,
  each input column standardised with the training split's mean and standard deviation.

Each case is split once, stratified and seeded, into a training and a test part (70/30).
:func:`pick_test_point` chooses the test point to explain: the most borderline one (smallest
absolute true-class margin of the model trained on all the training data), or the most
borderline misclassified one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

__all__ = ["DATASETS", "DataCase", "load_case", "pick_test_point"]

#: Names accepted by ``dataset=``.
DATASETS = ("digits", "breast_cancer", "iris", "wine")

TestPoint = Literal["borderline", "misclassified"] | int


@dataclass
class DataCase:
    """A bundled data set split into training and test parts.

    Attributes
    ----------
    name : str
    X_train, y_train, X_test, y_test : arrays
    class_names : list of str
    feature_names : list of str
    image_shape : (int, int) or None
        Height and width when rows are images (digits).
    pixels_train, pixels_test : uint8 arrays or None
        The images as 0–255 grey levels (for thumbnails).
    train_index, test_index : int arrays
        Row numbers in the original data set.
    """

    name: str
    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    class_names: list[str]
    feature_names: list[str]
    image_shape: tuple[int, int] | None = None
    pixels_train: np.ndarray | None = None
    pixels_test: np.ndarray | None = None
    train_index: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    test_index: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))


def load_case(name: str = "digits", *, seed: int = 0, test_size: float = 0.3) -> DataCase:
    """A bundled data set, split stratified with ``seed``.

    Examples
    --------
    >>> case = load_case("digits")
    >>> case.X_train.shape, case.X_test.shape, case.image_shape
    ((1257, 64), (540, 64), (8, 8))
    >>> load_case("iris").class_names
    ['setosa', 'versicolor', 'virginica']
    """
    from sklearn import datasets
    from sklearn.model_selection import train_test_split

    from interspect.core.validation import check_choice

    check_choice(name, "dataset", DATASETS)
    if not (isinstance(test_size, float) and 0.0 < test_size < 1.0):
        raise ValueError(f"test_size must be a float in (0, 1), got {test_size!r}")
    bunch = getattr(datasets, f"load_{name}")()
    X = np.asarray(bunch.data, dtype=float)
    y = np.asarray(bunch.target)
    rows = np.arange(len(y))
    tr, te = train_test_split(rows, test_size=test_size, stratify=y, random_state=seed)
    tr, te = np.sort(tr), np.sort(te)
    class_names = [str(c) for c in getattr(bunch, "target_names", np.unique(y))]
    feature_names = [str(f) for f in getattr(bunch, "feature_names", [f"x{i}" for i in range(X.shape[1])])]
    if name == "digits":
        # Grey levels 0..16: pixels in [0, 1] for the learner, 0..255 for thumbnails.
        pixels = np.round(X * (255 / 16)).astype(np.uint8)
        return DataCase(
            name, X[tr] / 16.0, y[tr], X[te] / 16.0, y[te], class_names, feature_names,
            image_shape=(8, 8), pixels_train=pixels[tr], pixels_test=pixels[te],
            train_index=tr, test_index=te,
        )
    mean, std = X[tr].mean(axis=0), X[tr].std(axis=0)
    std[std == 0] = 1.0
    Z = (X - mean) / std
    return DataCase(name, Z[tr], y[tr], Z[te], y[te], class_names, feature_names, train_index=tr, test_index=te)


def _margins(predictor: Any, X: np.ndarray, y: np.ndarray, classes: np.ndarray) -> np.ndarray:
    from interspect.applications.training_data.learners import class_probabilities

    logp = np.log(np.maximum(class_probabilities(predictor, X, classes), 1e-6))
    rows = np.arange(len(y))
    true = np.searchsorted(classes, y)
    others = logp.copy()
    others[rows, true] = -np.inf
    return logp[rows, true] - others.max(axis=1)


def pick_test_point(case: DataCase, learner: Any = "logistic", *, which: TestPoint = "borderline", seed: int = 0) -> tuple[int, dict]:
    """The test point to explain and what the model trained on all training data says about it.

    ``which``: ``"borderline"`` — the test point with the smallest ``|margin|``;
    ``"misclassified"`` — the misclassified one with the smallest ``|margin|`` (the borderline one
    if none is misclassified); an int — that test point. Returns ``(index, info)`` with the full
    model's margin and predicted class.

    Examples
    --------
    >>> i, info = pick_test_point(load_case("iris"))
    >>> sorted(info)
    ['how', 'label', 'margin', 'predicted']
    """
    from threadpoolctl import threadpool_limits

    from interspect.applications.training_data.learners import make_learner

    lrn = make_learner(learner, seed)
    with threadpool_limits(limits=1):
        model = lrn.fit(case.X_train, case.y_train)
    classes = np.unique(case.y_train)
    margins = _margins(model, case.X_test, case.y_test, classes)
    how = which
    if isinstance(which, (int, np.integer)) and not isinstance(which, bool):
        if not 0 <= which < len(case.y_test):
            raise ValueError(f"test_point={which} is out of range: the {case.name} test split has {len(case.y_test)} points")
        i = int(which)
        how = "given"
    elif which == "borderline":
        i = int(np.argmin(np.abs(margins)))
    elif which == "misclassified":
        wrong = np.flatnonzero(margins < 0)
        if wrong.size:
            i = int(wrong[np.argmin(np.abs(margins[wrong]))])
        else:
            i, how = int(np.argmin(np.abs(margins))), "borderline (none misclassified)"
    else:
        raise ValueError(
            f"test_point={which!r} is not supported; accepted values: 'borderline', 'misclassified' "
            "or the index of a test point"
        )
    pred = model.predict(case.X_test[i : i + 1])[0] if hasattr(model, "predict") else classes[0]
    names = case.class_names

    def name(c: Any) -> str:
        return names[int(np.searchsorted(classes, c))]

    return i, {"how": how, "margin": float(margins[i]), "label": name(case.y_test[i]), "predicted": name(pred)}
