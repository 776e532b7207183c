"""``explain_data``: explain a prediction by the training examples (and their combinations) behind it."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from interspect.applications.training_data.datasets import DATASETS, load_case, pick_test_point
from interspect.applications.training_data.value import TrainingDataValueFunction
from interspect.engines.registry import DEFAULT_MAX_DEGREE, DEFAULT_N_TEST, DEFAULT_SEED
from interspect.interface.explain import Method, explain, validate_common
from interspect.interface.explanation import Explanation
from interspect.queries.cache import QueryCache
from interspect.queries.executors import Executor, ProcessExecutor
from interspect.queries.progress import ProgressArg

__all__ = ["explain_data", "DEFAULT_N_GROUPS"]

#: Clusters of ``groups="kmeans"`` when ``n_groups`` is not given (at most a quarter of the data).
DEFAULT_N_GROUPS = 64
#: Thumbnails kept per group in the metadata (the report shows them).
THUMBNAILS_PER_GROUP = 4
#: Member indices kept per group in the metadata.
MEMBERS_KEPT = 200


def _pixels(X: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Rows of X as 0..255 grey levels, ``lo`` -> 0 and ``hi`` -> 255 (clipped)."""
    scale = 255.0 / (hi - lo) if hi > lo else 0.0
    return np.round(np.clip((X - lo) * scale, 0.0, 255.0)).astype(np.uint8)


def _check_image_shape(image_shape: Any, d: int) -> tuple[int, int] | None:
    if image_shape is None:
        return None
    try:
        h, w = (int(v) for v in image_shape)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"image_shape must be (height, width), got {image_shape!r}") from exc
    if h * w != d or h < 1 or w < 1:
        raise ValueError(f"image_shape={image_shape!r} does not fit the {d} input features per example (height*width must be {d})")
    return h, w


def _describe_output(output: Any, label: str, n_points: int) -> str:
    where = "the test point" if n_points == 1 else f"the mean over {n_points} test points"
    if callable(output):
        return f"{getattr(output, '__qualname__', 'a callable')} of the retrained model at {where}"
    text = {
        "margin": f"true-class margin log p({label}) − max other log p",
        "logloss": f"log-loss −log p({label})",
        "probability": f"probability p({label})",
    }[output]
    return f"{text} of the retrained model at {where}"


def _group_meta(vf: TrainingDataValueFunction, pixels: np.ndarray | None) -> list[dict]:
    names = vf.class_names or [str(c) for c in vf.classes]
    out = []
    for label, members in zip(vf.grouping.labels, vf.grouping.members):
        vals, counts = np.unique(vf.y_train[members], return_counts=True)
        entry: dict[str, Any] = {
            "label": label,
            "size": int(len(members)),
            "members": [int(i) for i in members[:MEMBERS_KEPT]],
            "classes": {names[int(np.searchsorted(vf.classes, c))]: int(k) for c, k in zip(vals, counts)},
        }
        if pixels is not None:
            # Thumbnails of evenly spread members, and the group's mean image.
            pick = members[np.linspace(0, len(members) - 1, min(THUMBNAILS_PER_GROUP, len(members))).astype(int)]
            entry["thumbnails"] = [pixels[i].tolist() for i in pick]
            entry["mean"] = np.round(pixels[members].mean(axis=0)).astype(int).tolist()
        out.append(entry)
    return out


def explain_data(
    X_train: Any = None,
    y_train: Any = None,
    X_test: Any = None,
    y_test: Any = None,
    *,
    dataset: str = "digits",
    test_point: str | int = "borderline",
    learner: Any = "logistic",
    groups: Any = "kmeans",
    n_groups: int | None = None,
    duplicate_threshold: float | None = None,
    group_labels: Sequence[str] | None = None,
    class_names: Sequence[str] | None = None,
    image_shape: tuple[int, int] | None = None,
    output: str | Callable[..., Any] = "margin",
    min_probability: float = 1e-6,
    method: Method = "auto",
    budget: int | None = None,
    max_degree: int = DEFAULT_MAX_DEGREE,
    index: str = "FBII",
    order: int = 2,
    seed: int = DEFAULT_SEED,
    n_test: int = DEFAULT_N_TEST,
    progress: ProgressArg = False,
    cache: str | Path | QueryCache | None = None,
    executor: str | Executor | None = None,
    n_jobs: int | None = None,
    learner_id: str | None = None,
) -> Explanation:
    """Explain a model's output at a test point by the training examples, or groups, it was trained on.

    Each query retrains the model from scratch on a subset of the training data (seeded, so the
    same subset always gives the same output); the interactions say which examples work
    together — e.g. near-duplicates that substitute for each other show a negative pairwise
    interaction that no per-example score can show.

    Parameters
    ----------
    X_train, y_train, X_test, y_test : array-like, optional
        Your data: training inputs and labels, and one test point (or several: their mean output
        is explained) with its label. Leave all four out to use a bundled ``dataset``.
    dataset : {"digits", "breast_cancer", "iris", "wine"}
        The bundled case used when no arrays are given (default: the 8×8 digits).
    test_point : "borderline", "misclassified" or int
        Which test point of the bundled case: the one whose true-class margin under the model
        trained on all data is smallest in size, the most borderline misclassified one, or an
        index into the test split.
    learner : "logistic", "svm", "torch", estimator or callable
        Retrained on every subset; see :mod:`interspect.applications.training_data.learners`.
    groups : "kmeans", "class", "examples", "duplicates", ids or index lists
        What one feature is; ``"kmeans"`` makes ``n_groups`` clusters (default
        ``min(64, examples // 4)``). See :mod:`interspect.applications.training_data.groups`.
    n_groups, duplicate_threshold, group_labels
        Options of the grouping.
    class_names : list of str, optional
        Names of the classes in sorted label order.
    image_shape : (int, int), optional
        Rows are images of this shape: the report draws training examples as thumbnails.
    output : {"margin", "logloss", "probability"} or callable
        What is read off each retrained model (see
        :class:`~interspect.applications.training_data.TrainingDataValueFunction`).
    min_probability : float
        Floor of a probability under a logarithm.
    method, budget, max_degree, index, order, seed, n_test, progress
        As in :func:`interspect.explain`; ``seed`` also seeds the learner and the clustering.
    cache : str, Path or QueryCache, optional
        SQLite file keeping every retrain's output; a rerun (or a resumed one) reuses them.
    executor : "serial", "process" or executor, optional
        Where retrains run (see :mod:`interspect.queries.executors`).
    n_jobs : int, optional
        Shorthand for ``executor=ProcessExecutor(n_jobs)`` (retrains in ``n_jobs`` processes).
    learner_id : str, optional
        Names a callable learner in the cache identity.

    Returns
    -------
    Explanation
        ``metadata["application"] == "training_data"``; ``metadata["training_data"]`` holds the
        test point and every group (label, size, class counts, thumbnails) for the report.

    Examples
    --------
    >>> from interspect import explain_data
    >>> e = explain_data(dataset="iris", groups="class", method="exact", n_test=0)
    >>> e.n, e.features
    (3, ['class setosa (35 ex.)', 'class versicolor (35 ex.)', 'class virginica (35 ex.)'])
    >>> e.metadata["training_data"]["test_point"]["label"]
    'virginica'
    """
    validate_common(method, budget, max_degree, index, order, n_test)
    if n_jobs is not None and executor is not None:
        raise ValueError("give executor= or n_jobs=, not both (n_jobs=N means executor=ProcessExecutor(N))")
    arrays = (X_train, y_train, X_test, y_test)
    pixels = None
    if all(a is None for a in arrays):
        if dataset not in DATASETS:
            raise ValueError(f"dataset={dataset!r} is not supported; accepted values: {', '.join(map(repr, DATASETS))}")
        if image_shape is not None or class_names is not None:
            raise ValueError(f"image_shape and class_names come with dataset={dataset!r}; give them only with your own arrays")
        case = load_case(dataset, seed=seed)
        i, info = pick_test_point(case, learner, which=test_point, seed=seed)
        X_train, y_train = case.X_train, case.y_train
        X_test, y_test = case.X_test[i], case.y_test[i]
        class_names, image_shape, pixels = case.class_names, case.image_shape, case.pixels_train
        test_meta: dict[str, Any] = {"index": i, **info, "dataset_row": int(case.test_index[i])}
        if case.pixels_test is not None:
            test_meta["pixels"] = case.pixels_test[i].tolist()
        else:
            test_meta["values"] = {f: round(float(v), 4) for f, v in zip(case.feature_names, X_test)}
            test_meta["values_note"] = "inputs, standardised with the training split's mean and standard deviation"
        source = dataset
    elif any(a is None for a in arrays):
        missing = [n for n, a in zip(("X_train", "y_train", "X_test", "y_test"), arrays) if a is None]
        raise ValueError(
            f"give all of X_train, y_train, X_test, y_test (missing: {', '.join(missing)}), or none of "
            "them to use a bundled dataset"
        )
    else:
        if test_point != "borderline":
            raise ValueError("test_point picks a test point of a bundled dataset; with your own arrays pass X_test, y_test")
        source = "given"
        test_meta = {}
    if groups == "kmeans" and n_groups is None:
        n_groups = int(min(DEFAULT_N_GROUPS, max(2, len(np.asarray(y_train)) // 4)))
    vf = TrainingDataValueFunction(
        X_train, y_train, X_test, y_test, learner=learner, groups=groups, n_groups=n_groups,
        duplicate_threshold=duplicate_threshold, group_labels=group_labels, class_names=class_names,
        output=output, seed=seed, min_probability=min_probability, learner_id=learner_id,
    )
    image_shape = _check_image_shape(image_shape, vf.X_train.shape[1])
    if image_shape is not None and pixels is None:
        # One grey scale for training and test images: the training inputs' range.
        lo, hi = float(vf.X_train.min()), float(vf.X_train.max())
        pixels = _pixels(vf.X_train, lo, hi)
        test_meta["pixels"] = _pixels(vf.X_test[0], lo, hi).tolist()
    names = vf.class_names or [str(c) for c in vf.classes]
    label = names[int(np.searchsorted(vf.classes, vf.y_test[0]))]
    test_meta.setdefault("label", label)
    test_meta["n_points"] = int(len(vf.y_test))
    meta = {
        "application": "training_data",
        "output": _describe_output(vf.output, label if len(vf.y_test) == 1 else "y", len(vf.y_test)),
        "model": f"{vf.learner.name} retrained on each subset",
        "dataset": source,
        "value_function": vf.describe(),
        "training_data": {
            "test_point": test_meta,
            "image_shape": list(image_shape) if image_shape is not None else None,
            "grouping": vf.grouping.describe(),
            "groups": _group_meta(vf, pixels),
        },
    }
    own = ProcessExecutor(n_jobs) if n_jobs is not None else None
    try:
        return explain(
            vf, vf.n, features=vf.grouping.labels, method=method, budget=budget,
            max_degree=max_degree, index=index, order=order, seed=seed, n_test=n_test,
            progress=progress, cache=cache, executor=own if own is not None else executor, metadata=meta,
        )
    finally:
        if own is not None:
            own.close()
