"""Which parts of a ProxySPEX fit gain from threads: each part run 6 times one after another, then
6 times on 2 threads, side by side in one run (BLAS at one thread, as inside a fit with n_jobs=2).

Usage::

    python benchmarks/proxyspex_threads.py [--reps 6] [--m 800] [--n 64]

A part gains close to 2x only if it spends its time in calls that release the GIL (LightGBM's
boosting rounds, LAPACK); the table says which do. Results: results_proxyspex_wide.md, part 9.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reps", type=int, default=6)
    ap.add_argument("--m", type=int, default=800, help="samples (default 800)")
    ap.add_argument("--n", type=int, default=64, help="features (default 64)")
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    from threadpoolctl import threadpool_limits

    from interspect import games
    from interspect.engines.proxy.fit import fit_proxy
    from interspect.engines.proxy.sampling import uniform_masks
    from interspect.engines.proxy.selection import select_terms
    from interspect.engines.proxy.tree_spectrum import ensemble_keytable
    from interspect.engines.proxy.truncation import truncate_table

    n, m = args.n, args.m
    g = games.HierarchicalGame(n=n, n_top=5, seed=2)
    X = uniform_masks(n, m, np.random.default_rng(0))
    raw = g(X)
    y = np.tanh(raw / np.std(raw))
    fit = fit_proxy(X, y, max_degree=5, rng=np.random.default_rng(0))
    max_terms = m // 4

    def tree_fit(_: int) -> object:
        return fit_proxy(X, y, max_degree=5, rng=np.random.default_rng(0), only=fit.config)

    def tree_spectrum(_: int) -> object:
        table = ensemble_keytable(fit.ensemble, n)
        return table.keys(truncate_table(table, energy=0.999, max_terms=max_terms))

    pool = tree_spectrum(0)

    def selection(_: int) -> object:
        return select_terms(X, y, pool=pool, max_degree=5, max_terms=max_terms)

    print(f"Command: `python benchmarks/proxyspex_threads.py {' '.join(sys.argv[1:])}`  ")
    print(f"Hierarchical game (5 top terms, tanh), n = {n}, m = {m}; {args.reps} runs of each part; "
          f"started {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}\n")
    print("| part | one after another (s) | 2 threads (s) | gain |")
    print("|---|---|---|---|")
    with threadpool_limits(1, "blas"):
        for name, fn in (("tree fit (fixed configuration, as in a fold)", tree_fit),
                         ("tree spectrum + truncation", tree_spectrum),
                         ("forward selection", selection)):
            fn(0)
            t = time.perf_counter()
            for i in range(args.reps):
                fn(i)
            serial = time.perf_counter() - t
            with ThreadPoolExecutor(2) as ex:
                t = time.perf_counter()
                list(ex.map(fn, range(args.reps)))
                threaded = time.perf_counter() - t
            print(f"| {name} | {serial:.3f} | {threaded:.3f} | {serial / threaded:.2f}× |", flush=True)


if __name__ == "__main__":
    main()
