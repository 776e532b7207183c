"""Recorded outputs of the embedded language model, replayed as value functions.

The wider ProxySPEX benchmark (``proxyspex_wide.py``) needs real-model value functions but must
run in minutes; the embedded SmolLM2 scores 1-3 masked prompts per second on the 2 shared cores
here. So this script queries the model once, in stages, on fixed mask sets per review, and the
benchmark replays the recorded outputs.

Per review of ``../shared/data/sentiment.csv`` (value function
``TextValueFunction.for_task("sentiment", smollm2, review, unit="word")``, the one
``interspect bench --task sentiment`` uses), the mask sets are:

- ``test``: 200 uniformly random masks (``default_rng(10_000).integers(0, 2, (200, n))``), only
  ever used to score;
- ``pool`` + ``pool2``: 700 distinct uniform masks (``uniform_masks(n, 700, default_rng(1_000 +
  review))``: all-ones and all-zeros first; rows 0-349, then 350-699); a method with budget m
  draws its m training masks from it;
- ``spex4`` / ``spex5``: the masks ``interspect.spex(vf, n, spex_budget(n, b), seed=0)`` queries
  (b = 4 and b = 5);
- ``pair``: the complements of the pool's rows 2..176 (for paired sampling, which the
  reference's sampler does).

Usage::

    nice -n 10 python benchmarks/llm_replay.py generate          # resumable; stages in order
    python benchmarks/llm_replay.py export                       # -> benchmarks/llm_replay.npz

``generate`` files every output in a SQLite query cache (``benchmarks/results/llm_replay.sqlite``,
git-ignored), so a killed run resumes and ``export`` can run at any time (it writes the reviews
and mask sets complete so far). The exported ``.npz`` (packed masks + float64 outputs, well under
a megabyte) is committed, so the benchmark needs neither the model nor the cache.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent.parent / "shared" / "data" / "sentiment.csv"
if not DATA.exists():
    DATA = Path("/work/shared/data/sentiment.csv")
CACHE = ROOT / "benchmarks" / "results" / "llm_replay.sqlite"
EXPORT = ROOT / "benchmarks" / "llm_replay.npz"
# Eight reviews with n from 19 to 65 words, two to three per n bucket (16-31, 32-63, 64-127).
REVIEWS = (10, 11, 14, 13, 21, 24, 20, 35)
SPEX_ORDER = (14, 13, 24, 35, 10, 11, 21, 20)
N_TEST, N_POOL, N_PAIR = 200, 700, 175
# The pool is recorded in two stages (rows 0..349, then 350..699) so that every review has a
# usable pool before any review gets the rest.
N_POOL1 = 350
STAGES = ("test", "pool", "pair", "pool2", "spex5", "spex4")


def _reviews() -> list[str]:
    from interspect.evaluation.bench import _strip_quotes

    with DATA.open(newline="") as fh:
        return [_strip_quotes(r["review"]) for r in csv.DictReader(fh)]


def stage_masks(stage: str, review: int, n: int, vf: Any = None, queries: Any = None) -> np.ndarray | None:
    """The masks of one stage (for the spex stages: run SPEX on ``queries``, recording its masks)."""
    from interspect.engines.proxy import uniform_masks

    if stage == "test":
        return np.random.default_rng(10_000).integers(0, 2, size=(N_TEST, n), dtype=np.uint8)
    if stage == "pool":
        return uniform_masks(n, N_POOL, np.random.default_rng(1_000 + review))[:N_POOL1]
    if stage == "pool2":
        return uniform_masks(n, N_POOL, np.random.default_rng(1_000 + review))[N_POOL1:]
    if stage == "pair":
        return 1 - uniform_masks(n, N_POOL, np.random.default_rng(1_000 + review))[2 : 2 + N_PAIR]
    if stage in ("spex4", "spex5"):
        if queries is None:
            return None
        from interspect import spex, spex_budget

        seen: list[np.ndarray] = []

        def recording(X: np.ndarray) -> np.ndarray:
            seen.append(np.array(X, dtype=np.uint8))
            return queries(X)

        recording.identity = queries.identity  # type: ignore[attr-defined]
        spex(recording, n, spex_budget(n, int(stage[-1])), seed=0)
        return np.concatenate(seen)
    raise ValueError(stage)


def generate(args: argparse.Namespace) -> None:
    from interspect.applications.language import load
    from interspect.applications.text import TextValueFunction
    from interspect.queries.cache import QueryCache
    from interspect.queries.layer import Queries

    CACHE.parent.mkdir(parents=True, exist_ok=True)
    cache = QueryCache(CACHE)
    texts = _reviews()
    lm = load("smollm2")
    vfs = {r: TextValueFunction.for_task("sentiment", lm, texts[r], unit="word", batch_size=32) for r in REVIEWS}
    manifest: dict[str, Any] = json.loads(_manifest_path().read_text()) if _manifest_path().exists() else {}
    for stage in args.stages:
        # SPEX's designs are the expensive stage: first for the reviews that
        # results_proxyspex_llm.md has no SPEX run of.
        order = SPEX_ORDER if stage.startswith("spex") else REVIEWS
        for r in order:
            vf = vfs[r]
            key = f"{r}:{stage}"
            if key in manifest:
                continue
            t0 = time.time()
            q = Queries(vf, vf.n, cache=cache)
            X = stage_masks(stage, r, vf.n, vf, q)
            q(X)  # the spex stages already queried through q; this is then all cache hits
            manifest[key] = {"rows": len(X), "identity": vf.identity, "n": vf.n}
            manifest[f"{r}:text"] = texts[r]
            _manifest_path().write_text(json.dumps(manifest, indent=1))
            print(f"review {r} (n={vf.n}) {stage}: {len(X)} masks, {q.stats['computed']} computed, "
                  f"{time.time() - t0:.0f} s", file=sys.stderr, flush=True)
    cache.close()


def _manifest_path() -> Path:
    return CACHE.with_suffix(".json")


def export(args: argparse.Namespace) -> None:
    """Write the complete (review, stage) mask sets and their outputs to one compressed npz."""
    from interspect.queries.cache import QueryCache, mask_key

    manifest = json.loads(_manifest_path().read_text())
    cache = QueryCache(CACHE)
    out: dict[str, np.ndarray] = {}
    meta: dict[str, Any] = {"reviews": {}, "stages": list(STAGES), "data": "sentiment.csv",
                            "value_function": 'TextValueFunction.for_task("sentiment", smollm2, review, unit="word")'}
    for r in REVIEWS:
        entry = manifest.get(f"{r}:test")
        if entry is None:
            continue
        n, ident = entry["n"], entry["identity"]
        meta["reviews"][str(r)] = {"n": n, "identity": ident, "text": manifest[f"{r}:text"], "stages": []}
        for stage in STAGES:
            if f"{r}:{stage}" not in manifest:
                continue
            if stage.startswith("spex"):
                X = _rerun_spex_masks(stage, n, cache, ident)
            else:
                X = stage_masks(stage, r, n)
            got = cache.get(ident, [mask_key(x) for x in X])
            y = np.array([got[mask_key(x)] for x in X])
            out[f"r{r}_{stage}_masks"] = np.packbits(X, axis=1)
            out[f"r{r}_{stage}_y"] = y
            meta["reviews"][str(r)]["stages"].append(stage)
    out["meta"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    np.savez_compressed(args.out, **out)
    print(f"wrote {args.out} ({Path(args.out).stat().st_size / 1e3:.0f} kB): "
          + ", ".join(f"{r}: {v['stages']}" for r, v in meta["reviews"].items()), file=sys.stderr)


def _rerun_spex_masks(stage: str, n: int, cache: Any, ident: str) -> np.ndarray:
    """SPEX's masks, by running SPEX again on the cached outputs (no model needed)."""
    from interspect.queries.cache import mask_key

    class FromCache:
        identity = ident

        def __call__(self, X: np.ndarray) -> np.ndarray:
            got = cache.get(ident, [mask_key(x) for x in X])
            return np.array([got[mask_key(x)] for x in X])

    return stage_masks(stage, -1, n, queries=FromCache())  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------------ replay
class Replay:
    """One review's recorded outputs as a value function (a mask never recorded is an error)."""

    def __init__(self, n: int, identity: str, tables: dict[str, tuple[np.ndarray, np.ndarray]], name: str) -> None:
        self.n = n
        self.identity = identity
        self.name = name
        self.sets = {k: X for k, (X, _) in tables.items()}
        if "pool2" in self.sets:
            self.sets["pool"] = np.concatenate([self.sets["pool"], self.sets.pop("pool2")])
        self._table: dict[bytes, float] = {}
        for X, y in tables.values():
            for key, v in zip(np.packbits(X, axis=1), y):
                self._table[key.tobytes()] = float(v)

    def __call__(self, X: np.ndarray) -> np.ndarray:
        X = np.asarray(X, dtype=np.uint8)
        keys = np.packbits(X, axis=1)
        try:
            return np.array([self._table[k.tobytes()] for k in keys])
        except KeyError:
            raise KeyError(f"review {self.name}: a mask that was never recorded was asked for; "
                           "draw training masks from .sets['pool'] (see llm_replay.py)") from None


def load_replays(path: Path = EXPORT) -> list[Replay]:
    z = np.load(path)
    meta = json.loads(bytes(z["meta"]).decode())
    out = []
    for r, info in meta["reviews"].items():
        n = info["n"]
        tables = {s: (np.unpackbits(z[f"r{r}_{s}_masks"], axis=1, count=n), z[f"r{r}_{s}_y"]) for s in info["stages"]}
        out.append(Replay(n, info["identity"], tables, r))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    g = sub.add_parser("generate")
    g.add_argument("--stages", nargs="+", default=list(STAGES), choices=STAGES)
    e = sub.add_parser("export")
    e.add_argument("--out", default=str(EXPORT))
    args = ap.parse_args()
    {"generate": generate, "export": export}[args.cmd](args)


if __name__ == "__main__":
    main()
