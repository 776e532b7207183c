"""SPEX engine time and memory against the number of features n, on planted sparse Fourier games.

Usage::

    nice python benchmarks/spex_scaling.py                                  # n = 1k, 10k, 100k, 1M
    nice python benchmarks/spex_scaling.py --sizes 1000 10000 --out /tmp/x.md
    nice python benchmarks/spex_scaling.py --out benchmarks/results_spex_scaling.md

Every case runs in its own subprocess, so its peak resident memory (``ru_maxrss``, read as soon
as ``spex`` returns, before the R² check) is its own: interpreter, numpy and scipy, the game, the
design, the batch of masks and the decoder all count. The same budget is used at every n, so the
number of queries stays about the same and the fitted exponent of engine time against n says
how the engine scales with the width of what it reads.

- *engine s*: wall time of the ``spex`` call minus the time spent inside the value function
  (the value function is wrapped and its time subtracted). *masks s* is the part of it spent in
  ``Design.masks`` (generating the query masks), measured by wrapping that method.
- The value function is the planted game ``games.SparseFourierGame(n, terms, degree, seed)``.
  By default it is evaluated straight from its planted spectrum by column parities
  (``y = Σ_k F(k)·(−1)^{⊕_{i∈k} x_i}``), checked against the game itself on 64 random masks
  after the run (and after the peak memory is read); ``--value-fn game`` calls the game object instead (same values, but its generic sparse
  product makes the n = 1,000,000 case take many minutes of value-function time).
- *R²*: against the planted game on 1,000 fresh uniform masks (seed 123), both sides evaluated by
  column parities in chunks of 100 rows, so the check needs no more memory than the run.
- *engine ns per n·query*: engine time over the size of the design it reads (n bytes per query);
  flat means engine time grows like n × queries and no faster.
- *exponent*: least-squares slope of log(engine s) against log(n) over the rows of the table
  (and against log(n × queries)).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def parities(keys: list[tuple[int, ...]], values: np.ndarray, X: np.ndarray) -> np.ndarray:
    """``Σ_k values[k]·(−1)^{⊕_{i∈k} X[:, i]}`` for masks X (m, n): only key columns are read."""
    y = np.zeros(X.shape[0])
    nz = [(k, v) for k, v in zip(keys, values) if k]
    y += sum(float(v) for k, v in zip(keys, values) if not k)
    if not nz:
        return y
    lens = np.array([len(k) for k, _ in nz])
    flat = np.fromiter((i for k, _ in nz for i in k), dtype=np.int64, count=int(lens.sum()))
    starts = np.concatenate(([0], np.cumsum(lens)[:-1]))
    bits = np.bitwise_xor.reduceat(X[:, flat], starts, axis=1)  # (m, K) parity of each key
    return y + (1.0 - 2.0 * bits) @ np.array([v for _, v in nz])


def worker(
    n: int, terms: int, degree: int, budget: int, seed: int, value_fn: str, batch_size: int | None
) -> dict:
    import resource

    from interspect import spex
    from interspect.engines.spex import design as design_mod
    from interspect.evaluation.metrics import r2_score
    from interspect.games import SparseFourierGame

    g = SparseFourierGame(n, terms, degree, seed=seed)
    truth = g.spectrum
    assert truth is not None
    keys, vals = list(truth.fourier), np.array(list(truth.fourier.values()))
    evaluate = g if value_fn == "game" else (lambda X: parities(keys, vals, X))

    spent = [0.0, 0.0]  # value function, mask generation

    def f(X: np.ndarray) -> np.ndarray:
        t0 = time.perf_counter()
        y = evaluate(X)
        spent[0] += time.perf_counter() - t0
        return y

    masks = design_mod.Design.masks

    def timed_masks(self, start: int, stop: int) -> np.ndarray:
        t0 = time.perf_counter()
        out = masks(self, start, stop)
        spent[1] += time.perf_counter() - t0
        return out

    design_mod.Design.masks = timed_masks  # type: ignore[method-assign]
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    t0 = time.perf_counter()
    s = spex(f, n, budget, seed=seed, batch_size=batch_size)
    total = time.perf_counter() - t0
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    # after the peak is read: the game's generic evaluation needs far more memory at large n
    X = np.random.default_rng(7).integers(0, 2, size=(64, n), dtype=np.uint8)
    gap = float(np.max(np.abs(parities(keys, vals, X) - g(X))))
    assert gap < 1e-9, f"column-parity evaluation disagrees with the game by {gap}"
    del X

    rng = np.random.default_rng(123)
    ys, yh = [], []
    skeys, svals = list(s.fourier), np.array(list(s.fourier.values()))
    for _ in range(10):
        T = rng.integers(0, 2, size=(100, n), dtype=np.uint8)
        ys.append(parities(keys, vals, T))
        yh.append(parities(skeys, svals, T))
    r2 = r2_score(np.concatenate(ys), np.concatenate(yh))
    return {
        "n": n, "budget": budget, "batch_rows": batch_size or design_mod.default_batch_size(n), "n_queries": s.n_queries, "engine_s": total - spent[0],
        "masks_s": spent[1], "value_fn_s": spent[0], "peak_mb": peak_mb, "start_mb": rss0,
        "r2": r2, "missing": len(set(truth.fourier) - set(s.fourier)), "terms": len(s),
    }


def slope(x: list[float], y: list[float]) -> float:
    if len(x) < 2:
        return float("nan")
    return float(np.polyfit(np.log(x), np.log(y), 1)[0])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[1_000, 10_000, 100_000, 1_000_000])
    ap.add_argument("--terms", type=int, default=100)
    ap.add_argument("--degree", type=int, default=4)
    ap.add_argument("--budget", type=int, default=200_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--value-fn", choices=("columns", "game"), default="columns")
    ap.add_argument("--batch-size", type=int, default=None, help="spex's batch_size (default: its own)")
    ap.add_argument("--timeout", type=float, default=3600.0, help="seconds per case")
    ap.add_argument("--out", type=Path, default=None, help="write the markdown table here")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        (n,) = args.sizes
        print(json.dumps(worker(n, args.terms, args.degree, args.budget, args.seed, args.value_fn, args.batch_size)))
        return

    rows = []
    for n in args.sizes:
        print(f"running n={n} ...", file=sys.stderr, flush=True)
        cmd = [sys.executable, __file__, "--worker", "--sizes", str(n), "--terms", str(args.terms),
               "--degree", str(args.degree), "--budget", str(args.budget), "--seed", str(args.seed),
               "--value-fn", args.value_fn]
        if args.batch_size is not None:
            cmd += ["--batch-size", str(args.batch_size)]
        try:
            res = subprocess.run(cmd, capture_output=True, text=True, timeout=args.timeout)
        except subprocess.TimeoutExpired:
            print(f"n={n}: over {args.timeout:.0f} s, stopped", file=sys.stderr)
            rows.append({"n": n, "failed": f"over {args.timeout:.0f} s"})
            continue
        if res.returncode != 0:
            tail = (res.stderr.strip().splitlines() or ["?"])[-1]
            print(f"n={n}: failed ({tail})", file=sys.stderr)
            rows.append({"n": n, "failed": tail})
            continue
        r = json.loads(res.stdout.strip().splitlines()[-1])
        print(json.dumps(r), file=sys.stderr, flush=True)
        rows.append(r)

    done = [r for r in rows if "failed" not in r]
    lines = [
        "| n | budget | queries | rows per batch | engine s | engine ns per n·query | masks s | value fn s (excluded) | peak MB | R² | missing terms |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        if "failed" in r:
            lines.append(f"| {r['n']:,} | {args.budget:,} | – | – | – | – | – | – | – | – | failed: {r['failed']} |")
            continue
        lines.append(
            f"| {r['n']:,} | {r['budget']:,} | {r['n_queries']:,} | {r['batch_rows']:,} | {r['engine_s']:.2f} "
            f"| {1e9 * r['engine_s'] / (r['n'] * r['n_queries']):.3f} | {r['masks_s']:.2f} "
            f"| {r['value_fn_s']:.2f} | {r['peak_mb']:.0f} | {r['r2']:.6f} | {r['missing']} of {args.terms} |"
        )
    ns = [r["n"] for r in done]
    eng = [r["engine_s"] for r in done]
    nq = [r["n"] * r["n_queries"] for r in done]
    summary = (
        f"Fitted exponent of engine time: {slope(ns, eng):.2f} against n, "
        f"{slope(nq, eng):.2f} against n × queries (masks alone: "
        f"{slope(ns, [r['masks_s'] for r in done]):.2f} against n)."
    )
    print("\n".join(lines))
    print()
    print(summary)
    if args.out is not None:
        load1 = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
        head = [
            "# SPEX scaling in n (engine time excluding the value function, peak memory)",
            "",
            f"Command: `nice python benchmarks/spex_scaling.py {' '.join(sys.argv[1:])}`; "
            f"{os.cpu_count()} CPU cores shared with other jobs (load average {load1:.1f} at the end), "
            f"Python {platform.python_version()}, numpy {np.__version__}. Planted game: "
            f"`games.SparseFourierGame(n, {args.terms}, {args.degree}, seed={args.seed})`, "
            f"`spex(f, n, {args.budget}, seed={args.seed})` with default settings (soft decoding, "
            f"max_degree 5, 3 groups, ridge refit), value function: {args.value_fn}. Each n runs in "
            "its own subprocess; see the script's docstring for what each column measures.",
            "",
        ]
        args.out.write_text("\n".join(head + lines + ["", summary]) + "\n")


if __name__ == "__main__":
    main()
