"""Ray executor: throughput scaling and overhead (issue 15's targets), on a local Ray cluster.

Part 1, a latency-bound value function: every batch sleeps ``--latency`` seconds (like a call to a
remote GPU) and returns at once. With 1, 2, 4 and 8 actors, the same number of batches per actor
runs through the query layer (``Queries``, as every engine uses it). Reported:

- queries/s, and the scaling efficiency ``throughput(k) / (k * throughput(1))`` (target >= 0.85
  at 8 actors);
- the executor's own overhead per query: ``(wall - batches * latency / k) / queries``, i.e. all
  time that is not the value function sleeping, divided over the rows (target <= 1 ms).

Part 2, the embedded model (SmolLM2-135M, sentiment margin on a 12-word review): 2 Ray actors
with 1 torch thread each against this process with 2 torch threads, the same masks and batches;
queries/s of both and whether every score is identical.

Actors are started and their replicas loaded before timing (a warm-up map). On this 2-core
machine the actors of part 1 take a quarter CPU each (they sleep); the cluster has 2 CPUs.

    nice -n 10 python benchmarks/ray_scaling.py --out benchmarks/results_ray.md
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

import numpy as np


class Sleepy:
    """A latency-bound value function: sleeps per batch, then returns the number of kept features."""

    def __init__(self, n: int, latency: float) -> None:
        self.n, self.latency = n, latency

    def __call__(self, X: np.ndarray) -> np.ndarray:
        time.sleep(self.latency)
        return X.sum(axis=1).astype(float)


def part1(args, RayExecutor, Queries) -> list[str]:
    rng = np.random.default_rng(0)
    vf = Sleepy(args.n, args.latency)
    rows = ["| actors | batches | queries | wall (s) | ideal (s) | queries/s | scaling efficiency | overhead per query (ms) |",
            "|---:|---:|---:|---:|---:|---:|---:|---:|"]
    base = None
    for k in (1, 2, 4, 8):
        ex = RayExecutor(num_actors=k, num_cpus=0.25).start()
        warm = Queries(vf, args.n, executor=ex, batch_size=args.batch)
        warm(rng.integers(0, 2, size=(k * args.batch, args.n), dtype=np.uint8))
        m_batches = k * args.batches_per_actor
        X = rng.integers(0, 2, size=(m_batches * args.batch, args.n), dtype=np.uint8)
        q = Queries(vf, args.n, executor=ex, batch_size=args.batch)
        t = time.perf_counter()
        y = q(X)
        wall = time.perf_counter() - t
        assert np.array_equal(y, X.sum(axis=1)) and q.stats["computed"] == len(X)
        ideal = m_batches * args.latency / k
        qps = len(X) / wall
        base = qps if base is None else base
        eff = qps / (k * base)
        over = (wall - ideal) / len(X) * 1e3
        rows.append(f"| {k} | {m_batches} | {len(X)} | {wall:.2f} | {ideal:.2f} | {qps:.0f} | {eff:.2f} | {over:.3f} |")
        print(rows[-1], flush=True)
        ex.close()
    return rows


def part2(args, RayExecutor, Queries) -> list[str]:
    import torch

    from interspect.applications.language import load
    from interspect.applications.text import TextValueFunction

    text = "A gorgeous, witty and moving film that never once feels long or dull."
    lm = load("smollm2", device="cpu")
    vf = TextValueFunction.for_task("sentiment", lm, text, batch_size=args.model_batch)
    X = np.random.default_rng(1).integers(0, 2, size=(args.model_masks, vf.n), dtype=np.uint8)
    torch.set_num_threads(2)
    Queries(vf, vf.n, batch_size=args.model_batch)(X[: args.model_batch])  # warm-up (first-call set-up)
    t = time.perf_counter()
    here = Queries(vf, vf.n, batch_size=args.model_batch)(X)
    t_here = time.perf_counter() - t
    ex = RayExecutor(num_actors=2, num_cpus=1, threads=1).start()
    Queries(vf, vf.n, executor=ex, batch_size=args.model_batch)(X[: 2 * args.model_batch][::-1].copy())  # load replicas
    t = time.perf_counter()
    there = Queries(vf, vf.n, executor=ex, batch_size=args.model_batch)(X)
    t_there = time.perf_counter() - t
    ex.close()
    same = bool(np.array_equal(here, there))
    rows = ["| run | queries | wall (s) | queries/s | scores identical |", "|---|---:|---:|---:|---|",
            f"| 1 process × 2 torch threads | {len(X)} | {t_here:.2f} | {len(X) / t_here:.1f} | (reference) |",
            f"| 2 Ray actors × 1 torch thread | {len(X)} | {t_there:.2f} | {len(X) / t_there:.1f} | {'yes' if same else 'NO'} |"]
    for r in rows[2:]:
        print(r, flush=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--latency", type=float, default=0.05, help="seconds each batch sleeps")
    ap.add_argument("--batch", type=int, default=16, help="rows per batch (part 1)")
    ap.add_argument("--batches-per-actor", type=int, default=20)
    ap.add_argument("--n", type=int, default=64, help="features (part 1)")
    ap.add_argument("--model-masks", type=int, default=96)
    ap.add_argument("--model-batch", type=int, default=16)
    ap.add_argument("--skip-model", action="store_true")
    ap.add_argument("--out", type=Path, default=None, help="also write the tables here (markdown)")
    args = ap.parse_args()
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    import ray

    from interspect.queries.layer import Queries
    from interspect.queries.ray_executor import RayExecutor

    src = str(Path(__file__).resolve().parents[1] / "src")
    os.environ["PYTHONPATH"] = os.pathsep.join([src, *filter(None, [os.environ.get("PYTHONPATH")])])
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, _node_ip_address="127.0.0.1")
    try:
        t1 = part1(args, RayExecutor, Queries)
        t2 = [] if args.skip_model else part2(args, RayExecutor, Queries)
    finally:
        ray.shutdown()
    load = os.getloadavg()[0]
    text = [
        "# Ray executor: scaling and overhead", "",
        f"`nice -n 10 python benchmarks/ray_scaling.py --out benchmarks/results_ray.md` on "
        f"{os.cpu_count()} cores ({platform.processor() or platform.machine()}), Ray {ray.__version__}, "
        f"load average {load:.1f} at the end (the machine is shared).", "",
        f"## Latency-bound value function ({args.latency * 1e3:.0f} ms per batch of {args.batch} masks, "
        f"{args.batches_per_actor} batches per actor)", "",
        *t1, "",
        "Scaling efficiency = queries/s ÷ (actors × queries/s of 1 actor); overhead per query = "
        "(wall − batches × latency ÷ actors) ÷ queries: everything that is not the value function.",
    ]
    if t2:
        text += ["", f"## Embedded model (SmolLM2-135M, sentiment margin, {args.model_masks} masks in batches of "
                 f"{args.model_batch})", "", *t2]
    if args.out:
        args.out.write_text("\n".join(text) + "\n", encoding="utf-8")
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
