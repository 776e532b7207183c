"""Compare explainers side by side on real tasks: faithfulness (R²) and top-r removal per query budget.

:func:`run_bench` (the CLI's ``interspect bench --task sentiment --methods spex,proxyspex,lime,banzhaf
--budget 500 2000``) runs every method at every budget on every item, with the same value function
(so methods share model outputs through the query cache), and writes

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

import csv
import math
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from interspect.engines.registry import (
    AUTO,
    DEFAULT_N_TEST,
    DEFAULT_SEED,
    METHODS,
    get_method,
    run_method,
    seed_of_test_masks,
)
from interspect.evaluation.metrics import faithfulness, removal_curve
from interspect.queries.layer import Queries

__all__ = ["BenchConfig", "run_bench", "summarise", "BUCKETS", "BENCH_METHODS", "DATASETS", "DEFAULT_METHODS", "select_items"]

Task = Literal["sentiment", "puzzles", "synthetic"]
#: What a bench run explains: the shared data sets (one item per row) or synthetic games.
DATASETS: tuple[str, ...] = ("sentiment", "puzzles", "synthetic")
DEFAULT_METHODS = ("spex", "proxyspex", "lime", "kernelshap", "banzhaf", "fbii2")
#: What ``methods`` accepts: every registered method, and ``"auto"`` (the data-driven choice of
#: :func:`interspect.engines.auto.auto_method`; its line on stderr names what it chose).
BENCH_METHODS = (*METHODS, AUTO)
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


def _bucket(n: int) -> str:
    for label, lo, hi in BUCKETS:
        if lo <= n <= hi:
            return label
    return "<8"


@dataclass(frozen=True)
class BenchConfig:
    """What :func:`run_bench` runs; every field has the CLI option of the same name.

    ``data`` is the CSV of items for the text tasks (required for them: the library knows no
    repository layout); ``cache`` defaults to ``out/cache.sqlite`` and ``False`` turns it off.
    """

    task: Task = "sentiment"
    out: Path = Path("bench-out")
    data: Path | None = None
    model: str = "smollm2"
    methods: tuple[str, ...] = DEFAULT_METHODS
    budgets: tuple[int, ...] = (1000,)
    limit: int = 0
    per_bucket: int = 0
    min_n: int = 1
    max_n: int = 10**9
    n_test: int = DEFAULT_N_TEST
    removal: bool = True
    removal_time_limit: float = 5.0
    batch_size: int = 64
    seed: int = DEFAULT_SEED
    cache: Path | None | Literal[False] = None
    resume: bool = False
    synthetic_n: tuple[int, ...] = (16, 32, 64, 128)
    noise: float = 0.0

    def __post_init__(self) -> None:
        for m in self.methods:
            if m != AUTO:
                get_method(m)
        if self.task not in DATASETS:
            raise ValueError(f"task={self.task!r} is not supported; accepted values: {', '.join(map(repr, DATASETS))}")
        if not self.budgets or min(self.budgets) < 1:
            raise ValueError(f"budgets must be positive integers, got {self.budgets!r}")
        for name in ("limit", "per_bucket"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.n_test < 2:
            raise ValueError(f"n_test must be >= 2, got {self.n_test}")
        if self.task != "synthetic" and self.data is None:
            raise ValueError(f"task={self.task!r} needs data=PATH, the CSV of items (e.g. ../shared/data/{self.task}.csv)")


# ------------------------------------------------------------------------------------------ items
@dataclass
class Item:
    """One thing to explain: a value function over ``n`` features."""

    item: str
    n: int
    value_fn: Callable[[np.ndarray], Any]


def _read_csv(path: Path) -> list[dict[str, str]]:
    if not path.is_file():
        raise FileNotFoundError(f"data: no such file {path} (pass the data set with --data PATH)")
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _strip_quotes(text: str) -> str:
    # The shared sentiment.csv wraps each review in an extra pair of quotes (see its README).
    text = text.strip()
    while len(text) >= 2 and text[0] == text[-1] == '"':
        text = text[1:-1].strip()
    return text


def select_items(rows: list[tuple[str, int, Any]], config: BenchConfig) -> list[tuple[str, int, Any]]:
    """Filter by ``min_n``/``max_n``, keep ``per_bucket`` items per n bucket, then the first ``limit``."""
    rows = [r for r in rows if config.min_n <= r[1] <= config.max_n]
    if config.per_bucket:
        counts: dict[str, int] = {}
        picked = []
        for r in rows:
            b = _bucket(r[1])
            if counts.get(b, 0) < config.per_bucket:
                counts[b] = counts.get(b, 0) + 1
                picked.append(r)
        rows = picked
    if config.limit:
        rows = rows[: config.limit]
    return rows


def _synthetic_items(config: BenchConfig) -> Iterator[Item]:
    from interspect import games

    sizes = list(config.synthetic_n)
    limit = config.limit or 2 * len(sizes)
    candidates = [(f"synthetic-{i}", sizes[i % len(sizes)], i) for i in range(max(limit, len(sizes)) * 4)]
    for name, n, seed in select_items(candidates, config):
        # Hierarchical interactions squashed by tanh: sparse-ish but not exactly sparse, like LLM outputs.
        g = games.HierarchicalGame(n, n_top=max(3, n // 8), min_degree=2, max_degree=4, squash="tanh", noise_std=config.noise, seed=seed)
        yield Item(name, n, g)


def _text_items(config: BenchConfig) -> Iterator[Item]:
    from interspect.applications.language import load
    from interspect.applications.text import TextValueFunction

    path = Path(config.data)  # type: ignore[arg-type]
    data = _read_csv(path)
    if config.task == "sentiment":
        texts = [(f"{i}", int(row["n"]) if row.get("n") else len(row["review"].split()), row) for i, row in enumerate(data)]
    else:
        texts = [(f"{i}", len(row["context"].split()), row) for i, row in enumerate(data)]
    selected = select_items(texts, config)
    if not selected:
        raise ValueError(f"no items of {path} match min_n={config.min_n} max_n={config.max_n}")
    print(f"loading model {config.model!r} ...", file=sys.stderr)
    lm = load(config.model)
    for name, _, row in selected:
        if config.task == "sentiment":
            vf = TextValueFunction.for_task("sentiment", lm, _strip_quotes(row["review"]), unit="word", batch_size=config.batch_size)
        else:
            vf = TextValueFunction.for_task(
                "puzzle", lm, row["context"], question=row["question"], unit="word", batch_size=config.batch_size
            )
        yield Item(name, int(vf.n), vf)


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return "nan" if math.isnan(v) else f"{v:.6g}"
    return str(v)


# ------------------------------------------------------------------------------------------- run
def _run_one(config: BenchConfig, item: Item, queries: Queries, method: str, budget: int) -> list[Any]:
    before = queries.n_queries
    t0 = time.perf_counter()
    try:
        chose = ""
        if method == AUTO:
            from interspect.engines.auto import auto_method

            spectrum, info = auto_method(queries, item.n, budget, seed=config.seed)
            chose = f"  chose {info['method']}"
        else:
            spectrum = run_method(method, queries, item.n, budget, seed=config.seed)
    except (ValueError, RuntimeError) as exc:
        print(f"  {method:<10} budget {budget:>6}: skipped ({str(exc).splitlines()[0]})", file=sys.stderr)
        return [config.task, item.item, item.n, method, budget, queries.n_queries - before] + [math.nan] * (1 + len(REMOVAL_RS)) + [time.perf_counter() - t0]
    seconds = time.perf_counter() - t0
    r2 = faithfulness(spectrum, queries, n_test=config.n_test, seed=seed_of_test_masks(config.seed))
    if config.removal:
        kind = "marginal" if spectrum.degree <= 1 else "milp"
        curve = removal_curve(spectrum, queries, REMOVAL_RS, method=kind, time_limit=config.removal_time_limit)
        rem = [curve[r] for r in REMOVAL_RS]
    else:
        rem = [math.nan] * len(REMOVAL_RS)
    n_queries = int(spectrum.n_queries)
    print(f"  {method:<10} budget {budget:>6}: queries {n_queries:>6}  R² {r2:7.3f}  {seconds:6.1f} s{chose}", file=sys.stderr)
    return [config.task, item.item, item.n, method, budget, n_queries, r2, *rem, seconds]


def run_bench(config: BenchConfig) -> str:
    """Run the benchmark ``config`` describes; writes results.csv, summary.md and plots under
    ``config.out`` and returns the summary table (markdown)."""
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    cache = None if config.cache is False else (config.cache or out / "cache.sqlite")
    budgets = sorted(set(config.budgets))
    results = out / "results.csv"
    done: set[tuple[str, str, int]] = set()
    if config.resume and results.is_file():
        done = {(r["item"], r["method"], int(r["budget"])) for r in _read_csv(results)}
    else:
        with results.open("w", newline="") as fh:
            csv.writer(fh).writerow(COLUMNS)

    items = _synthetic_items(config) if config.task == "synthetic" else _text_items(config)
    for item in items:
        print(f"[{config.task} item {item.item}] n={item.n}", file=sys.stderr)
        t_item = time.perf_counter()
        # One query layer per item: every method and the test masks share its outputs and cache.
        use_cache = cache is not None and isinstance(getattr(item.value_fn, "identity", None), str)
        queries = Queries(item.value_fn, item.n, cache=cache if use_cache else None)
        for budget in budgets:
            for method in config.methods:
                if (item.item, method, budget) in done:
                    continue
                row = _run_one(config, item, queries, method, budget)
                with results.open("a", newline="") as fh:
                    csv.writer(fh).writerow([_fmt(v) for v in row])
        if use_cache:
            stats = queries.stats
            elapsed = time.perf_counter() - t_item
            print(
                f"  model: {stats['computed']} rows computed, {stats['from_cache']} from the cache, "
                f"{elapsed:.0f} s ({stats['computed'] / max(elapsed, 1e-9):.1f} rows/s)",
                file=sys.stderr,
            )
            queries.cache.close()

    rows = _read_results(results)
    if not rows:
        raise ValueError("no results: no item was selected")
    table = summarise(rows)
    (out / "summary.md").write_text(table + "\n")
    plots = _plots(rows, out)
    print(f"wrote {results}, {out / 'summary.md'}, " + ", ".join(str(p) for p in plots), file=sys.stderr)
    return table


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
    methods = [m for m in BENCH_METHODS if any(r["method"] == m for r in rows)]
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

    methods = [m for m in BENCH_METHODS if any(r["method"] == m for r in rows)]
    def line_plot(series: dict[str, list[tuple[float, float]]], path: Path, *, xlabel: str, ylabel: str,
                  title: str, base: int = 10) -> Path:
        fig, ax = plt.subplots(figsize=(6.4, 4.2))
        for m, pts in series.items():
            if pts:
                xs, ys = zip(*pts)
                ax.plot(xs, ys, marker="o", alpha=0.8, label=m)
        ax.set_xscale("log", base=base)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.set_title(title)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(path, dpi=120)
        plt.close(fig)
        return path

    ok = [r for r in rows if not math.isnan(r["r2"])]
    by_queries = {}
    for m in methods:
        pts = []
        for budget in sorted({r["budget"] for r in ok if r["method"] == m}):
            sel = [r for r in ok if r["method"] == m and r["budget"] == budget]
            pts.append((_mean([r["n_queries"] for r in sel]), _mean([r["r2"] for r in sel])))
        by_queries[m] = pts
    top_budget = max((r["budget"] for r in rows), default=0)
    by_n = {m: sorted((r["n"], r["r2"]) for r in ok if r["method"] == m and r["budget"] == top_budget) for m in methods}
    paths = [
        line_plot(by_queries, out / "r2_vs_queries.png", xlabel="model queries (mean per item)",
                  ylabel="faithfulness R² (mean over items)", title="R² against queries"),
        line_plot(by_n, out / "r2_vs_n.png", xlabel="n (features)", ylabel="faithfulness R²",
                  title=f"R² against n (budget {top_budget})", base=2),
    ]
    return paths


