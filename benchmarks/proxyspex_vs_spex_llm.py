"""ProxySPEX with a tenth (and a fifth) of SPEX's queries, on the embedded language model.

The ProxySPEX paper's claim is about LLM value functions: SPEX's faithfulness with about ten times
fewer model calls. For each review of the sentiment set (``../shared/data/sentiment.csv``; the
value function is ``logp(" positive") − logp(" negative")`` of SmolLM2-135M-Instruct with words
removed by the mask, as in ``interspect bench --task sentiment``):

1. SPEX with ``--spex-budget`` (it uses the largest design that fits: ``q`` queries);
2. ProxySPEX with ``q // 10`` and ``q // 5`` queries;
3. R² of each on the same ``--n-test`` fresh uniformly random masks.

Every model output goes to a SQLite query cache (``--cache``), so an interrupted run resumes and a
rerun only refits. Usage::

    nice python benchmarks/proxyspex_vs_spex_llm.py --min-n 16 --max-n 63 --per-bucket 2 \\
        --spex-budget 3000 --out benchmarks/results_proxyspex_llm.md
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
# The test masks of the committed results file (seed 10,000 + seed), kept so reruns match it.
TEST_SEED = 10_000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--min-n", type=int, default=16)
    ap.add_argument("--max-n", type=int, default=63)
    ap.add_argument("--per-bucket", type=int, default=2, help="reviews per n bucket (8-15, 16-31, 32-63, ...)")
    ap.add_argument("--limit", type=int, default=0)
    ap.add_argument("--spex-budget", type=int, default=3000)
    ap.add_argument("--n-test", type=int, default=300)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--cache", default=str(ROOT / "benchmarks" / "results" / "llm_cache.sqlite"))
    ap.add_argument("--data", default=None)
    ap.add_argument("--out", default=None, help="also write the table to this markdown file")
    args = ap.parse_args()

    from interspect import faithfulness, proxyspex, spex
    from interspect.evaluation.bench import BenchConfig, _text_items
    from interspect.queries.layer import Queries

    data = Path(args.data) if args.data else ROOT.parent / "shared" / "data" / "sentiment.csv"
    config = BenchConfig(
        task="sentiment", data=data, model="smollm2", min_n=args.min_n, max_n=args.max_n,
        per_bucket=args.per_bucket, limit=args.limit, batch_size=args.batch_size,
    )  # fmt: skip
    lines: list[str] = []

    def emit(text: str = "") -> None:
        print(text, flush=True)
        lines.append(text)

    emit("# ProxySPEX at 1/10 and 1/5 of SPEX's queries, on the embedded language model\n")
    emit(f"Command: `python benchmarks/proxyspex_vs_spex_llm.py {' '.join(sys.argv[1:])}`  ")
    emit(f"Machine: {platform.machine()}, {os.cpu_count()} cores (shared), Python {platform.python_version()}; "
         f"started {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}  ")
    emit("Value function: `TextValueFunction.for_task(\"sentiment\", smollm2, review, unit=\"word\")`; "
         f"R² on {args.n_test} fresh uniform masks per review (the same for every method); seed {args.seed}.\n")
    emit("| review | n | SPEX queries | SPEX R² | ProxySPEX R² at 1/10 | at 1/5 | 1/10 reaches SPEX | model s |")
    emit("|---|---|---|---|---|---|---|---|")
    rows = []
    for item in _text_items(config):
        t0 = time.perf_counter()
        n = item.n
        vf = Queries(item.value_fn, n, cache=args.cache)  # every model output is kept
        s = spex(vf, n, args.spex_budget, seed=args.seed)
        q = int(s.n_queries)
        r2 = {"spex": faithfulness(s, vf, n_test=args.n_test, seed=TEST_SEED + args.seed)}
        for d in (10, 5):
            p = proxyspex(vf, n, max(8, q // d), seed=args.seed)
            r2[d] = faithfulness(p, vf, n_test=args.n_test, seed=TEST_SEED + args.seed)
        rows.append((n, q, r2))
        emit(f"| {item.item} | {n} | {q} | {r2['spex']:.3f} | {r2[10]:.3f} | {r2[5]:.3f} | {r2[10] >= r2['spex']} | "
             f"{time.perf_counter() - t0:.0f} |")
    if rows:
        gaps = [r[10] - r["spex"] for _, _, r in rows]
        gaps5 = [r[5] - r["spex"] for _, _, r in rows]
        emit(f"\nMean R²: SPEX {np.mean([r['spex'] for _, _, r in rows]):.3f}, ProxySPEX at 1/10 "
             f"{np.mean([r[10] for _, _, r in rows]):.3f}, at 1/5 {np.mean([r[5] for _, _, r in rows]):.3f}. "
             f"1/10 reaches SPEX on {sum(g >= 0 for g in gaps)} of {len(rows)} reviews (median difference {np.median(gaps):+.3f}); "
             f"1/5 on {sum(g >= 0 for g in gaps5)} (median {np.median(gaps5):+.3f}).")
    if args.out:
        Path(args.out).write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
