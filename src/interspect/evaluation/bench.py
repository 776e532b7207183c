"""Compare explainers side by side on real tasks: faithfulness (R²) and top-r removal per query budget.

``interspect bench --task sentiment --methods spex,proxyspex,lime,banzhaf --budget 500 2000``
runs every method at every budget on every item, with the same value function (so methods share
model outputs through the query cache), and writes

- ``results.csv`` — one row per (item, method, budget): task, item, n, method, budget, n_queries,
  r2, removal_r1..removal_r5, seconds;
- ``r2_vs_queries.png`` and ``r2_vs_n.png`` — plots (matplotlib, Agg backend);
- ``summary.md`` — the table printed at the end: mean R² per method and budget, bucketed by n
  (8–15, 16–31, 32–63, 64–127, 128+) like the SPEX paper.

R² is measured on ``--n-test`` fresh uniformly random masks, the same masks for every method of an
item (so they are computed once). Removal uses the exact binary program of
:func:`interspect.evaluation.metrics.removal_mask` (first-order methods rank by their scores).
"""

from __future__ import annotations

import argparse
import csv
import math
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from interspect.evaluation.metrics import faithfulness, removal_curve

__all__ = ["add_arguments", "run", "METHODS", "BUCKETS", "summarise", "run_method"]

TASKS = ("sentiment", "puzzles", "synthetic")
ALGORITHMS = ("spex", "proxyspex")
BASELINE_NAMES = (
    "lime", "kernelshap", "banzhaf",
    "fbii2", "fbii3", "fbii4", "fsii2", "fsii3", "fsii4", "stii2", "stii3", "stii4",
)  # fmt: skip
METHODS = ALGORITHMS + BASELINE_NAMES
DEFAULT_METHODS = "spex,proxyspex,lime,kernelshap,banzhaf,fbii2"
REMOVAL_RS = (1, 2, 3, 4, 5)
COLUMNS = ["task", "item", "n", "method", "budget", "n_queries", "r2"] + [f"removal_r{r}" for r in REMOVAL_RS] + ["seconds"]
#: Buckets of n, as in the SPEX paper's sentiment table (label, low, high inclusive).
BUCKETS: tuple[tuple[str, int, float], ...] = (
    ("8-15", 8, 15),
    ("16-31", 16, 31),
    ("32-63", 32, 63),
    ("64-127", 64, 127),
    ("128+", 128, math.inf),
)
REPO_ROOT = Path(__file__).resolve().parents[2]


def _bucket(n: int) -> str:
    for label, lo, hi in BUCKETS:
        if lo <= n <= hi:
            return label
    return "<8"


# ------------------------------------------------------------------------------------------ items
@dataclass
class Item:
    """One thing to explain: a value function over ``n`` features."""

    item: str
    n: int
    value_fn: Callable[[np.ndarray], Any]


def _read_csv(path: Path) -> list[dict[str, str]]:
    if not path.is_file():
        raise FileNotFoundError(f"--data: no such file {path} (pass the data set with --data PATH)")
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _strip_quotes(text: str) -> str:
    # The shared sentiment.csv wraps each review in an extra pair of quotes (see its README).
    text = text.strip()
    while len(text) >= 2 and text[0] == text[-1] == '"':
        text = text[1:-1].strip()
    return text


def _select(rows: list[tuple[str, int, Any]], args: argparse.Namespace) -> list[tuple[str, int, Any]]:
    """Filter by --min-n/--max-n, keep --per-bucket items per n bucket, then the first --limit."""
    rows = [r for r in rows if args.min_n <= r[1] <= args.max_n]
    if args.per_bucket:
        counts: dict[str, int] = {}
        picked = []
        for r in rows:
            b = _bucket(r[1])
            if counts.get(b, 0) < args.per_bucket:
                counts[b] = counts.get(b, 0) + 1
                picked.append(r)
        rows = picked
    if args.limit:
        rows = rows[: args.limit]
    return rows


def _synthetic_items(args: argparse.Namespace) -> Iterator[Item]:
    from interspect import games

    sizes = [int(s) for s in str(args.synthetic_n).split(",") if s.strip()]
    limit = args.limit or 2 * len(sizes)
    candidates = [(f"synthetic-{i}", sizes[i % len(sizes)], i) for i in range(max(limit, len(sizes)) * 4)]
    for name, n, seed in _select(candidates, args):
        # Hierarchical interactions squashed by tanh: sparse-ish but not exactly sparse, like LLM outputs.
        g = games.HierarchicalGame(n, n_top=max(3, n // 8), min_degree=2, max_degree=4, squash="tanh", noise_std=args.noise, seed=seed)
        yield Item(name, n, g)


def _load_model(args: argparse.Namespace) -> Any:
    from interspect.applications.language import load

    print(f"loading model {args.model!r} ...", file=sys.stderr)
    return load(args.model)


def _text_items(args: argparse.Namespace, cache: str | None) -> Iterator[Item]:
    from interspect.applications.text import TextValueFunction

    task = args.task
    if args.data:
        path = Path(args.data)
    else:
        # ../shared/data/<task>.csv next to the repository (from its root, or from the source tree).
        candidates = [Path.cwd().parent / "shared" / "data" / f"{task}.csv", REPO_ROOT.parent / "shared" / "data" / f"{task}.csv"]
        path = next((c for c in candidates if c.is_file()), candidates[0])
    data = _read_csv(path)
    if task == "sentiment":
        texts = [(f"{i}", int(row["n"]) if row.get("n") else len(row["review"].split()), row) for i, row in enumerate(data)]
    else:
        texts = [(f"{i}", len(row["context"].split()), row) for i, row in enumerate(data)]
    selected = _select(texts, args)
    if not selected:
        raise ValueError(f"no items of {path} match --min-n {args.min_n} --max-n {args.max_n}")
    lm = _load_model(args)
    for name, _, row in selected:
        if task == "sentiment":
            vf = TextValueFunction.for_task("sentiment", lm, _strip_quotes(row["review"]), unit="word", cache=cache, batch_size=args.batch_size)
        else:
            vf = TextValueFunction.for_task(
                "puzzle", lm, row["context"], question=row["question"], unit="word", cache=cache, batch_size=args.batch_size
            )
        yield Item(name, int(vf.n), vf)


# ---------------------------------------------------------------------------------------- methods
def run_method(method: str, value_fn: Callable[[np.ndarray], Any], n: int, budget: int, *, seed: int = 0) -> Any:
    """Run one method (an algorithm or a baseline name) and return its :class:`Spectrum`."""
    if method == "spex":
        from interspect import spex

        return spex(value_fn, n, budget, seed=seed)
    if method == "proxyspex":
        from interspect import proxyspex

        return proxyspex(value_fn, n, budget, seed=seed)
    from interspect.engines.baselines import get_baseline

    return get_baseline(method)(value_fn, n, budget, seed=seed)


class _Counting:
    """Counts rows requested from a value function (what the method asked for, cached or not)."""

    def __init__(self, fn: Callable[[np.ndarray], Any]) -> None:
        self.fn = fn
        self.rows = 0

    def __call__(self, X: np.ndarray) -> Any:
        self.rows += len(X)
        return self.fn(X)


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return "nan" if math.isnan(v) else f"{v:.6g}"
    return str(v)


# ---------------------------------------------------------------------------------------- summary
def _read_results(path: Path) -> list[dict[str, Any]]:
    rows = []
    for r in _read_csv(path):
        out: dict[str, Any] = dict(r)
        for k in ("n", "budget", "n_queries"):
            out[k] = int(float(r[k])) if r[k] not in ("", "nan") else 0
        for k in ["r2", "seconds"] + [f"removal_r{x}" for x in REMOVAL_RS]:
            out[k] = float(r[k]) if r[k] != "" else math.nan
        rows.append(out)
    return rows


def _mean(xs: Sequence[float]) -> float:
    xs = [x for x in xs if not math.isnan(x)]
    return float(np.mean(xs)) if xs else math.nan


def summarise(rows: list[dict[str, Any]]) -> str:
    """A markdown table: mean R² (items) per method × budget and n bucket, plus queries and removal."""
    buckets = [b[0] for b in BUCKETS if any(_bucket(r["n"]) == b[0] for r in rows)]
    methods = [m for m in METHODS if any(r["method"] == m for r in rows)]
    budgets = sorted({r["budget"] for r in rows})
    head = ["method", "budget", "mean queries"] + [f"R² n {b}" for b in buckets] + ["R² n≥32", "removal r=1..5 (mean)", "s/item"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for budget in budgets:
        for m in methods:
            # Rows where the method could not run at this budget (NaN R²) are left out.
            sel = [r for r in rows if r["method"] == m and r["budget"] == budget and not math.isnan(r["r2"])]
            if not sel:
                continue
            cells = [m, str(budget), f"{_mean([r['n_queries'] for r in sel]):.0f}"]
            for b in buckets:
                vals = [r["r2"] for r in sel if _bucket(r["n"]) == b]
                k = sum(not math.isnan(v) for v in vals)
                cells.append(f"{_mean(vals):.3f} ({k})" if k else "–")
            big = [r["r2"] for r in sel if r["n"] >= 32]
            cells.append(f"{_mean(big):.3f}" if not math.isnan(_mean(big)) else "–")
            rem = [_mean([r[f"removal_r{x}"] for r in sel]) for x in REMOVAL_RS]
            cells.append(" / ".join("–" if math.isnan(v) else f"{v:.2f}" for v in rem))
            cells.append(f"{_mean([r['seconds'] for r in sel]):.1f}")
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _plots(rows: list[dict[str, Any]], out: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    methods = [m for m in METHODS if any(r["method"] == m for r in rows)]
    paths = []
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for m in methods:
        pts = []
        for budget in sorted({r["budget"] for r in rows if r["method"] == m}):
            sel = [r for r in rows if r["method"] == m and r["budget"] == budget and not math.isnan(r["r2"])]
            if sel:
                pts.append((_mean([r["n_queries"] for r in sel]), _mean([r["r2"] for r in sel])))
        if pts:
            xs, ys = zip(*pts)
            ax.plot(xs, ys, marker="o", label=m)
    ax.set_xscale("log")
    ax.set_xlabel("model queries (mean per item)")
    ax.set_ylabel("faithfulness R² (mean over items)")
    ax.set_title("R² against queries")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    paths.append(out / "r2_vs_queries.png")
    fig.savefig(paths[-1], dpi=120)
    plt.close(fig)

    top_budget = max((r["budget"] for r in rows), default=0)
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for m in methods:
        sel = sorted((r["n"], r["r2"]) for r in rows if r["method"] == m and r["budget"] == top_budget and not math.isnan(r["r2"]))
        if sel:
            xs, ys = zip(*sel)
            ax.plot(xs, ys, marker="o", linestyle="-", alpha=0.8, label=m)
    ax.set_xscale("log", base=2)
    ax.set_xlabel("n (features)")
    ax.set_ylabel("faithfulness R²")
    ax.set_title(f"R² against n (budget {top_budget})")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    paths.append(out / "r2_vs_n.png")
    fig.savefig(paths[-1], dpi=120)
    plt.close(fig)
    return paths


# -------------------------------------------------------------------------------------------- CLI
def _int_list(text: str) -> list[int]:
    try:
        vals = [int(float(v)) for v in text.replace(",", " ").split()]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected integers, got {text!r}") from exc
    if not vals or min(vals) < 1:
        raise argparse.ArgumentTypeError(f"budgets must be positive integers, got {text!r}")
    return vals


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``interspect bench`` options to ``parser``."""
    parser.add_argument("--task", choices=TASKS, default="sentiment", help="what to explain (default: sentiment)")
    parser.add_argument("--data", default=None, help="CSV of items (default: ../shared/data/<task>.csv next to the repo)")
    parser.add_argument("--model", default="smollm2", help="language model for text tasks (default: smollm2, the embedded model)")
    parser.add_argument("--methods", default=DEFAULT_METHODS, help=f"comma-separated, from: {','.join(METHODS)} (default: {DEFAULT_METHODS})")
    parser.add_argument("--budget", type=_int_list, nargs="+", default=[[1000]], help="one or several query budgets, e.g. --budget 500 2000 (default: 1000)")
    parser.add_argument("--limit", type=int, default=0, help="at most K items (after the n filters); 0 = all")
    parser.add_argument("--per-bucket", type=int, default=0, help="at most K items per n bucket (8-15, 16-31, 32-63, 64-127, 128+)")
    parser.add_argument("--min-n", type=int, default=1, help="skip items with fewer features")
    parser.add_argument("--max-n", type=int, default=10**9, help="skip items with more features")
    parser.add_argument("--n-test", type=int, default=300, help="fresh random masks for R² per item (default: 300)")
    parser.add_argument("--no-removal", action="store_true", help="skip the top-r removal metric (saves 6 queries per row)")
    parser.add_argument("--removal-time-limit", type=float, default=5.0, help="seconds per removal binary program before falling back to the best found (default: 5)")
    parser.add_argument("--batch-size", type=int, default=64, help="masked prompts per model call (default: 64)")
    parser.add_argument("--seed", type=int, default=0, help="seed of every method and of the test masks")
    parser.add_argument("--out", default="bench-out", help="output directory (default: bench-out)")
    parser.add_argument("--cache", default=None, help="SQLite query cache shared by all methods (default: OUT/cache.sqlite; 'none' to disable)")
    parser.add_argument("--resume", action="store_true", help="keep rows already in OUT/results.csv and run only the missing ones")
    parser.add_argument("--synthetic-n", default="16,32,64,128", help="feature counts of the synthetic items (default: 16,32,64,128)")
    parser.add_argument("--noise", type=float, default=0.0, help="noise std of the synthetic task (default: 0)")


def run(args: argparse.Namespace) -> int:
    """Run the benchmark described by ``args`` (see :func:`add_arguments`); returns an exit code."""
    methods = [m.strip() for m in str(args.methods).split(",") if m.strip()]
    for m in methods:
        if m not in METHODS:
            raise ValueError(f"--methods: unknown method {m!r}; accepted values: {', '.join(METHODS)}")
    budgets = sorted({b for group in args.budget for b in (group if isinstance(group, list) else [group])})
    for name in ("limit", "per_bucket"):
        if getattr(args, name) < 0:
            raise ValueError(f"--{name.replace('_', '-')} must be >= 0, got {getattr(args, name)}")
    if args.n_test < 2:
        raise ValueError(f"--n-test must be >= 2, got {args.n_test}")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    cache: str | None = str(args.cache) if args.cache else str(out / "cache.sqlite")
    if cache.lower() == "none":
        cache = None
    results = out / "results.csv"
    done: set[tuple[str, str, int]] = set()
    if args.resume and results.is_file():
        done = {(r["item"], r["method"], int(r["budget"])) for r in _read_csv(results)}
    else:
        with results.open("w", newline="") as fh:
            csv.writer(fh).writerow(COLUMNS)

    items = _synthetic_items(args) if args.task == "synthetic" else _text_items(args, cache)
    for item in items:
        print(f"[{args.task} item {item.item}] n={item.n}", file=sys.stderr)
        t_item = time.perf_counter()
        for budget in budgets:
            for method in methods:
                if (item.item, method, budget) in done:
                    continue
                counted = _Counting(item.value_fn)
                t0 = time.perf_counter()
                try:
                    spectrum = run_method(method, counted, item.n, budget, seed=args.seed)
                except (ValueError, RuntimeError) as exc:
                    print(f"  {method:<10} budget {budget:>6}: skipped ({str(exc).splitlines()[0]})", file=sys.stderr)
                    row = [args.task, item.item, item.n, method, budget, counted.rows] + [math.nan] * (1 + len(REMOVAL_RS)) + [time.perf_counter() - t0]
                else:
                    seconds = time.perf_counter() - t0
                    r2 = faithfulness(spectrum, item.value_fn, n_test=args.n_test, seed=10_000 + args.seed)
                    if args.no_removal:
                        rem = [math.nan] * len(REMOVAL_RS)
                    else:
                        kind = "marginal" if spectrum.degree <= 1 else "milp"
                        curve = removal_curve(spectrum, item.value_fn, REMOVAL_RS, method=kind, time_limit=args.removal_time_limit)
                        rem = [curve[r] for r in REMOVAL_RS]
                    n_queries = int(spectrum.n_queries or counted.rows)
                    row = [args.task, item.item, item.n, method, budget, n_queries, r2, *rem, seconds]
                    print(f"  {method:<10} budget {budget:>6}: queries {n_queries:>6}  R² {r2:7.3f}  {seconds:6.1f} s", file=sys.stderr)
                with results.open("a", newline="") as fh:
                    csv.writer(fh).writerow([_fmt(v) for v in row])
        stats = getattr(item.value_fn, "stats", None)
        if stats:
            computed = int(stats.get("computed", 0))
            elapsed = time.perf_counter() - t_item
            print(
                f"  model: {computed} rows computed, {int(stats.get('from_cache', 0))} from the cache, "
                f"{elapsed:.0f} s ({computed / max(elapsed, 1e-9):.1f} rows/s)",
                file=sys.stderr,
            )

    rows = _read_results(results)
    if not rows:
        print("no results", file=sys.stderr)
        return 1
    table = summarise(rows)
    (out / "summary.md").write_text(table + "\n")
    plots = _plots(rows, out)
    print(table)
    print(f"\nwrote {results}, {out / 'summary.md'}, " + ", ".join(str(p) for p in plots))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Stand-alone entry point (``python -m interspect.evaluation.bench``)."""
    parser = argparse.ArgumentParser(prog="interspect bench", description=(__doc__ or "").splitlines()[0])
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
