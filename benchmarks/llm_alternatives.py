"""Is ProxySPEX's gap to SPEX at 1/10 of its queries on the embedded model a matter of the proxy?

Part 7 of ``results_proxyspex_wide.md`` finds ProxySPEX with 1/10 of SPEX's queries 0.08 below
SPEX's mean R² on the replayed sentiment reviews. This script fits other regressors to exactly
the same training masks (drawn from the recorded pool as part 7 draws them) and scores them on
the same 200 recorded test masks, as plain predictors — an upper bound for any spectrum read
from them:

- ``ridge 1``: ridge on the first-order ±1 parities (RidgeCV, penalty by leave-one-out);
- ``ridge 2``: the same on first- and second-order parities;
- ``walsh KRR``: kernel ridge with the product kernel ``Π_i (1 + ρ s_i s'_i)`` (prior variance
  ``ρ^|S|`` on every Fourier coefficient, all orders at once), ρ and the penalty by exact
  leave-one-out error;
- ``LightGBM bag``: LightGBM with row and column subsampling (depth 3, 400 trees, rate 0.05).

Usage: ``python benchmarks/llm_alternatives.py [--fraction 10] [--seeds 0 1 2]`` (about 3 minutes).
"""

from __future__ import annotations

import argparse
import itertools
import platform
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))


def walsh_krr(X: np.ndarray, y: np.ndarray):  # type: ignore[no-untyped-def]
    """Kernel ridge with the product Walsh kernel; (ρ, penalty) minimising the leave-one-out error."""
    S = 2.0 * X - 1.0
    n = X.shape[1]

    def kernel(A: np.ndarray, B: np.ndarray, rho: float) -> np.ndarray:
        agree = (A @ B.T + n) / 2.0  # features on which the two masks agree
        return np.exp(agree * np.log1p(rho) + (n - agree) * np.log1p(-rho) - n * np.log1p(rho))

    mu = float(y.mean())
    yc = y - mu
    best = (np.inf, 0.0, 0.0)
    for rho in (0.02, 0.05, 0.1, 0.2, 0.3, 0.5):
        w, V = np.linalg.eigh(kernel(S, S, rho))
        b = V.T @ yc
        for rel in np.logspace(-4, 1, 12):
            lam = rel * float(np.mean(w))
            h = w / (w + lam)
            loo = float(np.mean(((yc - V @ (h * b)) / (1.0 - (V**2) @ h)) ** 2))
            if loo < best[0]:
                best = (loo, rho, lam)
    _, rho, lam = best
    alpha = np.linalg.solve(kernel(S, S, rho) + lam * np.eye(len(y)), yc)
    return lambda Xn: mu + kernel(2.0 * Xn - 1.0, S, rho) @ alpha


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--fraction", type=int, default=10, help="training masks = SPEX's queries // FRACTION")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = ap.parse_args()

    import lightgbm as lgb
    import proxyspex_wide as W
    from sklearn.linear_model import RidgeCV

    from interspect import spex_budget
    from interspect.core.metrics import r2_score
    from interspect.core.parity import parity_design

    print(f"Command: `python benchmarks/llm_alternatives.py {' '.join(sys.argv[1:])}`  ")
    print(f"Machine: {platform.machine()}, Python {platform.python_version()}; started {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}\n")
    names = ["ProxySPEX", "ridge 1", "ridge 2", "walsh KRR", "LightGBM bag"]
    print(f"R² on the recorded test masks, mean over seeds {' '.join(map(str, args.seeds))}; training masks = SPEX's queries // {args.fraction}.\n")
    print("| review | n | masks | " + " | ".join(names) + " |")
    print("|---|---|---|" + "---|" * len(names))
    table = []
    for row in W.llm_rows():
        rep = W.replay(row)
        m = spex_budget(row.n, 5) // args.fraction
        Xt = rep.sets["test"]
        yt = rep(Xt)
        k1 = [(i,) for i in range(row.n)]
        k2 = k1 + list(itertools.combinations(range(row.n), 2))
        got = []
        for seed in args.seeds:
            ours = W.run_ours(row, seed, m)["r2"]  # draws the same masks from the pool as below
            X = W.pool_draw(rep, m, np.random.default_rng(seed), paired=False)
            y = rep(X)
            r1 = RidgeCV(alphas=np.logspace(-3, 4, 30)).fit(parity_design(k1, X), y)
            r2 = RidgeCV(alphas=np.logspace(-2, 5, 30)).fit(parity_design(k2, X), y)
            krr = walsh_krr(X.astype(float), y)
            bag = lgb.LGBMRegressor(n_estimators=400, learning_rate=0.05, max_depth=3, num_leaves=8, subsample=0.7,
                                    subsample_freq=1, colsample_bytree=0.5, min_child_samples=3, verbose=-1,
                                    random_state=seed, n_jobs=1).fit(X.astype(np.float32), y)
            got.append([ours, r2_score(yt, r1.predict(parity_design(k1, Xt))), r2_score(yt, r2.predict(parity_design(k2, Xt))),
                        r2_score(yt, krr(Xt.astype(float))), r2_score(yt, bag.predict(Xt.astype(np.float32)))])
        mean = np.mean(got, axis=0)
        table.append(mean)
        print(f"| {row.params['review']} | {row.n} | {m} | " + " | ".join(f"{v:.4f}" for v in mean) + " |", flush=True)
    avg = np.mean(table, axis=0)
    print("\nMean over reviews: " + ", ".join(f"{k} {v:.4f}" for k, v in zip(names, avg)) + ".")


if __name__ == "__main__":
    main()
