"""interspect's SPEX against the reference SPEX (shapiq 1.4.1) on planted sparse Fourier games.

Usage::

    python benchmarks/spex_vs_reference.py            # full table (the reference needs minutes)
    python benchmarks/spex_vs_reference.py --quick    # n = 64 and 128 only (minutes: the reference is slow)
    python benchmarks/spex_vs_reference.py --no-reference

The reference is installed only into its own virtual environment, ``benchmarks/.venv-ref``
(created on first use: ``python -m venv`` + ``pip install shapiq==1.4.1``), and runs in a
subprocess there; interspect never imports it. Both sides query the same planted spectrum at the
same budget. Times are wall-clock seconds on this machine:

- *decode* (ours) = total ``spex`` time minus the time spent inside the value function, so it
  includes our mask generation, WHTs, decoding, peeling and the regression;
- *decode* (reference) = its ``transform`` call (decoding and peeling; its queries and WHTs
  happen earlier, in the signal constructor, and are not counted).

R² is :func:`interspect.faithfulness` on 1,000 fresh random masks against the noiseless game
(for noisy games also against the noisy value function, the quantity a user can measure).
The n = 10,000 case runs ours only, in a subprocess so its peak resident memory is its own.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from interspect import faithfulness, spex
from interspect.core.spectrum import Spectrum
from interspect.games import SparseFourierGame

HERE = Path(__file__).resolve().parent
REF_VENV = HERE / ".venv-ref"
REF_PY = REF_VENV / "bin" / "python"
REF_SPEC = "shapiq==1.4.1"

# The reference side: rebuild the same value function from the planted spectrum, run shapiq's
# SPEX pipeline step by step so query and decode time can be told apart.
REF_WORKER = r"""
import json, sys, time
import numpy as np
from shapiq.approximator.sparse import SPEX
from sparse_transform.qsft.qsft import transform
from sparse_transform.qsft.signals.input_signal_subsampled import SubsampledSignal

job = json.load(open(sys.argv[1]))
n = job["n"]
keys = job["keys"]
vals = np.array(job["values"])
K = np.zeros((len(keys), n))
for r, k in enumerate(keys):
    K[r, k] = 1.0
noise = np.random.default_rng(job["noise_seed"])
calls = [0]

def game(X):
    X = np.asarray(X, dtype=float)
    calls[0] += X.shape[0]
    y = (1.0 - 2.0 * ((X @ K.T).astype(np.int64) & 1)) @ vals
    if job["noise_std"] > 0:
        y = y + noise.normal(0.0, job["noise_std"], size=y.shape)
    return y

np.random.seed(job["seed"])  # the reference draws its designs from numpy's global RNG
approx = SPEX(n=n, index="FBII", max_order=2, random_state=job["seed"], decoder_type=job["decoder"], degree_parameter=job["max_degree"])
used = approx._set_transform_budget(job["budget"])
t0 = time.perf_counter()
signal = SubsampledSignal(func=lambda inputs: game(inputs.astype(bool)), n=n, q=2, query_args=approx.query_args)
t1 = time.perf_counter()
out = transform(signal, **approx.decoder_args)
t2 = time.perf_counter()
fourier = [[np.flatnonzero(k).tolist(), float(np.real(v))] for k, v in out.items()]
json.dump({"fourier": fourier, "n_queries": calls[0], "used_budget": int(used), "query_s": t1 - t0, "decode_s": t2 - t1}, open(sys.argv[2], "w"))
"""

BIG_WORKER = r"""
import json, resource, sys, time
from interspect import faithfulness, spex
from interspect.games import SparseFourierGame
n, terms, deg, budget, seed = (int(a) for a in sys.argv[1:6])
g = SparseFourierGame(n, terms, deg, seed=seed)
spent = [0.0]
def f(X):
    t0 = time.perf_counter(); y = g(X); spent[0] += time.perf_counter() - t0; return y
t0 = time.perf_counter()
s = spex(f, n, budget, seed=seed)
total = time.perf_counter() - t0
peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
r2 = faithfulness(s, SparseFourierGame(n, terms, deg, seed=seed), n_test=1000, seed=123)
truth = set(g.spectrum.fourier)
print(json.dumps({"r2": r2, "n_queries": s.n_queries, "decode_s": total - spent[0], "query_s": spent[0],
                  "peak_mb": peak_mb, "missing": len(truth - set(s.fourier)), "terms": len(s)}))
"""


@dataclass
class Case:
    name: str
    n: int
    terms: int
    degree: int
    budget: int
    noise: float = 0.0  # fraction of the signal's standard deviation
    reference: bool = True
    big: bool = False


def cases(quick: bool) -> list[Case]:
    if quick:
        return [
            Case("sparse", 64, 50, 4, 10_000),
            Case("sparse", 128, 50, 4, 10_000),
            Case("noisy 30%", 128, 50, 4, 10_000, noise=0.3),
        ]
    return [
        Case("sparse", 64, 50, 4, 10_000),
        Case("sparse", 128, 50, 4, 10_000),
        Case("sparse", 512, 60, 4, 20_000),
        Case("sparse", 1000, 40, 4, 25_000),
        Case("crowded", 500, 200, 5, 10_000),
        Case("noisy 10%", 128, 50, 4, 10_000, noise=0.1),
        Case("noisy 30%", 128, 50, 4, 10_000, noise=0.3),
        Case("noisy 30%", 512, 60, 4, 20_000, noise=0.3),
        Case("n=10k", 10_000, 100, 4, 120_000, reference=False, big=True),
    ]


def ensure_reference() -> bool:
    if REF_PY.exists():
        check = "from importlib.metadata import version; assert version('shapiq') == '1.4.1'"
        ok = subprocess.run([str(REF_PY), "-c", check], capture_output=True)
        if ok.returncode == 0:
            return True
    print(f"creating {REF_VENV} with {REF_SPEC} (one-off) ...", file=sys.stderr)
    subprocess.run([sys.executable, "-m", "venv", str(REF_VENV)], check=True)
    pip = [str(REF_PY), "-m", "pip", "install", "-q"]
    # shapiq 1.4.1 does not pull torch; if a future resolution does, pin the CPU build first.
    dry = subprocess.run([*pip, "--dry-run", "--report", "-", REF_SPEC], capture_output=True, text=True)
    if dry.returncode == 0 and '"name": "torch"' in dry.stdout:
        subprocess.run([*pip, "torch==2.13.0"], check=True)
    res = subprocess.run([*pip, REF_SPEC])
    return res.returncode == 0


def run_reference(case: Case, game: SparseFourierGame, noise_std: float, seed: int) -> dict:
    spectrum = game.spectrum
    assert spectrum is not None
    job = {
        "n": case.n, "keys": [list(k) for k in spectrum.keys], "values": spectrum.values.tolist(),
        "noise_std": noise_std, "noise_seed": seed + 1000, "seed": seed, "budget": case.budget,
        "decoder": "soft", "max_degree": 5,
    }
    with tempfile.TemporaryDirectory() as tmp:
        jp, op = Path(tmp) / "job.json", Path(tmp) / "out.json"
        jp.write_text(json.dumps(job))
        env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
        subprocess.run([str(REF_PY), "-c", REF_WORKER, str(jp), str(op)], check=True, env=env)
        out = json.loads(op.read_text())
    out["spectrum"] = Spectrum({tuple(k): v for k, v in out["fourier"]}, case.n)
    return out


def run_ours(case: Case, game: SparseFourierGame, seed: int, regression: bool) -> dict:
    spent = [0.0]

    def f(X: np.ndarray) -> np.ndarray:
        t0 = time.perf_counter()
        y = game(X)
        spent[0] += time.perf_counter() - t0
        return y

    t0 = time.perf_counter()
    s = spex(f, case.n, case.budget, seed=seed, regression=regression)
    total = time.perf_counter() - t0
    return {"spectrum": s, "n_queries": s.n_queries, "decode_s": total - spent[0]}


def fmt(x: float | None, spec: str) -> str:
    return "–" if x is None else format(x, spec)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small cases only")
    ap.add_argument("--no-reference", action="store_true", help="skip shapiq (ours only)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    use_ref = not args.no_reference and ensure_reference()
    seed = args.seed
    header = ("| case | n | terms | deg | noise | budget | queries ours / ref | R² ours | R² ours, regression=False | R² ref "
              "| R² on noisy f: ours / ref | decode s ours | decode s ref | speed-up | peak MB |")
    rows = [header, "|" + "---|" * (header.count("|") - 1)]
    for case in cases(args.quick):
        print(f"running {case.name} n={case.n} ...", file=sys.stderr, flush=True)
        clean = SparseFourierGame(case.n, case.terms, case.degree, seed=seed)
        noise_std = case.noise * clean.signal_std()
        if case.big:
            out = subprocess.run([sys.executable, "-c", BIG_WORKER, str(case.n), str(case.terms), str(case.degree),
                                  str(case.budget), str(seed)], check=True, capture_output=True, text=True)
            r = json.loads(out.stdout.strip().splitlines()[-1])
            rows.append(f"| {case.name} | {case.n} | {case.terms} | ≤{case.degree} | 0 | {case.budget} | {r['n_queries']} / – "
                        f"| {r['r2']:.6f} | – | – | – | {r['decode_s']:.2f} | – | – | {r['peak_mb']:.0f} |")
            continue
        game = SparseFourierGame(case.n, case.terms, case.degree, seed=seed, noise_std=noise_std)
        ours = run_ours(case, game, seed, regression=True)
        game_raw = SparseFourierGame(case.n, case.terms, case.degree, seed=seed, noise_std=noise_std)
        raw = run_ours(case, game_raw, seed, regression=False)
        r2 = faithfulness(ours["spectrum"], clean, n_test=1000, seed=123)
        r2_raw = faithfulness(raw["spectrum"], clean, n_test=1000, seed=123)
        ref = run_reference(case, clean, noise_std, seed) if (use_ref and case.reference) else None
        r2_ref = faithfulness(ref["spectrum"], clean, n_test=1000, seed=123) if ref else None
        noisy_cell = "–"
        if case.noise > 0:
            test_game = SparseFourierGame(case.n, case.terms, case.degree, seed=seed, noise_std=noise_std)
            a = faithfulness(ours["spectrum"], test_game, n_test=1000, seed=123)
            test_game = SparseFourierGame(case.n, case.terms, case.degree, seed=seed, noise_std=noise_std)
            b = faithfulness(ref["spectrum"], test_game, n_test=1000, seed=123) if ref else None
            noisy_cell = f"{a:.4f} / {fmt(b, '.4f')}"
        speed = ref["decode_s"] / ours["decode_s"] if ref else None
        rows.append(
            f"| {case.name} | {case.n} | {case.terms} | ≤{case.degree} | {case.noise:.0%} | {case.budget} "
            f"| {ours['n_queries']} / {ref['n_queries'] if ref else '–'} | {r2:.6f} | {r2_raw:.6f} | {fmt(r2_ref, '.6f')} "
            f"| {noisy_cell} | {ours['decode_s']:.3f} | {fmt(ref['decode_s'] if ref else None, '.2f')} "
            f"| {fmt(speed, '.0f')}{'×' if speed else ''} | – |"
        )
        print(rows[-1], file=sys.stderr, flush=True)
    print("\n".join(rows))


if __name__ == "__main__":
    main()
