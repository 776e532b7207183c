"""ProxySPEX (interspect) against the reference (shapiq 1.4.1 ``ProxySPEX``), measured in one run.

Usage::

    python benchmarks/proxyspex_vs_reference.py            # full table (about half an hour)
    python benchmarks/proxyspex_vs_reference.py --quick    # n = 64 and 128, one seed
    python benchmarks/proxyspex_vs_reference.py --no-reference

Three parts, printed as markdown:

1. Hierarchical games (every subset of a few degree-3..5 top interactions present; also squashed
   through tanh), n in {64, 128, 512}: faithfulness R^2 on 1,000 fresh masks and wall time of
   both implementations at the same budget. The reference runs in a separate, benchmark-only
   virtual environment ``benchmarks/.venv-ref`` (created here when missing, shared with the SPEX
   benchmark) in a subprocess of this script, on the same game and the same test masks.
2. n = 128: ``interspect.spex`` with its default budget (b = 6: 7,872 queries) against ProxySPEX
   with a tenth, a fifth and half of it.
3. n = 1,000, budget 10,000: ProxySPEX wall time (target: under 60 s).

Times are wall-clock seconds of the whole call (sampling, value-function queries, fitting,
spectrum), imports excluded (both sides import their libraries before the clock starts). The
reference's conversion of its output to an interaction index (not part of fitting) is timed
separately and left out.
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
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
REF_VENV = ROOT / "benchmarks" / ".venv-ref"
# R² values this close count as equal (both sides recover exactly sparse games to ~1e-12).
R2_TIE = 1e-6
REF_PY = REF_VENV / "bin" / "python"
TEST_SEED = 12345
GAME = {"n_top": 5, "min_degree": 3, "max_degree": 5}


def make_game(n: int, squash: str, seed: int) -> Any:
    from interspect import games

    return games.HierarchicalGame(n, squash=squash, seed=seed, **GAME)


# ---------------------------------------------------------------------------------- reference side
def ref_worker(n: int, budget: int, squash: str, seed: int) -> None:
    """Runs inside the reference venv: fit shapiq's ProxySPEX, print one JSON line."""
    sys.path.insert(0, str(ROOT / "src"))
    import numpy as np  # noqa: F401
    from shapiq.approximator.sparse import ProxySPEX

    from interspect import faithfulness

    game = make_game(n, squash, seed)
    # FBII of order n is the Möbius transform itself (no set is larger than the order); shapiq's
    # sparse approximators do not offer "Moebius" directly.
    approx = ProxySPEX(n=n, index="FBII", max_order=n, random_state=seed)
    s, fit_time, convert_time, terms = timed_approximate(approx, budget, game, n)
    r2 = faithfulness(s, game, n_test=1000, seed=TEST_SEED)
    print(json.dumps({"r2": r2, "time": fit_time, "convert_time": convert_time, "terms": terms}))


def timed_approximate(approx: Any, budget: int, game: Any, n: int) -> tuple[Any, float, float, int]:
    """Run a shapiq approximator (inside the reference venv): its Möbius values as a Spectrum,
    the fit time, apart from it the time of its conversion to an interaction index (not fitting),
    and the number of Möbius terms it returned."""
    from interspect import Spectrum

    convert = {"t": 0.0}
    inner = approx._process_moebius

    def timed(*a: Any, **k: Any) -> Any:
        t0 = time.perf_counter()
        out = inner(*a, **k)
        convert["t"] += time.perf_counter() - t0
        return out

    approx._process_moebius = timed  # type: ignore[method-assign]
    t0 = time.perf_counter()
    iv = approx.approximate(budget, game)
    total = time.perf_counter() - t0
    mobius = {tuple(int(i) for i in k): float(iv.values[j]) for k, j in iv.interaction_lookup.items()}
    return Spectrum.from_mobius(mobius, n), total - convert["t"], convert["t"], len(mobius)


def ensure_ref_venv() -> None:
    """Create ``benchmarks/.venv-ref`` if missing; make sure shapiq 1.4.1 and lightgbm are in it."""
    if not REF_PY.exists():
        print(f"creating {REF_VENV} ...", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", str(REF_VENV)], check=True)
    probe = "import shapiq, lightgbm, importlib.metadata as m; print(m.version('shapiq'))"
    res = subprocess.run([str(REF_PY), "-c", probe], capture_output=True, text=True)
    if res.returncode != 0 or res.stdout.strip() != "1.4.1":
        # shapiq 1.4.1 does not need torch, so none is installed here.
        subprocess.run([str(REF_PY), "-m", "pip", "install", "-q", "shapiq==1.4.1", "lightgbm"], check=True)


def run_reference(n: int, budget: int, squash: str, seed: int) -> dict[str, Any]:
    cmd = [str(REF_PY), str(Path(__file__).resolve()), "--ref-worker", str(n), str(budget), squash, str(seed)]
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    res = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if res.returncode != 0:
        raise RuntimeError(f"reference run failed: {res.stderr[-2000:]}")
    return json.loads(res.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------------------------- our side
def run_ours(n: int, budget: int, squash: str, seed: int) -> dict[str, Any]:
    from interspect import faithfulness
    from interspect.engines.proxy import proxyspex

    game = make_game(n, squash, seed)
    t0 = time.perf_counter()
    s = proxyspex(game, n, budget, seed=seed)
    dt = time.perf_counter() - t0
    return {"r2": faithfulness(s, game, n_test=1000, seed=TEST_SEED), "time": dt, "terms": len(s), "queries": s.n_queries}


def run_spex(n: int, squash: str, seed: int) -> dict[str, Any] | None:
    try:
        from interspect import spex, spex_budget
    except (ImportError, AttributeError) as exc:
        print(f"(interspect.spex not available: {exc})", file=sys.stderr)
        return None
    from interspect import faithfulness

    game = make_game(n, squash, seed)
    t0 = time.perf_counter()
    # SPEC §3.3: at n = 128 SPEX's default design (C = 3, t = 5) has b = 6, i.e. 7,872 queries.
    s = spex(game, n, spex_budget(n, 6), seed=seed)
    dt = time.perf_counter() - t0
    return {"r2": faithfulness(s, game, n_test=1000, seed=TEST_SEED), "time": dt, "queries": int(s.n_queries), "spectrum": s}


def refit_on_tenth(n: int, squash: str, seed: int, keys: list[tuple[int, ...]], m: int) -> float:
    """R² of SPEX's own support re-fitted (ridge, GCV) on the m uniform masks ProxySPEX gets: what
    knowing SPEX's terms would be worth with that many samples."""
    import numpy as np

    from interspect import Spectrum, faithfulness
    from interspect.engines.proxy import ridge_refit, uniform_masks

    game = make_game(n, squash, seed)
    X = uniform_masks(n, m, np.random.default_rng(seed))
    const, coef, _, _ = ridge_refit(keys, X, game(X))
    return faithfulness(Spectrum({(): const, **dict(zip(keys, coef.tolist()))}, n), game, n_test=1000, seed=TEST_SEED)


def fmt(x: float | None, spec: str) -> str:
    return "—" if x is None else format(x, spec)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="n = 64 and 128 only, one seed")
    ap.add_argument("--no-reference", action="store_true", help="skip shapiq (no venv needed)")
    ap.add_argument("--seeds", type=int, nargs="+", default=None)
    ap.add_argument("--part2-seeds", type=int, nargs="+", default=None, help="seeds of part 2 (default: 0-5; --quick: 0 1)")
    ap.add_argument("--parts", type=int, nargs="+", default=[1, 2, 3], choices=[1, 2, 3], help="which parts to run (default: all)")
    ap.add_argument("--ref-worker", nargs=4, metavar=("N", "BUDGET", "SQUASH", "SEED"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.ref_worker:
        n, budget, squash, seed = args.ref_worker
        ref_worker(int(n), int(budget), squash, int(seed))
        return

    import lightgbm  # noqa: F401  (import cost outside the clock, as for the reference)

    import interspect.engines.proxy  # noqa: F401

    seeds = args.seeds or ([0] if args.quick else [0, 1])
    sizes = [(64, 2000), (128, 5000)] if args.quick else [(64, 2000), (128, 5000), (512, 10000)]
    print("# ProxySPEX: interspect vs reference (shapiq 1.4.1)\n")
    print(f"Command: `python benchmarks/proxyspex_vs_reference.py {' '.join(sys.argv[1:])}`  ")
    print(f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores (shared), Python {platform.python_version()}; "
          f"started {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}  ")
    print(f"Games: `HierarchicalGame(n, n_top=5, min_degree=3, max_degree=5, squash=...)`; R² on 1,000 fresh uniform masks (seed {TEST_SEED}).\n")

    if 1 in args.parts:
        part1(args, seeds, sizes)
    if 2 in args.parts:
        part2(args.part2_seeds or ([0, 1] if args.quick else list(range(6))))
    if 3 in args.parts:
        part3(seeds)


def part1(args: argparse.Namespace, seeds: list[int], sizes: list[tuple[int, int]]) -> None:
    import numpy as np

    if not args.no_reference:
        ensure_ref_venv()
    print("## 1. Same budget: R² and wall time\n")
    print("| game | n | budget | seed | R² interspect | R² reference | time interspect (s) | time reference (s) | speed-up | terms interspect / ref |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    rows = []
    for n, budget in sizes:
        for squash in ("none", "tanh"):
            for seed in seeds:
                ours = run_ours(n, budget, squash, seed)
                ref = None if args.no_reference else run_reference(n, budget, squash, seed)
                rows.append((ours, ref))
                speed = ref["time"] / ours["time"] if ref else None
                name = "hierarchical" if squash == "none" else "hierarchical+tanh"
                print(f"| {name} | {n} | {budget} | {seed} | {ours['r2']:.4f} | {fmt(ref and ref['r2'], '.4f')} | {ours['time']:.2f} | "
                      f"{fmt(ref and ref['time'], '.1f')} | {fmt(speed, '.1f')}× | {ours['terms']} / {ref['terms'] if ref else '—'} |", flush=True)
    if not args.no_reference:
        ok_r2 = all(o["r2"] >= r["r2"] for o, r in rows if r)
        speeds = [r["time"] / o["time"] for o, r in rows if r]
        print(f"\nR² at least the reference's in every row: **{ok_r2}**; speed-up min {min(speeds):.1f}×, "
              f"median {float(np.median(speeds)):.1f}×, max {max(speeds):.1f}×.\n")



def part2(seeds: list[int]) -> None:
    import numpy as np

    print("## 2. n = 128: SPEX with its budget vs ProxySPEX with a tenth of it (and more)\n")
    print("| game | seed | SPEX queries | SPEX R² | SPEX time (s) | ProxySPEX R² at 1/10 | at 1/5 | at 1/2 | 1/10 reaches SPEX | SPEX's terms refitted on the 1/10 samples |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    reached: dict[str, list[bool]] = {"none": [], "tanh": []}
    gaps: dict[str, list[float]] = {"none": [], "tanh": []}
    for squash in ("none", "tanh"):
        for seed in seeds:
            sp = run_spex(128, squash, seed)
            if sp is None:
                print(f"| {squash} | {seed} | — | — | — | — | — | — | interspect.spex not available | — |")
                continue
            r2 = {d: run_ours(128, sp["queries"] // d, squash, seed)["r2"] for d in (10, 5, 2)}
            oracle = refit_on_tenth(128, squash, seed, [k for k in sp["spectrum"].fourier if k], sp["queries"] // 10)
            reached[squash].append(r2[10] >= sp["r2"] - R2_TIE)
            gaps[squash].append(r2[10] - sp["r2"])
            print(f"| {'hierarchical' if squash == 'none' else 'hierarchical+tanh'} | {seed} | {sp['queries']} | {sp['r2']:.4f} | {sp['time']:.1f} | "
                  f"{r2[10]:.4f} | {r2[5]:.4f} | {r2[2]:.4f} | {reached[squash][-1]} | {oracle:.4f} |", flush=True)
    for squash, name in (("none", "hierarchical"), ("tanh", "hierarchical+tanh")):
        if reached[squash]:
            print(f"\n{name}: ProxySPEX with 1/10 of the queries reaches SPEX's R² (within {R2_TIE:g}) in {sum(reached[squash])} of "
                  f"{len(reached[squash])} seeds; R² difference (1/10 − SPEX) min {min(gaps[squash]):+.2g}, "
                  f"median {float(np.median(gaps[squash])):+.2g}, max {max(gaps[squash]):+.2g}.")


def part3(seeds: list[int]) -> None:
    print("\n## 3. n = 1,000, budget 10,000 (target: under 60 s)\n")
    print("| game | seed | R² | time (s) | terms |")
    print("|---|---|---|---|---|")
    for squash in ("none", "tanh"):
        ours = run_ours(1000, 10000, squash, seeds[0])
        print(f"| {'hierarchical' if squash == 'none' else 'hierarchical+tanh'} | {seeds[0]} | {ours['r2']:.4f} | {ours['time']:.2f} | {ours['terms']} |", flush=True)


if __name__ == "__main__":
    main()
