"""Exact Fourier spectrum of a tree ensemble (SPEC §4.3).

A leaf reached by the path ``x_{j_1} = b_1, …, x_{j_d} = b_d`` is the indicator
``Π_i [x_{j_i} = b_i] = Π_i (1 + s_i (−1)^{x_{j_i}}) / 2`` with ``s_i = (−1)^{b_i}``, so a leaf of value
``v`` adds ``v · 2^{−d} · Π_{i∈T} s_i`` to the coefficient of every subset ``T`` of its path. This is
the same result as the recursive merge ``F(T) = (F_L(T)+F_R(T))/2``, ``F(T∪{j}) = (F_L(T)−F_R(T))/2``,
but it can be done for all leaves of all trees at once with numpy: the leaves are grouped by path
length, every subset pattern is one vectorised step, and duplicate keys are merged by sorting
integer codes instead of merging Python dicts tree by tree.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from interspect.core.spectrum import Spectrum
from interspect.core.validation import check_n

__all__ = ["tree_spectrum", "TreeEnsemble", "KeyTable", "ensemble_from_model"]

_LGB_ZERO = 1e-35  # LightGBM's kZeroThreshold: |x| below it counts as zero for zero-as-missing


@dataclass
class _Tree:
    """One binary tree on 0/1 features.

    Internal node ``i`` splits on ``feature[i]``; ``child0[i]``/``child1[i]`` is where ``x = 0``/``x = 1``
    goes: an internal node index ``>= 0`` or ``~leaf`` (``< 0``). A tree without splits is one leaf.
    """

    feature: np.ndarray
    child0: np.ndarray
    child1: np.ndarray
    leaf_value: np.ndarray


class TreeEnsemble:
    """A sum of trees, ``f(x) = offset + scale · Σ_t tree_t(x)``, stored as flat arrays.

    Internal nodes of all trees share the arrays ``feature``, ``child0``, ``child1`` (where ``x = 0``
    and ``x = 1`` go: an internal node index ``>= 0`` or ``~leaf``); ``leaf_value`` holds every leaf;
    ``roots[t]`` is tree t's root in the same encoding. Flat arrays let every tree be walked at
    once, level by level.
    """

    def __init__(self, feature: np.ndarray, child0: np.ndarray, child1: np.ndarray, leaf_value: np.ndarray, roots: np.ndarray, offset: float = 0.0, scale: float = 1.0, meta: dict[str, Any] | None = None) -> None:
        self.feature = np.asarray(feature, dtype=np.int64)
        self.child0 = np.asarray(child0, dtype=np.int64)
        self.child1 = np.asarray(child1, dtype=np.int64)
        self.leaf_value = np.asarray(leaf_value, dtype=float)
        self.roots = np.asarray(roots, dtype=np.int64)
        self.offset = float(offset)
        self.scale = float(scale)
        self.meta = dict(meta or {})

    @classmethod
    def from_trees(cls, trees: list[_Tree], offset: float = 0.0, scale: float = 1.0, meta: dict[str, Any] | None = None) -> TreeEnsemble:
        n_int = np.array([len(t.feature) for t in trees], dtype=np.int64)
        n_leaf = np.array([len(t.leaf_value) for t in trees], dtype=np.int64)
        oi = np.concatenate([[0], np.cumsum(n_int)[:-1]]) if len(trees) else np.zeros(0, np.int64)
        ol = np.concatenate([[0], np.cumsum(n_leaf)[:-1]]) if len(trees) else np.zeros(0, np.int64)

        def shift(c: np.ndarray, a: int, b: int) -> np.ndarray:
            return np.where(c >= 0, c + a, ~(~c + b))

        cat = np.concatenate
        empty = np.zeros(0, np.int64)
        feature = cat([t.feature for t in trees] or [empty])
        child0 = cat([shift(t.child0, a, b) for t, a, b in zip(trees, oi, ol)] or [empty])
        child1 = cat([shift(t.child1, a, b) for t, a, b in zip(trees, oi, ol)] or [empty])
        leaf_value = cat([t.leaf_value for t in trees] or [np.zeros(0)])
        roots = np.where(n_int > 0, oi, ~ol)
        return cls(feature, child0, child1, leaf_value, roots, offset, scale, meta)

    @property
    def n_trees(self) -> int:
        return len(self.roots)

    def remap(self, features: np.ndarray) -> TreeEnsemble:
        """Map feature indices through ``features`` (for trees fitted on a column subset)."""
        features = np.asarray(features, dtype=np.int64)
        return TreeEnsemble(features[self.feature], self.child0, self.child1, self.leaf_value, self.roots, self.offset, self.scale, self.meta)

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Evaluate on 0/1 masks by walking all trees at once (for checks)."""
        X = np.asarray(X)
        m = X.shape[0]
        node = np.broadcast_to(self.roots, (m, self.n_trees)).copy()
        rows = np.broadcast_to(np.arange(m)[:, None], node.shape)
        while True:
            inner = node >= 0
            if not inner.any():
                break
            nd = node[inner]
            bit = X[rows[inner], self.feature[nd]].astype(bool)
            node[inner] = np.where(bit, self.child1[nd], self.child0[nd])
        return self.offset + self.scale * self.leaf_value[~node].sum(axis=1)


# ---------------------------------------------------------------------------------------- parsers
def _fields(text: str, names: tuple[str, ...]) -> dict[str, list[str]]:
    """The values of ``name=...`` lines, per name, in order (one pass over the lines)."""
    out: dict[str, list[str]] = {name: [] for name in names}
    for line in text.split("\n"):
        name, sep, value = line.partition("=")
        if sep and name in out:
            out[name].append(value)
    return out


def _numbers(parts: list[str], dtype: type) -> np.ndarray:
    return np.array(" ".join(parts).split(), dtype=dtype) if parts else np.zeros(0, dtype=dtype)


def _lightgbm_ensemble(booster: Any) -> TreeEnsemble:
    """Parse ``Booster.model_to_string()``: flat per-tree arrays, parsed for all trees at once."""
    text = booster.model_to_string()
    head, sep, body = text.partition("\nTree=")
    body = body.split("\nend of trees")[0]
    average = "average_output" in head.split("\n")
    f = _fields(body, ("num_leaves", "num_cat", "is_linear", "split_feature", "threshold", "decision_type", "left_child", "right_child", "leaf_value"))
    if any(int(c) > 0 for c in f["num_cat"]):
        raise ValueError("tree_spectrum: LightGBM models with categorical splits are not supported (0/1 masks are numerical)")
    if any(v.strip() not in ("0", "") for v in f["is_linear"]):
        raise ValueError("tree_spectrum: LightGBM linear trees (linear_tree=True) are not supported")
    n_leaves = np.array(f["num_leaves"], dtype=np.int64)
    n_int = np.where(n_leaves > 1, n_leaves - 1, 0)  # trees without splits have no split lines
    feature = _numbers(f["split_feature"], np.int64)
    threshold = _numbers(f["threshold"], float)
    dtype = _numbers(f["decision_type"], np.int64)
    left = _numbers(f["left_child"], np.int64)
    right = _numbers(f["right_child"], np.int64)
    leaf_value = _numbers(f["leaf_value"], float)
    if not (len(feature) == len(threshold) == len(left) == int(n_int.sum()) and len(leaf_value) == int(n_leaves.sum())):
        raise ValueError("tree_spectrum: could not parse the LightGBM model text")
    # Per-tree indices -> global ones.
    oi = np.repeat(np.concatenate([[0], np.cumsum(n_int)[:-1]]), n_int)
    ol = np.repeat(np.concatenate([[0], np.cumsum(n_leaves)[:-1]]), n_int)
    left = np.where(left >= 0, left + oi, ~(~left + ol))
    right = np.where(right >= 0, right + oi, ~(~right + ol))
    default_left = (dtype & 2) > 0
    missing_zero = ((dtype >> 2) & 3) == 1
    # Numerical split: go left iff x <= threshold, except zero-as-missing sends 0 the default way.
    zero_left = np.where(missing_zero, default_left, 0.0 <= threshold)
    one_left = 1.0 <= threshold
    roots = np.where(n_int > 0, np.concatenate([[0], np.cumsum(n_int)[:-1]]), ~np.concatenate([[0], np.cumsum(n_leaves)[:-1]]))
    scale = 1.0 / max(len(n_leaves), 1) if average else 1.0
    return TreeEnsemble(feature, np.where(zero_left, left, right), np.where(one_left, left, right), leaf_value, roots, 0.0, scale, {"backend": "lightgbm"})


def _xgboost_ensemble(booster: Any) -> TreeEnsemble:
    config = json.loads(booster.save_config())
    learner = config["learner"]
    objective = learner.get("objective", {}).get("name", "reg:squarederror")
    if objective not in ("reg:squarederror", "reg:absoluteerror", "reg:pseudohubererror", "reg:quantileerror"):
        raise ValueError(f"tree_spectrum: an XGBoost model must have an identity link (e.g. reg:squarederror), got objective {objective!r}")
    booster_type = learner.get("gradient_booster", {}).get("name", "gbtree")
    if booster_type != "gbtree":
        raise ValueError(f"tree_spectrum: only XGBoost gbtree models are supported, got booster {booster_type!r}")
    base = str(learner["learner_model_param"]["base_score"]).strip("[]").split(",")[0]
    names = booster.feature_names
    name_index = {nm: i for i, nm in enumerate(names)} if names else {}
    trees: list[_Tree] = []
    for dump in booster.get_dump(dump_format="json"):
        root = json.loads(dump)
        nodes: dict[int, dict[str, Any]] = {}
        stack = [root]
        while stack:
            nd = stack.pop()
            nodes[int(nd["nodeid"])] = nd
            stack.extend(nd.get("children", []))
        internal = sorted(i for i, nd in nodes.items() if "leaf" not in nd)
        leaves = sorted(i for i, nd in nodes.items() if "leaf" in nd)
        if not internal:
            trees.append(_Tree(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.int64), np.array([float(nodes[leaves[0]]["leaf"])])))
            continue
        # Root first so that internal node 0 is the root.
        internal.remove(int(root["nodeid"]))
        internal.insert(0, int(root["nodeid"]))
        pos = {nid: i for i, nid in enumerate(internal)}
        pos.update({nid: ~i for i, nid in enumerate(leaves)})
        feature, c0, c1 = [], [], []
        for nid in internal:
            nd = nodes[nid]
            split = nd["split"]
            j = name_index[split] if split in name_index else int(str(split).lstrip("f"))
            thr = float(nd["split_condition"])
            # XGBoost sends x < split_condition to "yes"; NaN only to "missing" (never for masks).
            feature.append(j)
            c0.append(pos[int(nd["yes"] if 0.0 < thr else nd["no"])])
            c1.append(pos[int(nd["yes"] if 1.0 < thr else nd["no"])])
        trees.append(_Tree(np.array(feature, np.int64), np.array(c0, np.int64), np.array(c1, np.int64), np.array([float(nodes[i]["leaf"]) for i in leaves])))
    return TreeEnsemble.from_trees(trees, float(base), 1.0, {"backend": "xgboost"})


def _sklearn_tree(tree: Any) -> _Tree:
    t = tree.tree_
    left, right = t.children_left, t.children_right
    is_leaf = left < 0
    internal = np.flatnonzero(~is_leaf)
    leaves = np.flatnonzero(is_leaf)
    pos = np.empty(t.node_count, dtype=np.int64)
    pos[internal] = np.arange(len(internal))
    pos[leaves] = ~np.arange(len(leaves))
    value = np.asarray(t.value)[:, 0, 0]
    if len(internal) == 0:
        return _Tree(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.int64), value[leaves])
    thr = t.threshold[internal]
    l_, r_ = pos[left[internal]], pos[right[internal]]
    return _Tree(t.feature[internal].astype(np.int64), np.where(0.0 <= thr, l_, r_), np.where(1.0 <= thr, l_, r_), value[leaves])


def ensemble_from_model(model: Any) -> TreeEnsemble:
    """Read the trees of a fitted regressor into a :class:`TreeEnsemble`.

    Accepts ``lightgbm.Booster``/``LGBMRegressor``, ``xgboost.Booster``/``XGBRegressor`` and, for
    convenience, scikit-learn's ``DecisionTreeRegressor``, ``RandomForestRegressor``,
    ``ExtraTreesRegressor`` and ``GradientBoostingRegressor`` (default ``init``).
    """
    if isinstance(model, TreeEnsemble):
        return model
    mod = type(model).__module__.split(".")[0]
    name = type(model).__name__
    if mod == "lightgbm":
        booster = model if name == "Booster" else getattr(model, "booster_", None)
        if booster is None:
            raise ValueError(f"tree_spectrum: the {name} is not fitted yet")
        return _lightgbm_ensemble(booster)
    if mod == "xgboost":
        booster = model if name == "Booster" else model.get_booster()
        return _xgboost_ensemble(booster)
    if mod == "sklearn":
        if name in ("DecisionTreeRegressor", "ExtraTreeRegressor"):
            return TreeEnsemble.from_trees([_sklearn_tree(model)], meta={"backend": "sklearn"})
        if name in ("RandomForestRegressor", "ExtraTreesRegressor"):
            trees = [_sklearn_tree(e) for e in model.estimators_]
            return TreeEnsemble.from_trees(trees, 0.0, 1.0 / len(trees), {"backend": "sklearn"})
        if name == "GradientBoostingRegressor":
            init = model.init_
            if init == "zero":
                offset = 0.0
            elif type(init).__name__ == "DummyRegressor":
                offset = float(np.ravel(init.constant_)[0])
            else:
                raise ValueError("tree_spectrum: GradientBoostingRegressor with a custom init estimator is not supported")
            trees = [_sklearn_tree(e) for e in model.estimators_[:, 0]]
            return TreeEnsemble.from_trees(trees, offset, float(model.learning_rate), {"backend": "sklearn"})
    raise TypeError(
        f"tree_spectrum: unsupported model type {type(model).__module__}.{name}; expected a fitted "
        "lightgbm.LGBMRegressor/Booster, xgboost.XGBRegressor/Booster or a scikit-learn tree regressor"
    )


# ---------------------------------------------------------------------------------------- keys
class KeyTable:
    """Interaction keys as a padded ``(U, D)`` int array (sorted features, ``-1`` after) plus values.

    Keys also get int64 codes ``Σ_j (f_j + 1) · (n+1)^j`` when those fit, which makes sorting and
    subset look-ups fast; otherwise rows are compared directly.
    """

    def __init__(self, digits: np.ndarray, values: np.ndarray, n: int) -> None:
        self.digits = digits
        self.values = values
        self.n = n
        self.codes = _encode(digits, n)
        self._order: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.values)

    @property
    def degrees(self) -> np.ndarray:
        return (self.digits >= 0).sum(axis=1)

    def keys(self, idx: np.ndarray | None = None) -> list[tuple[int, ...]]:
        rows = self.digits if idx is None else self.digits[idx]
        return [tuple(int(v) for v in r if v >= 0) for r in rows.tolist()]

    def to_dict(self, idx: np.ndarray | None = None) -> dict[tuple[int, ...], float]:
        idx = np.arange(len(self)) if idx is None else np.asarray(idx)
        return dict(zip(self.keys(idx), self.values[idx].tolist()))

    def lookup(self, query: np.ndarray) -> np.ndarray:
        """Row index of each query key (same padded layout), ``-1`` where absent."""
        if len(query) == 0 or len(self) == 0:
            return np.full(len(query), -1, dtype=np.int64)
        width = self.digits.shape[1]
        q = query
        if q.shape[1] < width:
            q = np.concatenate([q, np.full((len(q), width - q.shape[1]), -1, q.dtype)], axis=1)
        elif q.shape[1] > width:
            ok = (q[:, width:] < 0).all(axis=1)
            out = np.full(len(q), -1, dtype=np.int64)
            out[ok] = self.lookup(q[ok, :width])
            return out
        qc = _encode(q, self.n)
        if self.codes is not None and qc is not None:
            if self._order is None:
                self._order = np.argsort(self.codes, kind="stable")
            sorted_codes = self.codes[self._order]
            at = np.searchsorted(sorted_codes, qc).clip(0, len(sorted_codes) - 1)
            hit = sorted_codes[at] == qc
            return np.where(hit, self._order[at], -1)
        both = np.concatenate([self.digits, q])
        _, inv = np.unique(both, axis=0, return_inverse=True)
        inv = inv.ravel()
        first = np.full(inv.max() + 1, -1, dtype=np.int64)
        first[inv[: len(self)][::-1]] = np.arange(len(self))[::-1]
        return first[inv[len(self):]]


def _encode(digits: np.ndarray, n: int) -> np.ndarray | None:
    width = digits.shape[1]
    if width == 0:
        return np.zeros(len(digits), dtype=np.int64)
    if (n + 1) ** width >= 2**63:
        return None
    base = np.int64(n + 1)
    code = np.zeros(len(digits), dtype=np.int64)
    for j in range(width - 1, -1, -1):
        code = code * base + (digits[:, j] + 1)
    return code


def _collect_paths(ens: TreeEnsemble) -> dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Every reachable leaf's path, grouped by its number of distinct features d.

    Returns ``{d: (F, B, V)}``: ``F`` (L, d) sorted features, ``B`` (L, d) the bits the path
    requires, ``V`` (L,) leaf values. All trees are walked together, one level per step. A split
    on a feature already on the path either repeats its bit (no new column) or contradicts it (the
    child is unreachable and dropped).
    """
    node = ens.roots.copy()
    F = np.zeros((len(node), 0), dtype=np.int64)
    B = np.zeros((len(node), 0), dtype=np.int64)
    leaves_F: list[np.ndarray] = []
    leaves_B: list[np.ndarray] = []
    leaves_V: list[np.ndarray] = []
    while len(node):
        is_leaf = node < 0
        if is_leaf.any():
            leaves_F.append(F[is_leaf])
            leaves_B.append(B[is_leaf])
            leaves_V.append(ens.leaf_value[~node[is_leaf]])
        node, F, B = node[~is_leaf], F[~is_leaf], B[~is_leaf]
        if not len(node):
            break
        j = ens.feature[node]
        match = F == j[:, None]
        has = match.any(axis=1)
        old = np.where(match, B, 0).sum(axis=1)
        new_F = np.concatenate([F, np.where(has, -1, j)[:, None]], axis=1)
        nxt_node, nxt_F, nxt_B = [], [], []
        for bit, child in ((0, ens.child0), (1, ens.child1)):
            ok = ~has | (old == bit)
            nxt_node.append(child[node[ok]])
            nxt_F.append(new_F[ok])
            nxt_B.append(np.concatenate([B[ok], np.full((int(ok.sum()), 1), bit, dtype=np.int64)], axis=1))
        node = np.concatenate(nxt_node)
        F = np.concatenate(nxt_F)
        B = np.concatenate(nxt_B)
    width = max((f.shape[1] for f in leaves_F), default=0)
    pad = [np.pad(f, ((0, 0), (0, width - f.shape[1])), constant_values=-1) for f in leaves_F]
    padb = [np.pad(b, ((0, 0), (0, width - b.shape[1]))) for b in leaves_B]
    F = np.concatenate(pad) if pad else np.zeros((0, 0), np.int64)
    B = np.concatenate(padb) if padb else np.zeros((0, 0), np.int64)
    V = np.concatenate(leaves_V) if leaves_V else np.zeros(0)
    # Absent slots (-1) sort first; the d real features end up in the last d columns, ascending.
    order = np.argsort(F, axis=1, kind="stable")
    F = np.take_along_axis(F, order, axis=1)
    B = np.take_along_axis(B, order, axis=1)
    d = (F >= 0).sum(axis=1)
    groups = {}
    for k in np.unique(d).tolist():
        rows = d == k
        groups[k] = (F[rows, width - k :], B[rows, width - k :], V[rows])
    return groups


def ensemble_keytable(ens: TreeEnsemble, n: int) -> KeyTable:
    """Exact Fourier coefficients of ``ens`` as a :class:`KeyTable` (duplicates merged)."""
    groups = _collect_paths(ens)
    width = max(groups, default=0)
    code_parts: list[np.ndarray] = []
    digit_parts: list[np.ndarray] = []
    value_parts: list[np.ndarray] = [np.array([ens.offset])]
    use_codes = (n + 1) ** max(width, 1) < 2**63
    empty = np.full((1, width), -1, dtype=np.int64)
    if use_codes:
        code_parts.append(np.zeros(1, dtype=np.int64))
    else:
        digit_parts.append(empty)
    base = np.int64(n + 1)
    for d, (F, bits, vals) in sorted(groups.items()):
        V = vals * (ens.scale / 2.0**d)
        if d == 0:
            value_parts.append(np.array([V.sum()]))
            if use_codes:
                code_parts.append(np.zeros(1, dtype=np.int64))
            else:
                digit_parts.append(empty)
            continue
        S = 1.0 - 2.0 * bits
        if np.any(F >= n) or np.any(F < 0):
            raise ValueError(f"tree_spectrum: the model splits on feature {int(F.max())}, but n={n}")
        for t in range(2**d):
            cols = [j for j in range(d) if (t >> j) & 1]
            coef = V * np.prod(S[:, cols], axis=1) if cols else V.copy()
            value_parts.append(coef)
            if use_codes:
                code = np.zeros(len(V), dtype=np.int64)
                for j in reversed(cols):
                    code = code * base + (F[:, j] + 1)
                code_parts.append(code)
            else:
                dg = np.full((len(V), width), -1, dtype=np.int64)
                dg[:, : len(cols)] = F[:, cols]
                digit_parts.append(dg)
    values = np.concatenate(value_parts)
    if use_codes:
        codes, inv = np.unique(np.concatenate(code_parts), return_inverse=True)
        sums = np.bincount(inv.ravel(), weights=values, minlength=len(codes))
        digits = np.full((len(codes), width), -1, dtype=np.int64)
        rest = codes.copy()
        for j in range(width):
            digits[:, j] = rest % base - 1
            rest //= base
    else:
        digits, inv = np.unique(np.concatenate(digit_parts), axis=0, return_inverse=True)
        sums = np.bincount(inv.ravel(), weights=values, minlength=len(digits))
    return KeyTable(digits, sums, n)


def tree_spectrum(model: Any, n: int | None = None, *, tol: float = 0.0) -> Spectrum:
    """Exact Fourier spectrum of a fitted tree ensemble on 0/1 inputs (SPEC §4.3).

    ``Spectrum.predict`` of the result equals the model's own prediction on every mask (up to
    floating-point rounding).

    Parameters
    ----------
    model : fitted tree regressor
        ``lightgbm.LGBMRegressor`` or ``Booster``, ``xgboost.XGBRegressor`` or ``Booster``, or a
        scikit-learn ``DecisionTreeRegressor``/``RandomForestRegressor``/``ExtraTreesRegressor``/
        ``GradientBoostingRegressor``, trained on 0/1 feature columns.
    n : int, optional
        Number of features (default: one more than the largest feature the trees split on).
    tol : float, default 0.0
        Drop coefficients with ``|value| <= tol`` (the constant is always kept).

    Returns
    -------
    Spectrum

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.tree import DecisionTreeRegressor
    >>> from interspect.engines.exact import all_masks
    >>> X = all_masks(3); y = X[:, 0] * X[:, 1] + 0.5 * X[:, 2]
    >>> s = tree_spectrum(DecisionTreeRegressor().fit(X, y), n=3)
    >>> bool(np.allclose(s.predict(X), y))
    True
    """
    ens = ensemble_from_model(model)
    if n is None:
        n = int(ens.feature.max(initial=-1)) + 1 or 1
    n = check_n(n)
    table = ensemble_keytable(ens, n)
    keep = np.abs(table.values) > tol
    keep |= table.degrees == 0
    if not math.isfinite(float(np.sum(np.abs(table.values)))):
        raise ValueError("tree_spectrum: the model has non-finite leaf values")
    return Spectrum(table.to_dict(np.flatnonzero(keep)), n)
