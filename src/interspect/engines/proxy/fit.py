"""Fit the tree proxy (SPEC §4.2) with a short validation search instead of a grid.

The reference tries every depth × trees × learning-rate combination with 5-fold cross-validation
(40–60 full fits). Here one held-out split (10%) does the choosing, and early stopping on it picks
the number of trees of every fit for free:

1. a coarse fit (learning rate 0.3, depth ``max_degree``) on all features. Features whose splits
   earn almost none of its gain are dropped for the next fits: a feature no tree uses cannot
   appear in the spectrum, and every boosting round costs time proportional to the columns;
2. learning rate 0.1 with depth ``max_degree`` and with depth ``min(3, max_degree)``, on the
   screened columns.

The fit with the best held-out R² is the proxy. (Averaging the best deep and the best shallow fit
was tried as a second candidate: once the final terms are chosen by forward selection over the
proxy's terms, see :mod:`interspect.engines.proxy.selection`, it made no difference.)
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

from interspect.core.metrics import r2_score
from interspect.core.validation import check_positive_int
from interspect.engines.proxy.threads import Split
from interspect.engines.proxy.tree_spectrum import TreeEnsemble, ensemble_from_model

__all__ = ["fit_proxy", "search_generators", "ProxyFit", "TreeConfig"]

# A feature whose splits explain less than this share of the coarse fit's total gain is dropped.
# (Irrelevant columns get ~1e-4 of it from fitting noise, relevant ones orders of magnitude more.)
# The _SCREEN_KEEP columns with the largest gain are always kept: cheap insurance.
_SCREEN_GAIN = 1e-3
_SCREEN_KEEP = 32
_MIN_DELTA = 1e-5
_LR = 0.1
_EXTRA_HINT = {"lightgbm": "`pip install lightgbm`", "xgboost": "`pip install interspect[xgboost]` (or the CPU-only `pip install xgboost-cpu`)"}


class TreeConfig(NamedTuple):
    """What the search chose, for cross-fitting's folds to fit as it is (``fit_proxy(only=...)``)."""

    depth: int
    learning_rate: float
    n_trees: int
    #: Coarse trees the feature screen was read from (0: no screening).
    screen_trees: int = 0


@dataclass
class ProxyFit:
    """The fitted proxy: its trees (original feature indices) and how it was chosen.
    ``config`` is the search's choice (``None`` for a fixed configuration or a user's model)."""

    ensemble: TreeEnsemble
    params: dict[str, Any]
    holdout_r2: float
    n_trees: int
    features: np.ndarray
    trials: list[dict[str, Any]] = field(default_factory=list)
    config: TreeConfig | None = None


def _import_backend(name: str) -> Any:
    try:
        if name == "lightgbm":
            import lightgbm

            return lightgbm
        import xgboost

        return xgboost
    except ImportError as exc:
        raise ImportError(f"proxy={name!r} needs the {name} package, which is not installed; install it with {_EXTRA_HINT[name]}") from exc


class _Backend:
    """Uniform train-with-early-stopping over LightGBM and XGBoost."""

    def __init__(self, name: str, n_jobs: int, seed: int) -> None:
        self.name = name
        self.lib = _import_backend(name)
        self.n_jobs = n_jobs
        self.seed = seed

    def train(
        self,
        Xtr: np.ndarray,
        ytr: np.ndarray,
        Xva: np.ndarray | None,
        yva: np.ndarray | None,
        *,
        depth: int,
        lr: float,
        rounds: int,
        patience: int,
        min_leaf: int,
    ) -> tuple[Any, int, float]:
        """Fit with early stopping on ``(Xva, yva)``; returns (model, best tree count, held-out R²)."""
        if self.name == "lightgbm":
            lgb = self.lib
            params = {
                "objective": "regression",
                "learning_rate": lr,
                "max_depth": depth,
                "num_leaves": 2**depth,
                "min_data_in_leaf": min_leaf,
                "min_sum_hessian_in_leaf": 0.0,
                "lambda_l2": 0.0,
                "verbosity": -1,
                "num_threads": self.n_jobs,
                "deterministic": True,
                "force_row_wise": True,  # 2-4x faster than col-wise on 0/1 columns here
                "seed": self.seed,
            }
            dtr = lgb.Dataset(Xtr, ytr, params={"max_bin": 2, "verbosity": -1}, free_raw_data=False)
            callbacks = []
            valid = []
            if Xva is not None:
                valid = [lgb.Dataset(Xva, yva, reference=dtr, params={"max_bin": 2, "verbosity": -1})]
                # Improvements below _MIN_DELTA of the variance do not extend training.
                delta = _MIN_DELTA * float(np.var(yva))
                callbacks = [lgb.early_stopping(patience, first_metric_only=True, verbose=False, min_delta=delta)]
            # keep_training_booster avoids a text round trip of the whole model after training.
            model = lgb.train(params, dtr, rounds, valid_sets=valid, callbacks=callbacks, keep_training_booster=True)
            best = model.best_iteration or model.current_iteration()
            r2 = r2_score(yva, model.predict(Xva, num_iteration=best)) if Xva is not None else float("nan")
            return model, best, r2
        xgb = self.lib
        params = {
            "objective": "reg:squarederror",
            "eta": lr,
            "max_depth": depth,
            "min_child_weight": float(min_leaf),
            "lambda": 0.0,
            "tree_method": "hist",
            "max_bin": 2,
            "nthread": self.n_jobs,
            "seed": self.seed,
        }
        dtr = xgb.DMatrix(Xtr, ytr)
        evals = []
        kw: dict[str, Any] = {}
        if Xva is not None:
            dva = xgb.DMatrix(Xva, yva)
            evals = [(dva, "valid")]
            kw["early_stopping_rounds"] = patience
        model = xgb.train(params, dtr, rounds, evals=evals, verbose_eval=False, **kw)
        best = getattr(model, "best_iteration", None)
        best = (best + 1) if (best is not None and Xva is not None) else model.num_boosted_rounds()
        r2 = r2_score(yva, model.predict(xgb.DMatrix(Xva), iteration_range=(0, best))) if Xva is not None else float("nan")
        return model, best, r2

    def gains(self, model: Any, n_trees: int, n_features: int) -> np.ndarray:
        """Total split gain per feature over the first ``n_trees`` trees."""
        if self.name == "lightgbm":
            return np.asarray(model.feature_importance("gain", iteration=n_trees), dtype=float)
        out = np.zeros(n_features)
        for name, gain in model[:n_trees].get_score(importance_type="total_gain").items():
            out[int(str(name).lstrip("f"))] = gain
        return out

    def ensemble(self, model: Any, n_trees: int) -> TreeEnsemble:
        """The first ``n_trees`` trees of ``model`` as a :class:`TreeEnsemble`."""
        if self.name == "lightgbm":
            # Keep only the chosen trees: model_to_string honours best_iteration.
            model.best_iteration = n_trees
            return ensemble_from_model(model)
        return ensemble_from_model(model[:n_trees])


def fit_proxy(
    X: np.ndarray,
    y: np.ndarray,
    *,
    max_degree: int,
    backend: str = "lightgbm",
    rng: np.random.Generator,
    n_jobs: int | None = None,
    holdout: float = 0.1,
    screen: bool = True,
    only: TreeConfig | None = None,
) -> ProxyFit:
    """Fit gradient-boosted trees of depth ≤ ``max_degree`` to ``(X, y)``; see the module docstring.

    ``only`` (a :class:`TreeConfig`, the ``config`` of an earlier search) skips the search and the
    holdout: a coarse fit of ``only.screen_trees`` trees (the number step 1 stopped at) on all rows
    screens the features, then exactly that configuration is fitted to all rows — what
    cross-fitting's folds do once the fit on all samples has chosen it.
    """
    m, n = X.shape
    # OpenMP threads busy-wait: on a shared machine more threads can be far slower.
    n_jobs = 1 if n_jobs is None else check_positive_int(n_jobs, "n_jobs")
    Xf = X.astype(np.float32)
    if only is not None:
        be = _Backend(backend, n_jobs, int(rng.integers(2**31 - 1)))
        return _fit_fixed(be, Xf, y, max_degree=max_degree, screen=screen, config=only)
    seed, perm = _search_draws(rng, m)
    be = _Backend(backend, n_jobs, seed)
    n_va = max(1, int(round(holdout * m))) if m >= 20 else 0
    va, tr = perm[:n_va], perm[n_va:]
    min_leaf = int(np.clip(len(tr) // 500, 2, 20))
    trials: list[dict[str, Any]] = []
    features = np.arange(n)
    deep = max_degree
    shallow = min(3, max_degree)
    if n_va == 0:
        model, best, r2 = be.train(Xf, y, None, None, depth=shallow, lr=0.1, rounds=200, patience=0, min_leaf=1)
        ens = be.ensemble(model, best)
        return ProxyFit(ens, {"depth": shallow, "learning_rate": 0.1}, float("nan"), best, features, trials,
                        TreeConfig(shallow, 0.1, best))
    Xtr, ytr, Xva, yva = Xf[tr], y[tr], Xf[va], y[va]

    fitted: list[tuple[float, int, float, Any, int, np.ndarray]] = []

    def run(depth: int, lr: float, rounds: int, cols: np.ndarray, be: _Backend = be) -> tuple[float, int, float, Any, int, np.ndarray]:
        model, best, r2 = be.train(Xtr[:, cols], ytr, Xva[:, cols], yva, depth=depth, lr=lr, rounds=rounds, patience=max(20, int(3 / lr)), min_leaf=min_leaf)
        return r2, depth, lr, model, best, cols

    # 1) A quick, coarse fit on all features; it also tells which features the trees use.
    fitted.append(run(deep, 0.3, 150, features))
    screen_trees = 0
    if screen and n > 32:
        _, _, _, model, screen_trees, _ = fitted[0]
        features = _screen(be, model, screen_trees, n)
    # 2) A finer learning rate on the screened columns, with the deepest and with shallow trees,
    # side by side where n_jobs allows (the fits are independent; same seed, same trees).
    # (A third, smaller learning rate was tried too: many more trees, no better final R².)
    configs = [(depth, _LR) for depth in dict.fromkeys((deep, shallow))]
    with Split(n_jobs, tasks=len(configs)) as sp:
        inner = _Backend(backend, sp.per_task, seed)
        fitted += sp.map(lambda c: run(c[0], c[1], 3000, features, inner), configs)
    for r2, depth, lr, _, best, cols in fitted:
        trials.append({"depth": depth, "learning_rate": lr, "n_trees": best, "holdout_r2": r2, "n_features": len(cols)})
    r2, depth, lr, model, best, cols = max(fitted, key=lambda c: c[0])
    ens = be.ensemble(model, best).remap(cols)
    params = {"depth": depth, "learning_rate": lr, "min_data_in_leaf": min_leaf}
    return ProxyFit(ens, params, r2, best, cols, trials, TreeConfig(depth, lr, best, screen_trees))


def _search_draws(rng: np.random.Generator, m: int) -> tuple[int, np.ndarray]:
    """What a search takes from ``rng``: the tree library's seed, then the holdout's permutation."""
    return int(rng.integers(2**31 - 1)), rng.permutation(m)


def search_generators(rng: np.random.Generator, m: int, count: int) -> list[np.random.Generator]:
    """Generators for ``count`` searches on ``m`` samples that can run side by side: the ``i``-th
    is ``rng`` as the ``i``-th of them would find it had they run one after another on it, and
    ``rng`` is left where the last would leave it — so running them in any order, or at once,
    fits the same trees as running them in turn.

    Examples
    --------
    >>> a, b = np.random.default_rng(0), np.random.default_rng(0)
    >>> gens = search_generators(a, 10, 2)
    >>> _search_draws(b, 10)[0] == _search_draws(gens[0], 10)[0], _search_draws(b, 10)[0] == _search_draws(gens[1], 10)[0]
    (True, True)
    >>> int(a.integers(100)) == int(b.integers(100))
    True
    """
    out = []
    for _ in range(count):
        out.append(copy.deepcopy(rng))
        _search_draws(rng, m)
    return out


def _screen(be: _Backend, model: Any, n_trees: int, n: int) -> np.ndarray:
    """Columns whose splits earn a noticeable share of the gain (plus the top ``_SCREEN_KEEP``)."""
    gain = be.gains(model, n_trees, n)
    top = np.argsort(-gain, kind="stable")[:_SCREEN_KEEP]
    keep = gain > _SCREEN_GAIN * gain.sum()
    keep[top[gain[top] > 0]] = True
    used = np.flatnonzero(keep)
    return used if 0 < len(used) < n else np.arange(n)


def _fit_fixed(be: _Backend, Xf: np.ndarray, y: np.ndarray, *, max_degree: int, screen: bool,
               config: TreeConfig) -> ProxyFit:
    """One configuration fitted to all rows, no holdout (the configuration was chosen elsewhere)."""
    m, n = Xf.shape
    depth, lr, n_trees, screen_trees = int(config.depth), float(config.learning_rate), max(1, int(config.n_trees)), int(config.screen_trees)
    min_leaf = int(np.clip(m // 500, 2, 20))
    features = np.arange(n)
    if screen and n > 32 and screen_trees > 0:
        # As many coarse trees as the search's early stopping kept: the full 150 cost 2-20x more
        # here and their last trees, fitted to noise, spread gain onto irrelevant columns.
        coarse, best, _ = be.train(Xf, y, None, None, depth=max_degree, lr=0.3, rounds=screen_trees, patience=0, min_leaf=min_leaf)
        features = _screen(be, coarse, best, n)
    model, best, _ = be.train(Xf[:, features], y, None, None, depth=depth, lr=lr, rounds=n_trees, patience=0, min_leaf=min_leaf)
    ens = be.ensemble(model, best).remap(features)
    return ProxyFit(ens, {"depth": depth, "learning_rate": lr, "min_data_in_leaf": min_leaf}, float("nan"), best, features)
