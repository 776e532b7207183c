"""Features over training data: single examples, or groups of them, each with a label.

``groups=`` is one of

- ``"examples"``: every training example is a feature (``n`` = number of examples);
- ``"class"``: one group per class;
- ``"kmeans"``: ``n_groups`` k-means clusters of the training inputs (seeded);
- ``"duplicates"``: near-duplicate groups — examples closer than ``duplicate_threshold``
  (Euclidean; default 10% of the median distance to an example's nearest neighbour) are joined,
  transitively; every other example stays a feature of its own. Grouping substitutes makes their
  joint effect one feature's effect;
- a group id per training example (ints or strings; a group's label is its id);
- a list of index lists that partitions the training set (each example in exactly one group).

A feature that is removed removes all of its group's examples from the training set.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from interspect.queries.cache import identity_hash

__all__ = ["GROUPINGS", "Grouping", "make_groups"]

#: Named groupings accepted by ``groups=``.
GROUPINGS = ("examples", "class", "kmeans", "duplicates")


@dataclass(frozen=True)
class Grouping:
    """A partition of the training set into labelled features.

    Attributes
    ----------
    members : list of int arrays
        The (sorted) training-example indices of each feature.
    labels : list of str
        One label per feature.
    kind : str
        ``"examples"``, ``"class"``, ``"kmeans"``, ``"duplicates"`` or ``"given"``.
    settings : dict
        The grouping's parameters (n_groups, threshold, seed), for the identity and reports.

    Examples
    --------
    >>> g = make_groups([[0, 2], [1]], np.zeros((3, 1)), np.array([0, 1, 0]))
    >>> g.n, g.labels, g.owner.tolist()
    (2, ['group 0', 'group 1'], [0, 1, 0])
    """

    members: list[np.ndarray]
    labels: list[str]
    kind: str
    settings: dict = field(default_factory=dict)

    @property
    def n(self) -> int:
        return len(self.members)

    @property
    def owner(self) -> np.ndarray:
        """The feature each training example belongs to."""
        total = sum(len(m) for m in self.members)
        out = np.empty(total, dtype=np.int64)
        for j, m in enumerate(self.members):
            out[m] = j
        return out

    def identity(self) -> dict:
        return {"kind": self.kind, "owner": identity_hash({"owner": self.owner.tolist()}), **self.settings}

    def describe(self) -> dict:
        sizes = [len(m) for m in self.members]
        return {"kind": self.kind, "n_groups": self.n, "smallest": min(sizes), "largest": max(sizes), **self.settings}


def _class_name(c: Any, class_names: Sequence[str] | None, classes: np.ndarray) -> str:
    if class_names is None:
        return str(c)
    return str(class_names[int(np.searchsorted(classes, c))])


def _partition(groups: Sequence[Any], m: int) -> list[np.ndarray]:
    seen = np.full(m, -1, dtype=np.int64)
    members = []
    for j, g in enumerate(groups):
        try:
            idx = np.asarray(list(g))
        except TypeError as exc:
            raise TypeError(f"groups[{j}] must be a sequence of training-example indices, got {type(g).__name__}") from exc
        if idx.size == 0:
            raise ValueError(f"groups[{j}] is empty; every group needs at least one training example")
        if not np.issubdtype(idx.dtype, np.integer):
            raise TypeError(f"groups[{j}] must hold integer example indices, got dtype {idx.dtype}")
        if idx.min() < 0 or idx.max() >= m:
            bad = int(idx[(idx < 0) | (idx >= m)][0])
            raise ValueError(f"groups[{j}] holds index {bad}, outside 0..{m - 1} (the training examples)")
        idx = np.unique(idx)
        taken = seen[idx] >= 0
        if taken.any():
            i = int(idx[taken][0])
            raise ValueError(
                f"groups overlap: training example {i} is in groups[{int(seen[i])}] and groups[{j}]; "
                "every training example must be in exactly one group"
            )
        seen[idx] = j
        members.append(idx)
    missing = np.flatnonzero(seen < 0)
    if missing.size:
        raise ValueError(
            f"groups do not cover the data: {missing.size} of {m} training examples are in no group "
            f"(e.g. example {int(missing[0])}); every training example must be in exactly one group"
        )
    return members


def _from_ids(ids: np.ndarray) -> tuple[list[np.ndarray], list[str]]:
    # Groups in order of first appearance, so the feature order follows the data.
    _, first, inverse = np.unique(ids, return_index=True, return_inverse=True)
    order = np.argsort(first)
    members = [np.flatnonzero(inverse == g) for g in order]
    labels = [str(ids[m[0]]) for m in members]
    return members, labels


def _kmeans(X: np.ndarray, n_groups: int, seed: int) -> list[np.ndarray]:
    from sklearn.cluster import KMeans
    from threadpoolctl import threadpool_limits

    # One thread: the clustering (and so the features) must not depend on the machine.
    with threadpool_limits(limits=1):
        assign = KMeans(n_clusters=n_groups, n_init=3, random_state=seed).fit_predict(X)
    members = [np.flatnonzero(assign == g) for g in np.unique(assign)]
    # A canonical order: by each cluster's first example.
    return sorted(members, key=lambda m: int(m[0]))


def _duplicates(X: np.ndarray, threshold: float | None) -> tuple[list[np.ndarray], float]:
    from scipy.sparse.csgraph import connected_components
    from sklearn.neighbors import NearestNeighbors

    nn = NearestNeighbors().fit(X)
    if threshold is None:
        dist, _ = nn.kneighbors(X, n_neighbors=min(2, len(X)))
        threshold = 0.1 * float(np.median(dist[:, -1]))
    graph = nn.radius_neighbors_graph(X, radius=threshold, mode="connectivity")
    _, assign = connected_components(graph, directed=False)
    members = [np.flatnonzero(assign == g) for g in np.unique(assign)]
    return sorted(members, key=lambda m: int(m[0])), float(threshold)


def make_groups(
    groups: Any,
    X: np.ndarray,
    y: np.ndarray,
    *,
    n_groups: int | None = None,
    duplicate_threshold: float | None = None,
    labels: Sequence[str] | None = None,
    class_names: Sequence[str] | None = None,
    seed: int = 0,
) -> Grouping:
    """The features over training data ``(X, y)`` that ``groups=`` describes (module docstring).

    ``labels`` replaces the made-up labels (one per group); ``class_names`` names classes in them.

    Examples
    --------
    >>> X = np.array([[0.0], [0.0], [5.0], [9.0]]); y = np.array([0, 0, 1, 1])
    >>> make_groups("class", X, y).labels
    ['class 0 (2 ex.)', 'class 1 (2 ex.)']
    >>> make_groups("duplicates", X, y, duplicate_threshold=0.5).labels
    ['#0 +1 near-duplicate (class 0)', '#2 (class 1)', '#3 (class 1)']
    """
    from interspect.core.validation import check_positive_int

    m = len(y)
    classes = np.unique(y)

    def cname(c: Any) -> str:
        return _class_name(c, class_names, classes)

    settings: dict[str, Any] = {}
    if isinstance(groups, str):
        if groups not in GROUPINGS:
            raise ValueError(
                f"groups={groups!r} is not supported; accepted values: {', '.join(map(repr, GROUPINGS))}, "
                "a group id per training example, or a list of index lists"
            )
        kind = groups
        if kind != "kmeans" and n_groups is not None:
            raise ValueError(f"n_groups is only used by groups='kmeans', not groups={kind!r}")
        if kind != "duplicates" and duplicate_threshold is not None:
            raise ValueError(f"duplicate_threshold is only used by groups='duplicates', not groups={kind!r}")
        if kind == "examples":
            members = [np.array([i]) for i in range(m)]
            made = [f"#{i} (class {cname(y[i])})" for i in range(m)]
        elif kind == "class":
            members = [np.flatnonzero(y == c) for c in classes]
            made = [f"class {cname(c)} ({len(g)} ex.)" for c, g in zip(classes, members)]
        elif kind == "kmeans":
            if n_groups is None:
                raise ValueError("groups='kmeans' needs n_groups=<number of clusters>, e.g. n_groups=64")
            n_groups = check_positive_int(n_groups, "n_groups", minimum=2)
            if n_groups > m:
                raise ValueError(f"n_groups={n_groups} is more than the {m} training examples")
            members = _kmeans(X, n_groups, seed)
            made = []
            for j, g in enumerate(members):
                vals, counts = np.unique(y[g], return_counts=True)
                top = int(np.argmax(counts))
                made.append(f"cluster {j}: {len(g)} ex., {counts[top] / len(g):.0%} class {cname(vals[top])}")
            settings = {"n_groups": n_groups, "seed": int(seed)}
        else:
            if duplicate_threshold is not None and not (
                isinstance(duplicate_threshold, (int, float)) and duplicate_threshold >= 0
            ):
                raise ValueError(f"duplicate_threshold must be a number >= 0 or None, got {duplicate_threshold!r}")
            members, threshold = _duplicates(X, duplicate_threshold)
            made = []
            for g in members:
                i = int(g[0])
                extra = f" +{len(g) - 1} near-duplicate{'s' if len(g) > 2 else ''}" if len(g) > 1 else ""
                made.append(f"#{i}{extra} (class {cname(y[i])})")
            settings = {"threshold": threshold}
    else:
        if n_groups is not None or duplicate_threshold is not None:
            raise ValueError("n_groups and duplicate_threshold are only used with groups='kmeans' / 'duplicates'")
        kind = "given"
        if isinstance(groups, np.ndarray) and groups.ndim == 1 and groups.dtype != object or (
            isinstance(groups, (list, tuple)) and groups and all(isinstance(g, (int, np.integer, str)) for g in groups)
        ):
            ids = np.asarray(groups)
            if ids.shape != (m,):
                raise ValueError(
                    f"groups as one group id per training example must have length {m}, got {ids.shape[0]}"
                )
            if ids.dtype.kind == "f" and not np.isfinite(ids).all():
                raise ValueError("groups do not cover the data: some group ids are NaN; give every example an id")
            members, made = _from_ids(ids)
        elif isinstance(groups, Sequence) and not isinstance(groups, (bytes, bytearray)) and len(groups):
            members = _partition(groups, m)
            made = [f"group {j}" for j in range(len(members))]
        else:
            raise TypeError(
                f"groups must be one of {', '.join(map(repr, GROUPINGS))}, a group id per training example, "
                f"or a list of index lists; got {type(groups).__name__}"
            )
    if labels is not None:
        labels = [str(v) for v in labels]
        if len(labels) != len(members):
            raise ValueError(f"group_labels has {len(labels)} entries for {len(members)} groups")
        made = labels
    if len(members) < 1:
        raise ValueError("the grouping has no groups")
    return Grouping(members=[np.asarray(g, dtype=np.int64) for g in members], labels=made, kind=kind, settings=settings)
