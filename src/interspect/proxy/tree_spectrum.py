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
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from interspect._validation import check_n
from interspect.spectrum import Spectrum

__all__ = ["tree_spectrum", "TreeEnsemble", "KeyTable", "ensemble_from_model", "average_ensembles"]

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


@dataclass
class TreeEnsemble:
    """A sum of trees: ``f(x) = offset + scale · Σ_t tree_t(x)``, features in original indices."""

    trees: list[_Tree]
    offset: float = 0.0
    scale: float = 1.0
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def max_depth(self) -> int:
        return max((_depth(t) for t in self.trees), default=0)

    def remap(self, features: np.ndarray) -> TreeEnsemble:
        """Map the trees' feature indices through ``features`` (trees fitted on a column subset)."""
        features = np.asarray(features, dtype=np.int64)
        trees = [_Tree(features[t.feature] if len(t.feature) else t.feature, t.child0, t.child1, t.leaf_value) for t in self.trees]
        return TreeEnsemble(trees, self.offset, self.scale, dict(self.meta))

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Evaluate the ensemble on 0/1 masks by walking the trees (slow; for checks)."""
        X = np.asarray(X)
        out = np.full(X.shape[0], 0.0)
        for t in self.trees:
            if len(t.feature) == 0:
                out += t.leaf_value[0]
                continue
            node = np.zeros(X.shape[0], dtype=np.int64)
            active = np.ones(X.shape[0], dtype=bool)
            leaf = np.zeros(X.shape[0], dtype=np.int64)
            while active.any():
                idx = np.flatnonzero(active)
                nd = node[idx]
                bit = X[idx, t.feature[nd]].astype(bool)
                nxt = np.where(bit, t.child1[nd], t.child0[nd])
                done = nxt < 0
                leaf[idx[done]] = ~nxt[done]
                active[idx[done]] = False
                node[idx[~done]] = nxt[~done]
            out += t.leaf_value[leaf]
        return self.offset + self.scale * out


def average_ensembles(parts: list[TreeEnsemble]) -> TreeEnsemble:
    """The equal-weight average of several ensembles, as one ensemble."""
    w = 1.0 / len(parts)
    trees = [_Tree(t.feature, t.child0, t.child1, t.leaf_value * (e.scale * w)) for e in parts for t in e.trees]
    return TreeEnsemble(trees, w * sum(e.offset for e in parts), 1.0, {"averaged": len(parts)})


def _depth(t: _Tree) -> int:
    if len(t.feature) == 0:
        return 0
    best, stack = 0, [(0, 1)]
    while stack:
        node, d = stack.pop()
        best = max(best, d)
        for c in (t.child0[node], t.child1[node]):
            if c >= 0:
                stack.append((c, d + 1))
    return best


# ---------------------------------------------------------------------------------------- parsers
def _lightgbm_ensemble(booster: Any) -> TreeEnsemble:
    """Parse ``Booster.model_to_string()`` (flat arrays per tree: much faster than dump_model)."""
    text = booster.model_to_string()
    header, _, body = text.partition("\nTree=")
    average = "average_output" in header.split("\n")
    trees: list[_Tree] = []
    for block in ("Tree=" + body).split("\nTree=")[0:]:
        if not block.strip() or "leaf_value=" not in block:
            continue
        fields = {}
        for line in block.split("\n"):
            key, sep, val = line.partition("=")
            if sep:
                fields[key] = val
        if "end of trees" in block and "num_leaves" not in fields:
            break
        if int(fields.get("num_cat", "0")) > 0:
            raise ValueError("tree_spectrum: LightGBM models with categorical splits are not supported (0/1 masks are numerical)")
        if fields.get("is_linear", "0") not in ("0", ""):
            raise ValueError("tree_spectrum: LightGBM linear trees (linear_tree=True) are not supported")
        leaf_value = np.array(fields["leaf_value"].split(), dtype=float)
        if int(fields["num_leaves"]) <= 1:
            trees.append(_Tree(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.int64), leaf_value[:1]))
            continue
        feature = np.array(fields["split_feature"].split(), dtype=np.int64)
        threshold = np.array(fields["threshold"].split(), dtype=float)
        dtype = np.array(fields["decision_type"].split(), dtype=np.int64)
        left = np.array(fields["left_child"].split(), dtype=np.int64)
        right = np.array(fields["right_child"].split(), dtype=np.int64)
        default_left = (dtype & 2) > 0
        missing_zero = ((dtype >> 2) & 3) == 1
        # Numerical split: go left iff x <= threshold, except zero-as-missing sends 0 the default way.
        zero_left = np.where(missing_zero, default_left, 0.0 <= threshold)
        one_left = 1.0 <= threshold
        trees.append(_Tree(feature, np.where(zero_left, left, right), np.where(one_left, left, right), leaf_value))
    return TreeEnsemble(trees, 0.0, 1.0 / max(len(trees), 1) if average else 1.0, {"backend": "lightgbm"})


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
    return TreeEnsemble(trees, float(base), 1.0, {"backend": "xgboost"})


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
            return TreeEnsemble([_sklearn_tree(model)], meta={"backend": "sklearn"})
        if name in ("RandomForestRegressor", "ExtraTreesRegressor"):
            trees = [_sklearn_tree(e) for e in model.estimators_]
            return TreeEnsemble(trees, 0.0, 1.0 / len(trees), {"backend": "sklearn"})
        if name == "GradientBoostingRegressor":
            init = model.init_
            if init == "zero":
                offset = 0.0
            elif type(init).__name__ == "DummyRegressor":
                offset = float(np.ravel(init.constant_)[0])
            else:
                raise ValueError("tree_spectrum: GradientBoostingRegressor with a custom init estimator is not supported")
            trees = [_sklearn_tree(e) for e in model.estimators_[:, 0]]
            return TreeEnsemble(trees, offset, float(model.learning_rate), {"backend": "sklearn"})
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


def _collect_paths(ens: TreeEnsemble) -> dict[int, tuple[list[list[int]], list[list[int]], list[float]]]:
    """Leaves grouped by (deduplicated) path length: features, bits and value of each leaf."""
    groups: dict[int, tuple[list[list[int]], list[list[int]], list[float]]] = {}
    for t in ens.trees:
        if len(t.feature) == 0:
            groups.setdefault(0, ([], [], []))[2].append(float(t.leaf_value[0]))
            continue
        feat, c0, c1, lv = t.feature.tolist(), t.child0.tolist(), t.child1.tolist(), t.leaf_value.tolist()
        stack: list[tuple[int, dict[int, int]]] = [(0, {})]
        while stack:
            node, path = stack.pop()
            j = feat[node]
            for bit, child in ((0, c0[node]), (1, c1[node])):
                if path.get(j, bit) != bit:
                    continue  # contradicts an earlier split on j: unreachable
                p = dict(path)
                p[j] = bit
                if child >= 0:
                    stack.append((child, p))
                else:
                    g = groups.setdefault(len(p), ([], [], []))
                    g[0].append(list(p.keys()))
                    g[1].append(list(p.values()))
                    g[2].append(lv[~child])
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
    for d, (feats, bits, vals) in sorted(groups.items()):
        V = np.asarray(vals, dtype=float) * (ens.scale / 2.0**d)
        if d == 0:
            value_parts.append(np.array([V.sum()]))
            if use_codes:
                code_parts.append(np.zeros(1, dtype=np.int64))
            else:
                digit_parts.append(empty)
            continue
        F = np.asarray(feats, dtype=np.int64)
        S = 1.0 - 2.0 * np.asarray(bits, dtype=float)
        order = np.argsort(F, axis=1)
        F = np.take_along_axis(F, order, axis=1)
        S = np.take_along_axis(S, order, axis=1)
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
    >>> from interspect.exact import all_masks
    >>> X = all_masks(3); y = X[:, 0] * X[:, 1] + 0.5 * X[:, 2]
    >>> s = tree_spectrum(DecisionTreeRegressor().fit(X, y), n=3)
    >>> bool(np.allclose(s.predict(X), y))
    True
    """
    ens = ensemble_from_model(model)
    if n is None:
        used = [int(t.feature.max()) for t in ens.trees if len(t.feature)]
        n = max(used, default=0) + 1
    n = check_n(n)
    table = ensemble_keytable(ens, n)
    keep = np.abs(table.values) > tol
    keep |= table.degrees == 0
    if not math.isfinite(float(np.sum(np.abs(table.values)))):
        raise ValueError("tree_spectrum: the model has non-finite leaf values")
    return Spectrum(table.to_dict(np.flatnonzero(keep)), n)
