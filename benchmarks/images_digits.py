"""The offline image default at scale: ProxySPEX and baselines against the exact spectrum on digits.

Usage::

    nice python benchmarks/images_digits.py [--digits 10] [--budgets 200 500] [--out benchmarks/results_images.md]

For the first held-out digit of each class (``interspect.applications.images.digits``), the
digits MLP's logit of its predicted class, 4×4 grid cells masked black: the exact spectrum (all
2^16 = 65,536 masks) is the reference. Each method is fitted at each budget through
``interspect.explain_image`` (so through the query layer, as a user runs it) and scored by

- R² on 1,000 fresh uniformly random masks (``faithfulness``), and
- top-5 agreement: how many of the exact FBII (order 2) top-5 terms are in the method's top 5.

The table (mean over digits) is printed and written, with the command and the machine's load, to
``--out``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--digits", type=int, default=10, help="classes 0..K-1, one held-out image each")
    ap.add_argument("--budgets", type=int, nargs="+", default=[200, 500])
    ap.add_argument("--methods", default="proxyspex,lime,banzhaf")
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)

    from interspect import explain_image, faithfulness
    from interspect.applications.images import ImageValueFunction
    from interspect.applications.images.digits import DigitsClassifier, digit_image

    picks: dict[int, int] = {}
    for i in range(450):
        _, y = digit_image(i)
        if y < args.digits and y not in picks:
            picks[y] = i
    methods = [m for m in args.methods.split(",") if m]
    rows: dict[tuple[str, int], list[tuple[float, int, float]]] = {}
    exact_s = []
    for y in sorted(picks):
        img, _ = digit_image(picks[y])
        t = time.perf_counter()
        ref = explain_image(img, method="exact", n_test=0)
        exact_s.append(time.perf_counter() - t)
        top_ref = {it.features for it in ref.top(5)}
        vf = ImageValueFunction(img, DigitsClassifier())
        for m in methods:
            for b in args.budgets:
                t = time.perf_counter()
                e = explain_image(img, method=m, budget=b, n_test=0, seed=0)
                secs = time.perf_counter() - t
                r2 = faithfulness(e.spectrum, vf, n_test=1000, seed=12345)
                hit = len(top_ref & {it.features for it in e.top(5)})
                rows.setdefault((m, b), []).append((r2, hit, secs))
    lines = [
        f"Digits 0–{args.digits - 1} (one held-out image each), 4×4 cells, black masking, logit of the predicted class.",
        f"Exact reference: 65,536 masks, {np.mean(exact_s):.2f} s per digit on average.",
        "",
        "| method | budget | R² (1,000 fresh masks), mean / min | exact top-5 FBII terms found in top 5 | seconds |",
        "|---|---|---|---|---|",
    ]
    for (m, b), vals in rows.items():
        r2 = [v[0] for v in vals]
        lines.append(f"| {m} | {b} | {np.mean(r2):.4f} / {np.min(r2):.4f} | {np.mean([v[1] for v in vals]):.1f} / 5 | "
                     f"{np.mean([v[2] for v in vals]):.2f} |")
    table = "\n".join(lines)
    print(table)
    if args.out:
        load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
        cmd = "python " + " ".join([os.path.relpath(__file__), *(argv if argv is not None else sys.argv[1:])])
        with open(args.out, "w") as f:
            f.write(f"# Images: the offline digits default\n\nCommand: `{cmd}`  \nLoad average at the end: {load:.1f} "
                    f"(2-core machine shared with other jobs; times are noisy).\n\n{table}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
