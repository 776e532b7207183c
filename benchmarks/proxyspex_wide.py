"""ProxySPEX on a wide set of value functions, side by side with shapiq 1.4.1's ProxySPEX.

Usage::

    python benchmarks/proxyspex_wide.py                    # every row, seeds 0 1 2
    python benchmarks/proxyspex_wide.py --rows tanh128 llm --seeds 0
    python benchmarks/proxyspex_wide.py --no-reference     # interspect only
    python benchmarks/proxyspex_wide.py --n-jobs 2 --rows sigm64s --fresh-reference  # both on 2 workers
    python benchmarks/proxyspex_wide.py --part auto        # budget="auto" against 5,000 queries
    python benchmarks/proxyspex_wide.py --part method      # method="auto" against SPEX and ProxySPEX
    python benchmarks/proxyspex_wide.py --part auto-curve --traces T.json  # budget="auto" stopping rules

Rows (``ROWS`` below): hierarchical games with 4-12 top interactions of degree 2-5; the same
squashed through tanh or a sigmoid at two strengths; with additive noise (a fixed pseudo-random
value per mask, so the function stays deterministic, as a model's output is); with a long tail
of small terms (power-law magnitudes); sparse Fourier games; and the embedded language model on
eight reviews of the sentiment set, replayed from ``benchmarks/llm_replay.npz`` (see
``llm_replay.py``: recorded outputs on fixed mask sets; both implementations draw their
training masks from the recorded pool by their own rule — uniform, or uniform pairs of a mask
and its complement for the reference, whose sampler pairs — and are scored on the recorded
test masks).

Each (row, seed) runs both implementations at the same budget on the same game and scores both
on the same fresh uniform masks (1,000 for the games, the 200 recorded ones for the model).
The reference runs in ``benchmarks/.venv-ref`` (shapiq 1.4.1 + lightgbm; created by
``proxyspex_vs_reference.py``'s helper when missing) in a subprocess; its results are cached in
``benchmarks/results/wide_reference.json`` (they do not depend on interspect's code), so a
rerun only runs interspect. ``--fresh-reference`` recomputes them.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))
REF_PY = ROOT / "benchmarks" / ".venv-ref" / "bin" / "python"
REF_CACHE = ROOT / "benchmarks" / "results" / "wide_reference.json"
TEST_SEED = 12345
N_TEST = 1000


# -------------------------------------------------------------------------------------- the games
def _mask_noise(X: np.ndarray, seed: int) -> np.ndarray:
    """A standard normal value per mask, fixed by the mask's bits and ``seed`` (splitmix64 hash)."""
    packed = np.packbits(np.asarray(X, dtype=np.uint8), axis=1)
    pad = (-packed.shape[1]) % 8
    words = np.pad(packed, ((0, 0), (0, pad))).view(">u8").astype(np.uint64)
    with np.errstate(over="ignore"):
        h = np.full(len(X), np.uint64(seed) * np.uint64(0x9E3779B97F4A7C15), dtype=np.uint64)
        for j in range(words.shape[1]):
            h = h ^ words[:, j]
            h = (h ^ (h >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
            h = (h ^ (h >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
            h = h ^ (h >> np.uint64(31))
        h2 = (h ^ (h >> np.uint64(29))) * np.uint64(0xBF58476D1CE4E5B9)
    u1 = ((h >> np.uint64(11)).astype(np.float64) + 0.5) / 2.0**53
    u2 = ((h2 >> np.uint64(11)).astype(np.float64) + 0.5) / 2.0**53
    return np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2)


class Wide:
    """A benchmark value function: a sparse spectrum, optionally squashed, plus fixed noise."""

    def __init__(self, n: int, spectrum: Any, *, squash: str = "none", strength: float = 1.0,
                 noise: float = 0.0, seed: int = 0) -> None:
        self.n = n
        self.spectrum = spectrum
        self.squash, self.noise, self.seed = squash, noise, seed
        X = np.random.default_rng(0).integers(0, 2, size=(4000, n), dtype=np.uint8)
        sd = float(np.std(spectrum.predict(X))) or 1.0
        # strength s: the squash acts on f / (sd / s); s = 1 bends the outer sd, s = 2 saturates.
        self.scale = sd / strength
        self.sd = sd
        # The sigmoid saturates at one end: centred at the lower quartile of f.
        self.center = float(np.quantile(spectrum.predict(X), 0.25))

    def __call__(self, X: np.ndarray) -> np.ndarray:
        X = np.asarray(X, dtype=np.uint8)
        y = self.spectrum.predict(X)
        if self.squash == "tanh":
            y = self.scale * np.tanh(y / self.scale)
        elif self.squash == "sigmoid":
            y = self.sd / (1.0 + np.exp(-(y - self.center) / self.scale))
        if self.noise:
            y = y + self.noise * self.sd * _mask_noise(X, self.seed)
        return y


def _powerlaw(n: int, n_terms: int, max_degree: int, exponent: float, seed: int) -> Any:
    """A long tail: ``n_terms`` random AND terms (Möbius coefficients), magnitude ∝ rank^-exponent."""
    from interspect import Spectrum
    from interspect.games import _random_support

    rng = np.random.default_rng(seed)
    keys = _random_support(rng, n, n_terms, max_degree)
    rng.shuffle(keys)
    mags = np.arange(1, len(keys) + 1, dtype=float) ** -exponent * rng.choice([-1.0, 1.0], len(keys))
    return Spectrum.from_mobius({k: float(v) for k, v in zip(keys, mags)}, n)


@dataclass(frozen=True)
class Row:
    name: str
    kind: str  # "hier", "fourier", "powerlaw", "llm"
    n: int
    budget: int
    params: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> str:
        p = self.params
        if self.kind == "hier":
            s = f"hierarchical {p['n_top']}×deg {p['min_degree']}-{p['max_degree']}"
        elif self.kind == "fourier":
            s = f"sparse Fourier {p['n_terms']} terms deg ≤{p['max_degree']}"
        elif self.kind == "powerlaw":
            s = f"power-law Möbius tail {p['n_terms']} terms deg ≤{p['max_degree']} (rank^-{p['exponent']})"
            if p.get("top"):
                s += f" + hierarchical {p['top']}×deg 2-4"
        else:
            return f"SmolLM2 sentiment review {p['review']}"
        if p.get("squash", "none") != "none":
            s += f", {p['squash']} ×{p.get('strength', 1.0):g}"
        if p.get("noise"):
            s += f", noise {p['noise']:g}·sd"
        return s


ROWS = [
    Row("hier64", "hier", 64, 1000, {"n_top": 4, "min_degree": 2, "max_degree": 3}),
    Row("hier128", "hier", 128, 5000, {"n_top": 8, "min_degree": 2, "max_degree": 4}),
    Row("hier128x12", "hier", 128, 3000, {"n_top": 12, "min_degree": 3, "max_degree": 5}),
    Row("tanh128", "hier", 128, 5000, {"n_top": 8, "min_degree": 2, "max_degree": 4, "squash": "tanh"}),
    Row("tanh128d3", "hier", 128, 5000, {"n_top": 8, "min_degree": 3, "max_degree": 4, "squash": "tanh"}),
    Row("tanh64s", "hier", 64, 2000, {"n_top": 6, "min_degree": 2, "max_degree": 4, "squash": "tanh", "strength": 2.0}),
    Row("tanh256", "hier", 256, 4000, {"n_top": 8, "min_degree": 2, "max_degree": 5, "squash": "tanh"}),
    Row("sigm128", "hier", 128, 3000, {"n_top": 8, "min_degree": 2, "max_degree": 4, "squash": "sigmoid"}),
    Row("sigm64s", "hier", 64, 1000, {"n_top": 5, "min_degree": 2, "max_degree": 4, "squash": "sigmoid", "strength": 2.0}),
    Row("noise128", "hier", 128, 3000, {"n_top": 8, "min_degree": 2, "max_degree": 4, "noise": 0.1}),
    Row("noise64", "hier", 64, 2000, {"n_top": 6, "min_degree": 2, "max_degree": 4, "noise": 0.5}),
    Row("tail64", "powerlaw", 64, 2000, {"n_terms": 300, "max_degree": 3, "exponent": 1.0}),
    Row("tail128", "powerlaw", 128, 5000, {"n_terms": 400, "max_degree": 4, "exponent": 0.8, "top": 6}),
    Row("four128", "fourier", 128, 3000, {"n_terms": 40, "max_degree": 4}),
    Row("four64", "fourier", 64, 1000, {"n_terms": 20, "max_degree": 3}),
]

#: Shapes, sizes and budgets none of the choices above was tuned on (first run 2026-12-02, after the
#: stacked last step was fixed): ``--rows holdout`` runs them; the default row set leaves them out.
HOLDOUT = [
    Row("h-hier32", "hier", 32, 600, {"n_top": 4, "min_degree": 2, "max_degree": 3}),
    Row("h-hier200", "hier", 200, 4000, {"n_top": 10, "min_degree": 3, "max_degree": 5}),
    Row("h-tanh512", "hier", 512, 5000, {"n_top": 8, "min_degree": 2, "max_degree": 4, "squash": "tanh"}),
    Row("h-tanh64w", "hier", 64, 1500, {"n_top": 6, "min_degree": 2, "max_degree": 4, "squash": "tanh", "strength": 0.5}),
    Row("h-sigm96", "hier", 96, 2000, {"n_top": 6, "min_degree": 2, "max_degree": 5, "squash": "sigmoid", "strength": 3.0}),
    Row("h-noise96", "hier", 96, 3000, {"n_top": 6, "min_degree": 2, "max_degree": 4, "noise": 1.0}),
    Row("h-tail96", "powerlaw", 96, 3000, {"n_terms": 500, "max_degree": 4, "exponent": 1.5}),
    Row("h-tail48", "powerlaw", 48, 1000, {"n_terms": 200, "max_degree": 2, "exponent": 0.6}),
    Row("h-mix64", "powerlaw", 64, 1500, {"n_terms": 200, "max_degree": 3, "exponent": 1.2, "top": 4, "squash": "tanh"}),
    Row("h-four32", "fourier", 32, 600, {"n_terms": 12, "max_degree": 2}),
    Row("h-four96", "fourier", 96, 4000, {"n_terms": 30, "max_degree": 5}),
]


def make_game(row: Row, seed: int) -> Any:
    from interspect import games

    p = dict(row.params)
    squash, strength, noise = p.pop("squash", "none"), p.pop("strength", 1.0), p.pop("noise", 0.0)
    if row.kind == "hier":
        spectrum = games.HierarchicalGame(row.n, seed=seed, **p).spectrum
    elif row.kind == "fourier":
        spectrum = games.SparseFourierGame(row.n, p["n_terms"], p["max_degree"], seed=seed).spectrum
    elif row.kind == "powerlaw":
        spectrum = _powerlaw(row.n, p["n_terms"], p["max_degree"], p["exponent"], seed)
        if p.get("top"):
            from interspect import Spectrum

            h = games.HierarchicalGame(row.n, n_top=p["top"], min_degree=2, max_degree=4, seed=seed).spectrum
            scale = 3.0 * np.sqrt(sum(v * v for k, v in spectrum.fourier.items() if k)) / max(np.sqrt(sum(v * v for k, v in h.fourier.items() if k)), 1e-12)
            both = dict(spectrum.fourier)
            for k, v in h.fourier.items():
                both[k] = both.get(k, 0.0) + scale * v
            spectrum = Spectrum(both, row.n)
    else:
        raise ValueError(row.kind)
    return Wide(row.n, spectrum, squash=squash, strength=strength, noise=noise, seed=seed)


# ------------------------------------------------------------------------------------- llm rows
def llm_rows(path: Path | None = None) -> list[Row]:
    import llm_replay

    path = path or llm_replay.EXPORT
    if not path.exists():
        return []
    out = []
    for rep in llm_replay.load_replays(path):
        if "pool" not in rep.sets or "test" not in rep.sets:
            continue
        budget = None
        if "spex5" in rep.sets:
            budget = len(rep.sets["spex5"]) // 10
        else:
            from interspect import spex_budget

            budget = spex_budget(rep.n, 5) // 10
        out.append(Row(f"llm{rep.name}", "llm", rep.n, budget, {"review": rep.name}))
    return out


_REPLAYS: dict[str, Any] = {}


def replay(row: Row) -> Any:
    import llm_replay

    if not _REPLAYS:
        _REPLAYS.update({r.name: r for r in llm_replay.load_replays()})
    return _REPLAYS[row.params["review"]]


def pool_draw(rep: Any, m: int, rng: np.random.Generator, *, paired: bool) -> np.ndarray:
    """``m`` training masks from the recorded pool: all-ones, all-zeros, then random pool rows
    (``paired``: random rows among the first recorded ones with their complements, the ``pair`` set)."""
    pool = rep.sets["pool"]
    rest = rng.permutation(np.arange(2, len(pool)))
    if not paired:
        if m - 2 > len(rest):
            raise ValueError(f"review {rep.name}: budget {m} exceeds the recorded pool ({len(pool)})")
        return np.concatenate([pool[:2], pool[rest[: m - 2]]])
    if "pair" not in rep.sets:
        raise ValueError(f"review {rep.name}: no recorded complements (stage 'pair')")
    k = (m - 2) // 2
    paired_rows = rng.permutation(np.arange(2, 2 + len(rep.sets["pair"])))
    if k > len(paired_rows):
        raise ValueError(f"review {rep.name}: budget {m} exceeds the recorded pairs")
    chosen = paired_rows[:k]
    rows = [pool[:2], pool[chosen], 1 - pool[chosen]]
    if (m - 2) % 2:
        rows.append(pool[paired_rows[k : k + 1]])
    return np.concatenate(rows)


def _r2(s: Any, game: Any, row: Row) -> float:
    from interspect import faithfulness
    from interspect.core.metrics import r2_score

    if row.kind == "llm":
        X = game.sets["test"]
        return r2_score(game(X), s.predict(X))
    return faithfulness(s, game, n_test=N_TEST, seed=TEST_SEED)


def row_game(row: Row, seed: int) -> Any:
    return replay(row) if row.kind == "llm" else make_game(row, seed)


# ---------------------------------------------------------------------------------- reference side
def ref_worker(name: str, seed: int, budget: int) -> None:
    """Runs inside the reference venv: shapiq's ProxySPEX on one row, prints one JSON line."""
    from proxyspex_vs_reference import timed_approximate
    from shapiq.approximator.sparse import ProxySPEX

    row = next(r for r in ROWS + HOLDOUT + llm_rows() if r.name == name)
    game = row_game(row, seed)
    jobs = int(os.environ.get("REF_GRID_JOBS", "1"))
    if jobs > 1:
        # shapiq 1.4.1 fixes its grid search and its LightGBM at one thread (n_jobs=1 in
        # approximator/sparse/base.py); for --n-jobs the grid search's 5 folds × grid points are
        # spread over `jobs` workers instead (a patched reference, labelled so in the tables).
        import shapiq.approximator.sparse.base as ref_base
        from sklearn.model_selection import GridSearchCV

        ref_base.GridSearchCV = lambda *a, **k: GridSearchCV(*a, **{**k, "n_jobs": jobs})  # type: ignore[misc]
    approx = ProxySPEX(n=row.n, index="FBII", max_order=row.n, random_state=seed)
    if row.kind == "llm":
        # Its sampler pairs every mask with its complement: draw such pairs from the recording.
        sampler = approx._uniform_sampler
        rng = np.random.default_rng(seed)

        def sample(budget: int) -> None:
            sampler._replayed = pool_draw(game, budget, rng, paired=True).astype(bool)

        sampler.sample = sample
        type(sampler).coalitions_matrix = property(lambda self: self._replayed)  # type: ignore[assignment]
    s, fit_time, _, terms = timed_approximate(approx, budget, game, row.n)
    print(json.dumps({"r2": _r2(s, game, row), "time": fit_time, "terms": terms}))


def run_reference(row: Row, seed: int, budget: int, cache: dict[str, Any], *, fresh: bool = False, threads: int = 1) -> dict[str, Any]:
    """The reference on one row (cached). ``threads`` > 1: its grid search patched to run on that
    many workers (shapiq fixes it at one; see ref_worker), BLAS threads to match."""
    key = f"{row.name}|{seed}|{budget}|{row.describe()}|{json.dumps(row.params, sort_keys=True)}"
    if threads != 1:
        key += f"|grid_jobs={threads}"
    if key in cache and not fresh:
        return cache[key]
    cmd = [str(REF_PY), str(Path(__file__).resolve()), "--ref-worker", row.name, str(seed), str(budget)]
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS=str(threads), REF_GRID_JOBS=str(threads))
    res = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if res.returncode != 0:
        raise RuntimeError(f"reference run failed: {res.stderr[-2000:]}")
    cache[key] = json.loads(res.stdout.strip().splitlines()[-1])
    REF_CACHE.parent.mkdir(parents=True, exist_ok=True)
    REF_CACHE.write_text(json.dumps(cache, indent=0))
    return cache[key]


# -------------------------------------------------------------------------------------- our side
class _Pool:
    """Replay rows: interspect's sampler draws from the recorded pool by the same rule."""

    def __init__(self, rep: Any) -> None:
        self.rep = rep

    def __enter__(self) -> None:
        from interspect.engines.proxy import sampling

        self.saved = sampling.draw_masks
        rep = self.rep

        def draw(n: int, m: int, rng: np.random.Generator, *, paired: bool = False, stratified: bool = False) -> np.ndarray:
            if stratified:
                raise ValueError("stratified sampling cannot be replayed from the recorded pool")
            return pool_draw(rep, m, rng, paired=paired)

        def more(X: np.ndarray, m: int, rng: np.random.Generator) -> np.ndarray:
            have = {r.tobytes() for r in np.asarray(X, dtype=np.uint8)}
            pool = rep.sets["pool"]
            fresh = [i for i in rng.permutation(len(pool)) if pool[i].tobytes() not in have]
            return pool[np.array(fresh[:m], dtype=np.int64)].reshape(-1, pool.shape[1])

        self.saved_more = sampling.more_masks
        sampling.draw_masks = draw  # type: ignore[assignment]
        sampling.more_masks = more  # type: ignore[assignment]

    def __exit__(self, *exc: Any) -> None:
        from interspect.engines.proxy import sampling

        sampling.draw_masks = self.saved  # type: ignore[assignment]
        sampling.more_masks = self.saved_more  # type: ignore[assignment]


def run_ours(row: Row, seed: int, budget: Any, *, method: str = "proxyspex", **options: Any) -> dict[str, Any]:
    """interspect on one row: ``method`` proxyspex (``budget`` an int or an AutoBudget), spex or auto."""
    from contextlib import nullcontext

    from interspect import spex
    from interspect.engines.auto import AutoBudget, auto_method, proxyspex_rounds
    from interspect.engines.proxy import proxyspex

    game = row_game(row, seed)
    info: dict[str, Any] = {}
    t0 = time.perf_counter()
    with _Pool(game) if row.kind == "llm" else nullcontext():
        if method == "auto":
            s, info = auto_method(game, row.n, budget, seed=seed, **options)
        elif method == "spex":
            import warnings

            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                s = spex(game, row.n, budget, seed=seed, **options)
        elif isinstance(budget, AutoBudget):
            s, info = proxyspex_rounds(game, row.n, budget, seed=seed, **options)
        else:
            s = proxyspex(game, row.n, budget, seed=seed, **options)
    dt = time.perf_counter() - t0
    return {"r2": _r2(s, game, row), "time": dt, "terms": len(s), "queries": int(s.n_queries), "spectrum": s, "info": info}


# ------------------------------------------------------------------------------------------ main
def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", nargs="+", default=None,
                    help="row names or prefixes ('llm' = every model row; 'holdout' = the rows no choice was tuned on)")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--no-reference", action="store_true")
    ap.add_argument("--fresh-reference", action="store_true")
    ap.add_argument("--budget", type=int, default=None, help="run every row at this budget instead of its own")
    ap.add_argument("--n-jobs", type=_positive, default=1,
                    help="part same: interspect's n_jobs, and the workers of the reference's grid search, patched "
                         "(shapiq fixes it at 1) (default 1)")
    ap.add_argument("--traces", type=Path, nargs="+", default=None,
                    help="auto-curve: trace files to read (the first is recorded, for --rows and --seeds, when missing)")
    ap.add_argument("--part", choices=["same", "auto", "auto-curve", "method", "sampling", "llm", "fill-reference"], default="same",
                    help="fill-reference: only run the reference (seed-major) into its cache")
    ap.add_argument("--ref-worker", nargs=3, metavar=("ROW", "SEED", "BUDGET"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.ref_worker:
        name, seed, budget = args.ref_worker
        ref_worker(name, int(seed), int(budget))
        return

    import lightgbm  # noqa: F401  (import cost outside the clock, as for the reference)

    import interspect.engines.proxy  # noqa: F401

    rows = ROWS + llm_rows()
    if args.rows:
        wanted = [w for w in args.rows if w != "holdout"]
        holdout = HOLDOUT if "holdout" in args.rows else []
        rows = [r for r in rows + HOLDOUT if r in holdout or any(r.name == w or r.name.startswith(w) for w in wanted)]
    if args.budget:
        from dataclasses import replace

        rows = [replace(r, budget=args.budget) for r in rows]
    print(f"Command: `python benchmarks/proxyspex_wide.py {' '.join(sys.argv[1:])}`  ")
    print(f"Machine: {platform.machine()}, {os.cpu_count()} cores (shared), Python {platform.python_version()}; "
          f"started {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}\n")
    if args.part == "same":
        part_same(rows, args)
    elif args.part == "auto":
        part_auto(rows, args)
    elif args.part == "auto-curve":
        part_auto_curve(rows, args)
    elif args.part == "method":
        part_method(rows, args)
    elif args.part == "sampling":
        part_sampling(rows, args)
    elif args.part == "llm":
        part_llm([r for r in rows if r.kind == "llm"], args)
    elif args.part == "fill-reference":
        from proxyspex_vs_reference import ensure_ref_venv

        ensure_ref_venv()
        cache = json.loads(REF_CACHE.read_text()) if REF_CACHE.exists() else {}
        for seed in args.seeds:
            for row in rows:
                t0 = time.time()
                r = run_reference(row, seed, row.budget, cache)
                print(f"{row.name} seed {seed}: R² {r['r2']:.4f} ({time.time() - t0:.0f} s)", flush=True)


def part_same(rows: list[Row], args: argparse.Namespace) -> None:
    if not args.no_reference:
        from proxyspex_vs_reference import ensure_ref_venv

        ensure_ref_venv()
    # --fresh-reference reruns the reference (its times then come from this run, side by side)
    # and updates its cache entries; the other entries stay.
    cache = json.loads(REF_CACHE.read_text()) if REF_CACHE.exists() else {}
    print("| row | value function | n | budget | R² interspect (mean over seeds) | R² reference | Δ mean | Δ min | time interspect (s) | time ref (s) | speed-up |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    deltas, all_rows, speeds = [], [], []
    for row in rows:
        ours, refs = [], []
        for seed in args.seeds:
            ours.append(run_ours(row, seed, row.budget, n_jobs=args.n_jobs))
            if not args.no_reference:
                refs.append(run_reference(row, seed, row.budget, cache, fresh=args.fresh_reference, threads=args.n_jobs))
        r2o = np.array([o["r2"] for o in ours])
        to = float(np.mean([o["time"] for o in ours]))
        if refs:
            r2r = np.array([r["r2"] for r in refs])
            tr = float(np.mean([r["time"] for r in refs]))
            d = r2o - r2r
            deltas.append(d)
            speeds.append(tr / to)
            all_rows.append((row, r2o, r2r))
            print(f"| {row.name} | {row.describe()} | {row.n} | {row.budget} | {r2o.mean():.4f} | {r2r.mean():.4f} | "
                  f"{d.mean():+.4f} | {d.min():+.4f} | {to:.2f} | {tr:.1f} | {tr / to:.1f}× |", flush=True)
        else:
            print(f"| {row.name} | {row.describe()} | {row.n} | {row.budget} | {r2o.mean():.4f} | — | — | — | {to:.2f} | — | — |", flush=True)
    if deltas:
        d_all = np.concatenate(deltas)
        worst = min(all_rows, key=lambda t: (t[1] - t[2]).mean())
        print(f"\nRows {len(deltas)}, runs {len(d_all)}. Mean R² difference (interspect − reference) "
              f"{d_all.mean():+.4f}; rows whose seed-mean is at least the reference's − 0.005: "
              f"{sum(d.mean() >= -0.005 for d in deltas)} of {len(deltas)} (worst {worst[0].name}: "
              f"{(worst[1] - worst[2]).mean():+.4f}); single runs below −0.005: {int((d_all < -0.005).sum())} of {len(d_all)}. "
              f"Speed-up min {min(speeds):.1f}×, median {float(np.median(speeds)):.1f}×.")


def part_auto(rows: list[Row], args: argparse.Namespace) -> None:
    """budget="auto" (max_budget 5,000) against a 5,000-query run."""
    from interspect.engines.auto import AutoBudget

    print("## budget='auto' (max_budget 5,000) against ProxySPEX with 5,000 queries\n")
    print("| row | value function | n | seed | R² at 5,000 | R² auto | Δ | queries auto | stop | estimate (CV) | within 0.02 | ≤ 2,500 queries |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    ok_r2 = ok_q = total = 0
    for row in rows:
        if row.kind == "llm":
            continue  # the recorded pool holds 700 masks: no 5,000-query run to compare with
        for seed in args.seeds:
            full = run_ours(row, seed, 5000)
            auto = run_ours(row, seed, AutoBudget(max_budget=5000))
            d = auto["r2"] - full["r2"]
            total += 1
            ok_r2 += d >= -0.02
            ok_q += auto["queries"] <= 2500
            print(f"| {row.name} | {row.describe()} | {row.n} | {seed} | {full['r2']:.4f} | {auto['r2']:.4f} | {d:+.4f} | {auto['queries']} | "
                  f"{auto['info']['stop']} | {auto['info']['r2_estimate']:.4f} | {d >= -0.02} | {auto['queries'] <= 2500} |", flush=True)
    if total:
        print(f"\nWithin 0.02 of the 5,000-query R²: {ok_r2} of {total}; at most 2,500 queries: {ok_q} of {total}.")


def _trace(row: Row, seed: int) -> dict[str, Any]:
    """budget="auto" run to max_budget 5,000 with no plateau stop (``tol=0``), the true R² of every
    round's fit recorded beside its cross-validated estimate; and the 5,000-query run's R²."""
    import interspect.engines.auto as auto_mod
    from interspect.engines.auto import AutoBudget, proxyspex_rounds

    game = row_game(row, seed)
    true: list[float] = []
    fit = auto_mod._fit

    def scored(*a: Any, **kw: Any) -> Any:
        s, info = fit(*a, **kw)
        true.append(_r2(s, game, row))
        return s, info

    auto_mod._fit = scored
    try:
        _, info = proxyspex_rounds(game, row.n, AutoBudget(max_budget=5000, tol=0.0), seed=seed)
    finally:
        auto_mod._fit = fit
    rounds = [dict(h, true=t) for h, t in zip(info["rounds"], true)]
    return {"row": row.name, "n": row.n, "seed": seed, "full": run_ours(row, seed, 5000)["r2"], "rounds": rounds}


def _stop_round(trace: dict[str, Any], power: float, tol: float) -> dict[str, Any]:
    """The round at which budget="auto" (max_budget 5,000) stops with this curve and ``tol``:
    the library's own rule (``engines.auto._stop``) on each prefix of the trace."""
    from interspect.engines.auto import AutoBudget, _stop

    auto = AutoBudget(max_budget=5000, tol=tol)
    rounds = trace["rounds"]
    return next((h for i, h in enumerate(rounds) if _stop(rounds[:i + 1], trace["n"], auto, power=power)), rounds[-1])


def part_auto_curve(rows: list[Row], args: argparse.Namespace) -> None:
    """budget="auto"'s stopping rule replayed on recorded traces of every round, for two curves
    and three tolerances: within 0.02 of the 5,000-query R², and that with at most 2,500 queries."""
    paths = args.traces or [ROOT / "benchmarks" / "results" / "auto_traces.json"]
    if not paths[0].exists():
        traces = []
        for row in rows:
            if row.kind == "llm":
                continue
            for seed in args.seeds:
                traces.append(_trace(row, seed))
                print(f"traced {row.name} seed {seed}", file=sys.stderr, flush=True)
        paths[0].parent.mkdir(parents=True, exist_ok=True)
        paths[0].write_text(json.dumps(traces))
    traces = [t for p in paths for t in json.loads(p.read_text())]
    feasible = [any(h["queries"] <= 2500 and h["true"] >= t["full"] - 0.02 for h in t["rounds"]) for t in traces]
    print(f"## budget='auto' stopping rules replayed on {len(traces)} traces ({', '.join(p.name for p in paths)})\n")
    others = ", ".join(t["row"] + "/" + str(t["seed"]) for t, f in zip(traces, feasible) if not f) or "none"
    print(f"Runs where some round with at most 2,500 queries is within 0.02 of the 5,000-query R²: {sum(feasible)} of {len(traces)} "
          f"(the others: {others}).\n")
    print("| curve | tol | within 0.02 of 5,000 queries | and with ≤ 2,500 queries | mean queries |")
    print("|---|---|---|---|---|")
    for power, name in ((1.0, "a − c/m"), (0.5, "a − c/√m")):
        for tol in (0.01, 0.015, 0.02):
            stops = [_stop_round(t, power, tol) for t in traces]
            ok = [h["true"] >= t["full"] - 0.02 for h, t in zip(stops, traces)]
            both = [o and h["queries"] <= 2500 for o, h in zip(ok, stops)]
            print(f"| {name} | {tol} | {sum(ok)} of {len(traces)} | {sum(both)} | {np.mean([h['queries'] for h in stops]):.0f} |")
    # Each run under the library's own rule (the default curve and tol): the rounds recorded are
    # the rounds budget="auto" runs with the same seed, so this is what it returns.
    from interspect.engines.auto import AutoBudget

    default = AutoBudget()
    print(f"\n### Every run under the default rule (a − c/m, tol {default.tol})\n")
    print("| row | seed | R² at 5,000 | stops at | R² there | Δ | estimate (CV) | within 0.02 | ≤ 2,500 queries |")
    print("|---|---|---|---|---|---|---|---|---|")
    for t in traces:
        h = _stop_round(t, 1.0, default.tol)
        d = h["true"] - t["full"]
        print(f"| {t['row']} | {t['seed']} | {t['full']:.4f} | {h['queries']} | {h['true']:.4f} | {d:+.4f} | {h['r2_estimate']:.4f} | "
              f"{d >= -0.02} | {h['queries'] <= 2500} |")


def part_method(rows: list[Row], args: argparse.Namespace) -> None:
    """method="auto" against SPEX and ProxySPEX at the same total budget."""
    print("## method='auto' against SPEX and ProxySPEX at the same budget\n")
    print("| row | value function | n | budget | seed | R² SPEX | R² ProxySPEX | R² Banzhaf | R² auto | auto chose | SPEX's support refit with the uniform masks (held-out) | auto − best of SPEX, ProxySPEX |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    gaps = []
    for row in rows:
        for seed in args.seeds:
            try:
                sp = run_ours(row, seed, row.budget, method="spex")["r2"]
            except (ValueError, KeyError):  # too small a budget, or a design never recorded
                sp = float("nan")
            px = run_ours(row, seed, row.budget)["r2"] if row.kind != "llm" or row.budget <= 700 else float("nan")
            au = run_ours(row, seed, row.budget, method="auto")
            bz = _banzhaf(row, seed) if row.kind != "llm" else float("nan")
            best = np.nanmax([sp, px])
            gaps.append(au["r2"] - best)
            fam = au["info"].get("family_r2") or {}
            print(f"| {row.name} | {row.describe()} | {row.n} | {row.budget} | {seed} | {sp:.4f} | {px:.4f} | {bz:.4f} | {au['r2']:.4f} | "
                  f"{au['info'].get('method')} | {fam.get('spex', float('nan')):.4f} | {au['r2'] - best:+.4f} |", flush=True)
    if gaps:
        g = np.array(gaps)
        print(f"\nauto within 0.02 of the better of SPEX and ProxySPEX: {int((g >= -0.02).sum())} of {len(g)} runs "
              f"(worst {g.min():+.4f}, mean {g.mean():+.4f}).")


def _banzhaf(row: Row, seed: int) -> float:
    from interspect.engines.registry import run_method

    game = row_game(row, seed)
    try:
        return _r2(run_method("banzhaf", game, row.n, row.budget, seed=seed), game, row)
    except ValueError:
        return float("nan")


def part_llm(rows: list[Row], args: argparse.Namespace) -> None:
    """The embedded model: ProxySPEX with 1/10 and 1/5 of SPEX's queries against SPEX."""
    from interspect import spex_budget

    print("## Embedded model (SmolLM2 sentiment): ProxySPEX at 1/10 and 1/5 of SPEX's queries\n")
    print(f"ProxySPEX R²: mean over seeds {' '.join(map(str, args.seeds))} (training masks drawn from the recorded pool). "
          "SPEX: seed 0, b = 5 (its default t = 5).\n")
    print("| review | n | SPEX queries | SPEX R² | ProxySPEX R² at 1/10 | at 1/5 | 1/10 − SPEX | 1/5 − SPEX |")
    print("|---|---|---|---|---|---|---|---|")
    out = []
    for row in rows:
        rep = replay(row)
        q = spex_budget(row.n, 5)
        sp, src = (run_ours(row, 0, q, method="spex")["r2"], "") if "spex5" in rep.sets else (float("nan"), " (not recorded)")
        r10 = float(np.mean([run_ours(row, s, q // 10)["r2"] for s in args.seeds]))
        r5 = float(np.mean([run_ours(row, s, q // 5)["r2"] for s in args.seeds])) if q // 5 <= len(rep.sets["pool"]) else float("nan")
        out.append((sp, r10, r5))
        print(f"| {row.params['review']} | {row.n} | {q} | {sp:.4f}{src} | {r10:.4f} | {r5:.4f} | {r10 - sp:+.4f} | {r5 - sp:+.4f} |", flush=True)
    a = np.array(out)
    ok = ~np.isnan(a[:, 0])
    if ok.any():
        print(f"\nReviews with a SPEX R²: {int(ok.sum())}. Mean R²: SPEX {a[ok, 0].mean():.4f}, ProxySPEX at 1/10 {a[ok, 1].mean():.4f} "
              f"({a[ok, 1].mean() - a[ok, 0].mean():+.4f}), at 1/5 {np.nanmean(a[ok, 2]):.4f} ({np.nanmean(a[ok, 2]) - a[ok, 0].mean():+.4f}).")


def part_sampling(rows: list[Row], args: argparse.Namespace) -> None:
    """Uniform against paired and count-stratified training masks (same budget)."""
    print("## Training masks: uniform, paired (each with its complement), stratified by count\n")
    print("| row | value function | n | budget | R² uniform | R² paired | R² stratified |")
    print("|---|---|---|---|---|---|---|")
    diffs: dict[str, list[float]] = {"paired": [], "stratified": []}
    for row in rows:
        # Replayed model rows have recorded complements but no count-stratified masks.
        modes = ("uniform", "paired") if row.kind == "llm" else ("uniform", "paired", "stratified")
        r = {mode: float(np.mean([run_ours(row, seed, row.budget, sampling=mode)["r2"] for seed in args.seeds]))
             for mode in modes}
        r.setdefault("stratified", float("nan"))
        for mode in diffs:
            if not np.isnan(r[mode]):
                diffs[mode].append(r[mode] - r["uniform"])
        print(f"| {row.name} | {row.describe()} | {row.n} | {row.budget} | {r['uniform']:.4f} | {r['paired']:.4f} | {r['stratified']:.4f} |", flush=True)
    for mode, d in diffs.items():
        if d:
            print(f"\n{mode} − uniform: mean {np.mean(d):+.4f}, min {np.min(d):+.4f}, max {np.max(d):+.4f} over {len(d)} rows.")


if __name__ == "__main__":
    main()
