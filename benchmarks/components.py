"""Attention heads of the embedded SmolLM2-135M-Instruct (30 layers x 9 heads): the issue-13 targets.

1. Task accuracy: the unablated model on the shipped task sets (capitals, ioi) — accuracy, mean
   margin and chance level.
2. Batched component masks against a plain loop that runs one mask per forward pass (hooks that
   zero the same heads in every row, full-logit forward over the task's prompts, margin by hand),
   on the same random masks, the two alternating chunk by chunk so background load hits both
   alike; all 270 heads and one layer's 9 heads. Target: >= 3x, max |difference| <= 1e-4.
3. One layer's 9 heads: the exact spectrum (all 512 masks), wall time; its top interactions.
4. All 270 heads end to end: ProxySPEX at --budget, and LIME and Banzhaf at the same budget;
   faithfulness R² on the same --n-test fresh masks.
5. Pruning at k = 10/20/30/50% of the heads: the surrogate's binary program against removing the
   k lowest Banzhaf values (the Banzhaf baseline of step 4) and the k lowest Shapley values (the
   surrogate's own), plus k random heads; the real task margin and accuracy of each pruned model.

Every model output goes through one query cache (--cache), so a rerun resumes where it stopped.
The machine is 2 shared CPU cores; size --budget/--n-test to the time you have.

Run:
    nice python benchmarks/components.py --budget 400 --n-test 100 --out benchmarks/results_components.md
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from interspect.applications.components import (  # noqa: E402
    ComponentValueFunction,
    explain_components,
    pruning_curve,
)
from interspect.applications.components.view import split_interactions  # noqa: E402
from interspect.applications.language import load  # noqa: E402
from interspect.queries.cache import QueryCache  # noqa: E402
from interspect.queries.layer import Queries  # noqa: E402


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def progress_log(label: str):
    """A progress callable that logs every 50 queries (the run is long on a shared machine)."""
    last = [-1]

    def report(stage: str, done: int, total: int) -> None:
        if stage == "query" and done // 50 != last[0]:
            last[0] = done // 50
            log(f"{label}: {done}/{total} queries")

    return report


def query(vf, X, cache=None) -> np.ndarray:
    q = Queries(vf, vf.n, cache=cache, dedup=cache is not None)
    try:
        return q(X)
    finally:
        q.close()


# ------------------------------------------------------------------------------------ 1. tasks
def task_accuracy(lm, cache) -> list[str]:
    rows = ["| task | items | choices | chance | unablated accuracy | mean margin (log p) |", "|---|---|---|---|---|---|"]
    for name in ("capitals", "ioi"):
        acc = ComponentValueFunction(lm, name, score="accuracy")
        mar = ComponentValueFunction(lm, name, score="margin")
        one = np.ones((1, acc.n), np.uint8)
        a, m = query(acc, one, cache)[0], query(mar, one, cache)[0]
        k = len(acc.task.items[0].choices)
        rows.append(f"| {name} | {len(acc.task.items)} | {k} | {100 / k:.0f}% | {100 * a:.1f}% | {m:.3f} |")
        log(f"task {name}: accuracy {a:.3f}, margin {m:.3f}")
    return rows


# ---------------------------------------------------------------------------------- 2. speed
def plain_loop(lm, vf: ComponentValueFunction, X: np.ndarray) -> np.ndarray:
    """One mask per forward pass: hooks zero the same heads in every row; full logits; by hand."""
    import torch

    model, tok = lm.model, lm.tokenizer
    items = vf.task.items
    prompts = [tok(it.prompt)["input_ids"] for it in items]
    choices = [[tok(c, add_special_tokens=False)["input_ids"][0] for c in it.choices] for it in items]
    T = max(map(len, prompts))
    ids = torch.zeros((len(prompts), T), dtype=torch.long)
    att = torch.zeros((len(prompts), T), dtype=torch.long)
    for i, p in enumerate(prompts):
        ids[i, : len(p)] = torch.tensor(p)
        att[i, : len(p)] = 1
    last = torch.tensor([len(p) - 1 for p in prompts])
    layers = model.model.layers
    H, d = vf.layout.n_heads, vf.layout.head_dim
    out = []
    for mask in X:
        handles = []
        for layer in range(vf.layout.n_layers):
            off = [c.head for c, keep in zip(vf.components, mask) if c.layer == layer and not keep]
            if not off:
                continue
            z = torch.ones(H)
            z[off] = 0.0

            def hook(module, args, z=z):
                x = args[0]
                return (x.reshape(*x.shape[:-1], H, d).mul(z[:, None]).reshape(x.shape),)

            handles.append(layers[layer].self_attn.o_proj.register_forward_pre_hook(hook))
        try:
            with torch.inference_mode():
                logp = model(input_ids=ids, attention_mask=att).logits.float().log_softmax(-1)
        finally:
            for h in handles:
                h.remove()
        lp = logp[torch.arange(len(prompts)), last]
        out.append(float(np.mean([float(lp[i, c[0]] - lp[i, c[1:]].max()) for i, c in enumerate(choices)])))
    return np.array(out)


def speed(lm, vf: ComponentValueFunction, m: int, chunk: int, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    X = rng.integers(0, 2, size=(m, vf.n), dtype=np.uint8)
    fast, slow = np.empty(m), np.empty(m)
    t_fast = t_slow = 0.0
    for s in range(0, m, chunk):
        part = X[s : s + chunk]
        t = time.perf_counter()
        fast[s : s + len(part)] = query(vf, part)
        t_fast += time.perf_counter() - t
        t = time.perf_counter()
        slow[s : s + len(part)] = plain_loop(lm, vf, part)
        t_slow += time.perf_counter() - t
    return {"m": m, "fast": t_fast / m, "slow": t_slow / m, "diff": float(np.abs(fast - slow).max())}


# ------------------------------------------------------------------------------------- main
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--budget", type=int, default=400, help="fit queries of each method on all 270 heads")
    ap.add_argument("--n-test", type=int, default=100, help="fresh masks for R² (shared by the methods)")
    ap.add_argument("--layer", type=int, default=20, help="the layer whose 9 heads get the exact spectrum")
    ap.add_argument("--speed-masks", type=int, default=32, help="masks in the batched-vs-loop comparison")
    ap.add_argument("--batch-size", type=int, default=32, help="masks per forward pass")
    ap.add_argument("--cache", default=str(ROOT / "bench-out" / "components.sqlite"))
    ap.add_argument("--skip", default="", help="comma-separated sections to skip: tasks,speed,exact,heads,prune")
    ap.add_argument("--out", default=None, help="write the tables (markdown) here too")
    args = ap.parse_args()
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    Path(args.cache).parent.mkdir(parents=True, exist_ok=True)
    cache = QueryCache(args.cache)
    start = time.perf_counter()
    t = time.perf_counter()
    lm = load("smollm2")
    load_s = time.perf_counter() - t
    log(f"model loaded in {load_s:.1f} s")
    bs = args.batch_size
    report = [
        "# Attention heads of the embedded model (issue 13)",
        "",
        f"Command: `nice python benchmarks/components.py {' '.join(sys.argv[1:])}`",
        f"Machine: {os.cpu_count()} CPU cores (shared), load average at start {os.getloadavg()[0]:.1f}; "
        f"model load {load_s:.0f} s. Model: SmolLM2-135M-Instruct (embedded GGUF, float32), 30 layers x 9 heads. "
        "Zero ablation, score = mean margin log p(answer) - max log p(wrong) over the task's items, default task 'capitals'.",
        "",
    ]

    if "tasks" not in skip:
        report += ["## 1. Shipped tasks, unablated model", "", *task_accuracy(lm, cache), ""]

    vf_all = ComponentValueFunction(lm, "capitals", batch_size=bs)
    if "speed" not in skip:
        vf_layer = ComponentValueFunction(lm, "capitals", layers=[args.layer], batch_size=bs)
        rows = ["| components | masks | batched s/mask | loop s/mask | speed-up | max abs diff |", "|---|---|---|---|---|---|"]
        for label, vf in (("all 270 heads", vf_all), (f"layer {args.layer} (9 heads)", vf_layer)):
            r = speed(lm, vf, args.speed_masks, max(1, min(bs, args.speed_masks // 2)), seed=1)
            rows.append(f"| {label} | {r['m']} | {r['fast']:.3f} | {r['slow']:.3f} | {r['slow'] / r['fast']:.1f}x | {r['diff']:.1e} |")
            log(f"speed {label}: {r}")
        report += ["## 2. Batched component masks vs one mask per forward pass", "",
                   "Loop: hooks zeroing the same heads in every row, one full-logit forward over the 16 prompts per mask.",
                   "Batched: `ComponentValueFunction` (many masks per pass, a different mask per row, lower layers cached, "
                   "language-model head only at the answer positions).", "", *rows, ""]

    if "exact" not in skip:
        t = time.perf_counter()
        e = explain_components(lm, "capitals", layers=[args.layer], method="exact", n_test=0, cache=cache,
                               batch_size=bs, index="Moebius", accuracy=False, progress=progress_log("exact"))
        secs = time.perf_counter() - t
        top = "; ".join(f"{' × '.join(it.labels)} {it.value:+.3f}" for it in e.top(6))
        log(f"exact layer {args.layer}: {secs:.1f} s, {e.metadata['n_model_calls']} computed")
        report += [f"## 3. Exact spectrum of layer {args.layer}'s 9 heads", "",
                   "| masks | computed now | from cache | wall s | full score | top Möbius terms |", "|---|---|---|---|---|---|",
                   f"| {2 ** 9} | {e.metadata['n_model_calls']} | {e.metadata['n_from_cache']} | {secs:.0f} | {e.full_output:.3f} | {top} |", ""]

    surrogate = banz = None
    if "heads" not in skip:
        rows = ["| method | budget | R² on fresh masks | computed now | from cache | wall s |", "|---|---|---|---|---|---|"]
        results = {}
        for method in ("proxyspex", "banzhaf", "lime"):
            t = time.perf_counter()
            e = explain_components(lm, "capitals", method=method, budget=args.budget, n_test=args.n_test,
                                   cache=cache, batch_size=bs, accuracy=method == "proxyspex",
                                   progress=progress_log(method))
            secs = time.perf_counter() - t
            results[method] = e
            md = e.metadata
            rows.append(f"| {method} | {md['n_queries']} | {md['faithfulness_r2']:.3f} | {md['n_model_calls']} | {md['n_from_cache']} | {secs:.0f} |")
            log(f"heads {method}: R2 {md['faithfulness_r2']:.3f}, {secs:.0f} s, computed {md['n_model_calls']}")
        surrogate, banz = results["proxyspex"], results["banzhaf"]
        within, across = split_interactions(surrogate, 5)
        report += ["## 4. All 270 heads, end to end", "",
                   f"Same budget for every method; the same {args.n_test} fresh uniformly random test masks (seeded) for every R². "
                   "Banzhaf draws uniform masks from the same seed as ProxySPEX's sampler, so most of its masks come from the cache.",
                   "", *rows, "",
                   f"Unablated accuracy {100 * surrogate.metadata['unablated_accuracy']:.1f}%, margin {surrogate.full_output:.3f}. "
                   "Top first-order heads (FBII): " + ", ".join(f"{it.labels[0]} {it.value:+.3f}" for it in surrogate.top(8) if it.order == 1)[:600],
                   "",
                   "Top interactions within a layer: " + ("; ".join(f"{' × '.join(it.labels)} {it.value:+.3f}" for it in within) or "none"),
                   "",
                   "Top interactions across layers: " + ("; ".join(f"{' × '.join(it.labels)} {it.value:+.3f}" for it in across) or "none"),
                   ""]

    if "prune" not in skip and surrogate is not None:
        n = vf_all.n
        ks = [round(p * n) for p in (0.1, 0.2, 0.3, 0.5)]
        rng = np.random.default_rng(7)
        marg = {
            "banzhaf": np.array([banz.spectrum.interactions("BV").get((i,), 0.0) for i in range(n)]),
            "shapley (surrogate SV)": np.array([surrogate.spectrum.interactions("SV").get((i,), 0.0) for i in range(n)]),
            "random": rng.random(n),
        }
        acc = ComponentValueFunction(lm, "capitals", score="accuracy", batch_size=bs)
        t = time.perf_counter()
        rows_p = pruning_curve(surrogate.spectrum, vf_all, ks, marginals=marg, extra={"accuracy": acc}, cache=cache)
        secs = time.perf_counter() - t
        methods = list(dict.fromkeys(r.method for r in rows_p))
        head = "| k removed | " + " | ".join(f"{m}: margin / acc" for m in methods) + " | surrogate predicted |"
        rows = [head, "|---" * (len(methods) + 2) + "|"]
        for k in ks:
            by = {r.method: r for r in rows_p if r.k == k}
            cells = [f"{by[m].real['score']:.3f} / {100 * by[m].real['accuracy']:.0f}%" for m in methods]
            rows.append(f"| {k} ({100 * k / n:.0f}%) | " + " | ".join(cells) + f" | {by['surrogate'].predicted:.3f} |")
        log(f"pruning: {secs:.0f} s")
        report += ["## 5. Pruning the heads", "",
                   "Real task score (margin / accuracy) of the model with k heads zero-ablated, chosen by the surrogate's "
                   "binary program (maximise the predicted score with exactly k heads removed) or by removing the k "
                   "lowest marginal scores.", "", *rows, ""]

    report += [f"Total wall time {time.perf_counter() - start:.0f} s."]
    cache.close()
    text = "\n".join(report) + "\n"
    print(text)
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
