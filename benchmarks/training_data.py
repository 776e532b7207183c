"""Training data as features: which training examples work together to drive a prediction (issue 14).

Usage::

    nice -n 10 python benchmarks/training_data.py --out benchmarks/results_training_data.md
    python benchmarks/training_data.py --quick        # small budgets, a smoke test (minutes)

Every retrain goes through interspect's query layer (``Queries``) with a process-pool executor
(``--jobs``, default 2) and one SQLite cache per value function, so masks shared by methods (the
test subsets) are retrained once. Parts, printed as markdown:

1. Digits (``load_digits``, 70/30 stratified split, seed 0), 64 k-means clusters of the 1,257
   training digits as features, logistic regression retrained on every subset, output = the
   true-class margin at the most borderline test digit. Faithfulness R² on fresh uniformly
   random subsets for ProxySPEX, SPEX, LIME and Banzhaf at one budget, and leave-one-out (which
   spends n + 1 = 65 retrains whatever the budget).
2. The planted case: the test digit itself, with its true label, added k = 4 times to the
   training set; features = the 4 copies + 60 k-means clusters of the other training digits.
   ProxySPEX at the same budget: do the 6 copy pairs come out as the most negative pairwise
   interactions (BII)? Beside it, one copy pair's Banzhaf interaction measured directly on random
   contexts, and leave-one-out of the copies against removing all of them.
3. n = 1,000 single training examples: SPEX with b = 5, max_degree = 2 (2,016 retrains), R² on
   fresh subsets, wall time on this machine.
4. Cost per retrain (half the training set, as a random subset keeps) at 1,000 and 10,000
   training examples (10,000 = the digits and their one-pixel shifts), the measured parallel
   speed-up of ``--jobs`` processes over one, and projections: SPEX's default design at
   n = 1,000 and 10,000 on this machine and on a Ray cluster of N machines like it.
"""

from __future__ import annotations

import argparse
import itertools
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

TEST_SEED = 20250


def _queries(vf: Any, tmp: Path, jobs: int) -> Any:
    from interspect.queries.cache import QueryCache
    from interspect.queries.executors import ProcessExecutor
    from interspect.queries.layer import Queries

    cache = QueryCache(tmp / f"{vf.identity[:16]}.sqlite")
    executor = ProcessExecutor(jobs) if jobs > 1 else None
    return Queries(vf, vf.n, cache=cache, executor=executor), executor


def _r2(spectrum: Any, queries: Any, X: np.ndarray, y: np.ndarray) -> float:
    from interspect.evaluation.metrics import r2_score

    return float(r2_score(y, spectrum.predict(X)))


def _digits_case(seed: int = 0) -> tuple[Any, int, dict]:
    from interspect.applications.training_data.datasets import load_case, pick_test_point

    case = load_case("digits", seed=seed)
    i, info = pick_test_point(case, "logistic", which="borderline", seed=seed)
    return case, i, info


# ---------------------------------------------------------------------------------- part 1
def part_methods(case: Any, i: int, budget: int, n_test: int, jobs: int, tmp: Path) -> tuple[list[dict], dict]:
    from interspect.applications.training_data import TrainingDataValueFunction
    from interspect.applications.training_data.valuation import leave_one_out
    from interspect.engines.registry import run_method

    vf = TrainingDataValueFunction(case.X_train, case.y_train, case.X_test[i], case.y_test[i],
                                   groups="kmeans", n_groups=64, class_names=case.class_names)
    q, ex = _queries(vf, tmp, jobs)
    rows = []
    try:
        X_test = np.random.default_rng(TEST_SEED).integers(0, 2, size=(n_test, vf.n), dtype=np.uint8)
        start = time.perf_counter()
        y_test = q(X_test)
        test_s = time.perf_counter() - start
        for name in ("proxyspex", "spex", "lime", "banzhaf", "loo"):
            before = q.stats["computed"]
            start = time.perf_counter()
            s = leave_one_out(q, vf.n) if name == "loo" else run_method(name, q, vf.n, budget, seed=0)
            secs = time.perf_counter() - start
            rows.append({"method": name, "queries": int(s.n_queries), "r2": _r2(s, q, X_test, y_test),
                         "seconds": secs, "retrains": q.stats["computed"] - before})
    finally:
        q.close()
        if ex is not None:
            ex.close()
    return rows, {"n_test": n_test, "test_seconds": test_s, "var": float(np.var(y_test))}


# ---------------------------------------------------------------------------------- part 2
def part_planted(case: Any, i: int, budget: int, k: int, contexts: int, jobs: int, tmp: Path, learner: Any = "logistic") -> dict:
    from sklearn.cluster import KMeans
    from threadpoolctl import threadpool_limits

    from interspect.applications.training_data import TrainingDataValueFunction
    from interspect.applications.training_data.valuation import leave_one_out
    from interspect.engines.registry import run_method

    x, label = case.X_test[i], case.y_test[i]
    with threadpool_limits(limits=1):
        clusters = KMeans(n_clusters=64 - k, n_init=3, random_state=0).fit_predict(case.X_train)
    Xtr = np.vstack([case.X_train, np.repeat(x[None], k, axis=0)])
    ytr = np.concatenate([case.y_train, np.full(k, label)])
    ids = np.concatenate([[f"cluster {c}" for c in clusters], [f"copy {j}" for j in range(k)]])
    vf = TrainingDataValueFunction(Xtr, ytr, x, label, groups=ids, learner=learner)
    copies = [vf.grouping.labels.index(f"copy {j}") for j in range(k)]
    q, ex = _queries(vf, tmp, jobs)
    try:
        start = time.perf_counter()
        s = run_method("proxyspex", q, vf.n, budget, seed=0)
        secs = time.perf_counter() - start
        bii = s.interactions("BII")
        pairs = {key: v for key, v in bii.items() if len(key) == 2}
        copy_pairs = [tuple(sorted(p)) for p in itertools.combinations(copies, 2)]
        ranking = sorted(pairs, key=pairs.get)
        ranks = [ranking.index(p) + 1 if p in pairs else None for p in copy_pairs]
        # One copy pair's Banzhaf interaction measured directly: the mean second difference over
        # random contexts of the other features.
        a, b = copies[0], copies[1]
        rng = np.random.default_rng(TEST_SEED + 1)
        ctx = rng.integers(0, 2, size=(contexts, vf.n), dtype=np.uint8)
        rows = []
        for xa, xb in ((1, 1), (1, 0), (0, 1), (0, 0)):
            r = ctx.copy()
            r[:, a], r[:, b] = xa, xb
            rows.append(r)
        y = q(np.vstack(rows)).reshape(4, contexts)
        second = y[0] - y[1] - y[2] + y[3]
        loo = leave_one_out(q, vf.n).interactions("Moebius")
        full = np.ones((1, vf.n), dtype=np.uint8)
        none = full.copy()
        none[0, copies] = 0
        drop_all = float(q(full)[0] - q(none)[0])
    finally:
        q.close()
        if ex is not None:
            ex.close()
    estimated = pairs.get((a, b), 0.0) if a < b else pairs.get((b, a), 0.0)
    measured_se = float(second.std(ddof=1) / np.sqrt(contexts))
    return {
        "agrees": abs(estimated - float(second.mean())) <= 2 * measured_se,
        "k": k, "n": vf.n, "budget": budget, "seconds": secs, "ranks": ranks,
        "values": [pairs.get(p, 0.0) for p in copy_pairs],
        "first": [bii.get((c,), 0.0) for c in copies],
        "measured": float(second.mean()), "measured_se": float(second.std(ddof=1) / np.sqrt(contexts)),
        "estimated": pairs.get((a, b), 0.0) if a < b else pairs.get((b, a), 0.0),
        "contexts": contexts, "loo": [loo.get((c,), 0.0) for c in copies], "drop_all": drop_all,
        "all_negative": all(pairs.get(p, 0.0) < 0 for p in copy_pairs),
        "top": all(r is not None and r <= len(copy_pairs) for r in ranks),
    }


# ---------------------------------------------------------------------------------- part 3
def part_thousand(case: Any, i: int, n: int, n_test: int, jobs: int, tmp: Path) -> dict:
    from interspect.applications.training_data import TrainingDataValueFunction
    from interspect.engines.registry import run_method
    from interspect.engines.spex import spex_budget

    sel = np.arange(n)
    vf = TrainingDataValueFunction(case.X_train[sel], case.y_train[sel], case.X_test[i], case.y_test[i],
                                   groups="examples", class_names=case.class_names)
    budget = spex_budget(n, 5, 2)
    q, ex = _queries(vf, tmp, jobs)
    try:
        start = time.perf_counter()
        s = run_method("spex", q, n, budget, seed=0, max_degree=2)
        secs = time.perf_counter() - start
        X_test = np.random.default_rng(TEST_SEED + 2).integers(0, 2, size=(n_test, n), dtype=np.uint8)
        y_test = q(X_test)
        r2 = _r2(s, q, X_test, y_test)
    finally:
        q.close()
        if ex is not None:
            ex.close()
    return {"n": n, "budget": budget, "queries": int(s.n_queries), "seconds": secs, "r2": r2,
            "terms": len(s), "n_test": n_test}


# ---------------------------------------------------------------------------------- part 4
def _shifted_digits(m: int) -> tuple[np.ndarray, np.ndarray]:
    """m examples: the digits and their one-pixel shifts (the 8 neighbours), in that order."""
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    imgs = (X / 16.0).reshape(-1, 8, 8)
    out, labels = [imgs], [y]
    for dy, dx in itertools.product((-1, 0, 1), repeat=2):
        if (dy, dx) != (0, 0):
            out.append(np.roll(np.roll(imgs, dy, axis=1), dx, axis=2))
            labels.append(y)
    Xa = np.concatenate(out).reshape(-1, 64)[:m]
    return Xa, np.concatenate(labels)[:m]


def retrain_seconds(m_train: int, repeats: int) -> tuple[float, float]:
    """Median wall and CPU time of one retrain (logistic regression, one thread) on half of m_train examples."""
    from threadpoolctl import threadpool_limits

    from interspect.applications.training_data.learners import make_learner

    X, y = _shifted_digits(m_train)
    learner = make_learner("logistic", 0)
    rng = np.random.default_rng(0)
    times, cpus = [], []
    with threadpool_limits(limits=1):
        for _ in range(repeats):
            keep = rng.random(len(y)) < 0.5
            start, cpu = time.perf_counter(), time.process_time()
            learner.fit(X[keep], y[keep]).predict_proba(X[:1])
            times.append(time.perf_counter() - start)
            cpus.append(time.process_time() - cpu)
    return float(np.median(times)), float(np.median(cpus))


def part_speedup(case: Any, i: int, m: int, jobs: int, tmp: Path) -> dict:
    """Serial against 1 and ``jobs`` worker processes on fresh masks, interleaved (A, B, A, B) so
    that a change in the machine's load hits both sides alike."""
    from interspect.applications.training_data import TrainingDataValueFunction
    from interspect.queries.executors import ProcessExecutor
    from interspect.queries.layer import Queries

    vf = TrainingDataValueFunction(case.X_train, case.y_train, case.X_test[i], case.y_test[i],
                                   groups="kmeans", n_groups=64, batch_size=4)
    rng = np.random.default_rng(TEST_SEED + 3)
    result: dict[str, Any] = {"m": 2 * m, "jobs": jobs, "equal": True}
    serial_wall = serial_cpu = 0.0
    for workers in (1, jobs):
        with ProcessExecutor(workers) as ex:
            # Starts the workers and lets each retrain a few times (lazy imports of the first fit).
            start = time.perf_counter()
            Queries(vf, vf.n, executor=ex)(rng.integers(0, 2, size=(4 * workers, vf.n), dtype=np.uint8))
            startup = time.perf_counter() - start
            t_serial = t_pool = 0.0
            for _ in range(2):
                X = rng.integers(0, 2, size=(m, vf.n), dtype=np.uint8)
                start, cpu = time.perf_counter(), time.process_time()
                a = Queries(vf, vf.n)(X)
                t_serial += time.perf_counter() - start
                serial_cpu += time.process_time() - cpu
                start = time.perf_counter()
                b = Queries(vf, vf.n, executor=ex)(X)
                t_pool += time.perf_counter() - start
                result["equal"] &= bool(np.array_equal(a, b))
        serial_wall += t_serial
        result[f"serial_{workers}"], result[f"pool_{workers}"] = t_serial, t_pool
        result[f"startup_{workers}"] = startup
    result["cpu_share"] = serial_cpu / serial_wall
    result["overhead"] = result["pool_1"] / result["serial_1"]
    result["speedup"] = result[f"serial_{jobs}"] / result[f"pool_{jobs}"]
    return result


# ---------------------------------------------------------------------------------- output
def _fmt(v: float, p: int = 3) -> str:
    return f"{v:.{p}f}"


def _duration(s: float) -> str:
    if s < 120:
        return f"{s:.0f} s"
    if s < 7200:
        return f"{s / 60:.1f} min"
    return f"{s / 3600:.1f} h"


def report(args: argparse.Namespace, info: dict, i: int, methods: list[dict], test: dict, planted: list[dict],
           big: dict, speed: dict, costs: dict, wall: float) -> str:
    from interspect.engines.registry import default_budget

    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    jobs = speed["jobs"]
    serial_j, pool_j, startup_j = speed[f"serial_{jobs}"], speed[f"pool_{jobs}"], speed[f"startup_{jobs}"]
    out = [
        "# Training data as features (issue 14)",
        "",
        f"Command: `{' '.join(['python', *sys.argv])}`  ",
        f"Machine: {platform.machine()}, {os.cpu_count()} CPUs, shared with other jobs (load average at the end "
        f"{load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}); Python {platform.python_version()}; "
        f"retrains in {args.jobs} worker processes through the query layer. Whole run: {_duration(wall)}.",
        "",
        f"## 1. Digits, 64 k-means clusters, budget {args.budget}",
        "",
        f"Test digit #{i} of the test split: label {info['label']}, the model on all 1,257 training digits "
        f"predicts {info['predicted']} (true-class margin {info['margin']:.3f}). Output: true-class margin of "
        f"logistic regression retrained on each subset. R² on {test['n_test']} fresh uniformly random subsets "
        f"(the same for every method; their outputs' variance {test['var']:.3f}).",
        "",
        "| method | retrains used | of them new (the rest from the shared cache) | faithfulness R² | seconds |",
        "|---|---|---|---|---|",
    ]
    names = {"proxyspex": "ProxySPEX", "spex": "SPEX", "lime": "LIME", "banzhaf": "Banzhaf", "loo": "leave-one-out"}
    for r in methods:
        extra = " (all it uses: n + 1)" if r["method"] == "loo" else ""
        out.append(f"| {names[r['method']]} | {r['queries']}{extra} | {r['retrains']} | {_fmt(r['r2'])} | {r['seconds']:.0f} |")
    p = planted[0]
    heads = " | ".join(q["learner_name"] for q in planted)

    def row(name: str, f: Any) -> str:
        return f"| {name} | " + " | ".join(f(q) for q in planted) + " |"

    out += [
        "",
        f"## 2. Planted duplicates: the test digit added {p['k']} times to the training set",
        "",
        f"Features: the {p['k']} copies + {p['n'] - p['k']} k-means clusters of the other training digits (n = {p['n']}). "
        f"ProxySPEX, budget {p['budget']}. The second learner regularises less, so it memorises a training "
        "digit the way the networks of ProxySPEX's CIFAR-10 case study do.",
        "",
        f"| | {heads} |",
        "|---|" + "---|" * len(planted),
        row(f"copy pairs' ranks among the most negative pairwise BII (of {p['n'] * (p['n'] - 1) // 2} pairs)", lambda q: ", ".join(str(r) for r in q["ranks"])),
        row("copy pairs' BII", lambda q: ", ".join(f"{v:+.3f}" for v in q["values"])),
        row("copies' first-order BII (Banzhaf values)", lambda q: ", ".join(f"{v:+.3f}" for v in q["first"])),
        row(f"one pair's BII measured directly ({p['contexts']} random contexts × 4 retrains)", lambda q: f"{q['measured']:+.3f} ± {q['measured_se']:.3f} (ProxySPEX: {q['estimated']:+.3f})"),
        row("leave-one-out of each copy", lambda q: ", ".join(f"{v:+.3f}" for v in q["loo"])),
        row(f"removing all {p['k']} copies (all other data kept)", lambda q: f"{q['drop_all']:+.3f}"),
        row("ProxySPEX seconds", lambda q: f"{q['seconds']:.0f}"),
        row("recovered: every copy pair negative", lambda q: "yes" if q["all_negative"] else "no"),
        row("recovered: the pair's estimate within 2 s.e. of its direct measurement", lambda q: "yes" if q["agrees"] else "no"),
        row(f"the {len(p['ranks'])} copy pairs are the {len(p['ranks'])} most negative pairs", lambda q: "yes" if q["top"] else "no (other substitutes, e.g. clusters of the same digit, interact more strongly)"),
        "",
        f"## 3. n = {big['n']:,} single training examples, SPEX (b = 5, max_degree = 2)",
        "",
        "| retrains | wall time | terms | R² on fresh subsets |",
        "|---|---|---|---|",
        f"| {big['queries']:,} | {_duration(big['seconds'])} | {big['terms']} | {_fmt(big['r2'])} ({big['n_test']} subsets) |",
        "",
        "## 4. Cost per retrain, parallel speed-up, projections",
        "",
        f"Parallel speed-up, {speed['m']} retrains of part 1's value function, serial and pooled runs interleaved: "
        f"one process {serial_j:.1f} s, {jobs} worker processes {pool_j:.1f} s → **{speed['speedup']:.2f}×**. "
        f"One worker process against serial: {speed['overhead']:.2f}× the time (the executor's own overhead). "
        f"Worker start-up {startup_j:.1f} s, once per run, not included. Outputs identical to serial: "
        f"{'yes' if speed['equal'] else 'NO'}. During the serial runs this process got "
        f"{speed['cpu_share']:.2f} of a core (CPU time ÷ wall time)"
        + (
            ": other jobs held the machine's cores, so a second process found no idle core to run on and "
            "the speed-up here measures the machine's load rather than the executor."
            if speed["cpu_share"] < 0.8 else "."
        ),
        "",
        "| training examples | one retrain, wall (CPU) | SPEX default design | this machine, 1 process | "
        f"this machine, {speed['jobs']} processes (measured speed-up) | Ray, 8 machines | Ray, 32 | Ray, 128 |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for m in sorted(costs):
        queries = default_budget(m, "spex")
        t, cpu = costs[m]
        cells = [f"{m:,}", f"{t * 1000:.0f} ms ({cpu * 1000:.0f} ms)", f"{queries:,}", _duration(queries * t),
                 _duration(queries * t / speed["speedup"])]
        for machines in (8, 32, 128):
            cells.append(_duration(queries * cpu / (machines * speed["jobs"])))
        out.append("| " + " | ".join(cells) + " |")
    out += [
        "",
        "This machine: retrains × one retrain's wall time as measured here (other jobs included). Ray "
        f"projection: retrains × one retrain's CPU time (what it takes on a core of its own) ÷ (machines × "
        f"{speed['jobs']} processes), i.e. linear scaling over machines like this one (2 cores each): the retrains "
        "of one batch are independent. A cluster adds a start-up and a per-task overhead "
        "(milliseconds per task; a retrain takes 0.1–1 s) not counted here. SPEX's default design is "
        "b = 6, max_degree = 5 (`default_budget(n, 'spex')`). The 10,000 examples are the 1,797 digits "
        "and their one-pixel shifts. The n = 1,000 case of part 3 ran for real.",
    ]
    return "\n".join(out) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").strip().splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small budgets: a smoke test")
    parser.add_argument("--budget", type=int, default=1000, help="retrains per method in parts 1 and 2")
    parser.add_argument("--n-test", type=int, default=300, help="fresh subsets for R² in part 1")
    parser.add_argument("--jobs", type=int, default=2, help="worker processes")
    parser.add_argument("--out", type=Path, default=None, help="write the markdown here")
    args = parser.parse_args()
    if args.quick:
        args.budget, args.n_test = 300, 60
    wall = time.perf_counter()
    case, i, info = _digits_case()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        print("part 1: methods", file=sys.stderr, flush=True)
        methods, test = part_methods(case, i, args.budget, args.n_test, args.jobs, tmp)
        print("part 2: planted", file=sys.stderr, flush=True)
        from sklearn.linear_model import LogisticRegression

        planted = []
        for name, learner in (("logistic (default, C = 1)", "logistic"), ("logistic, C = 100", LogisticRegression(C=100.0, max_iter=300))):
            planted.append({"learner_name": name, **part_planted(case, i, args.budget, 4, 10 if args.quick else 30, args.jobs, tmp, learner)})
        print("part 3: n = 1000", file=sys.stderr, flush=True)
        big = part_thousand(case, i, 200 if args.quick else 1000, 30 if args.quick else 100, args.jobs, tmp)
        print("part 4: speed-up and costs", file=sys.stderr, flush=True)
        speed = part_speedup(case, i, 8 if args.quick else 24, args.jobs, tmp)
        costs = {m: retrain_seconds(m, 3 if args.quick else 7) for m in (1000, 10000)}
    text = report(args, info, i, methods, test, planted, big, speed, costs, time.perf_counter() - wall)
    print(text)
    if args.out is not None:
        args.out.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
