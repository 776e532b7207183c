"""``interspect explain-components``: which attention heads of a language model work together."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from interspect.applications.components.tasks import DEFAULT_TASK, TASKS
from interspect.applications.components.value import ABLATIONS, SCORES

__all__ = ["add_parser", "run"]


def add_parser(sub: Any) -> None:
    """Add the ``explain-components`` subcommand to an argparse subparsers object."""
    from interspect.interface.cli import add_output_options, add_run_options

    p = sub.add_parser(
        "explain-components",
        help="explain which attention heads of a language model work together on a task",
        description=(
            "Explain a task score of a language model by the interactions of its attention heads "
            "(f(S) = the score with only the heads in S active), and optionally prune by it."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--model", default="smollm2", help="'smollm2' (embedded), or a local Hugging Face causal LM (Llama family, Qwen2, GPT-2)")
    p.add_argument("--device", default="cpu", help="torch device (cpu, cuda, mps)")
    p.add_argument("--task", default=DEFAULT_TASK, help=f"shipped task ({', '.join(TASKS)}) or a JSON file of {{prompt, answer, wrong}} items")
    p.add_argument("--layers", help="only these layers, comma-separated, e.g. 12,13 (default: all)")
    p.add_argument("--components", help="explicit components, comma-separated: L12.H3, L12.MLP, L12 (= its heads)")
    p.add_argument("--mlp", action="store_true", help="explain the MLP blocks of the chosen layers too")
    p.add_argument("--ablation", default="zero", choices=list(ABLATIONS), help="how an inactive component is removed")
    p.add_argument("--score", default="margin", choices=list(SCORES), help="task score explained")
    add_run_options(p)
    p.add_argument("--batch-size", type=int, default=16, help="masks per forward pass")
    p.add_argument("--prune", help="also prune: percentages of the components to remove, e.g. 10,20,30,50")
    add_output_options(p)
    p.set_defaults(func=run)


def _ints(text: str | None, what: str) -> list[int] | None:
    from interspect.interface.cli import UserError

    if text is None:
        return None
    try:
        vals = [int(v) for v in text.replace(",", " ").split()]
    except ValueError:
        raise UserError(f"{what} must be comma-separated integers, got {text!r}") from None
    if not vals:
        raise UserError(f"{what} is empty")
    return vals


def run(args: argparse.Namespace) -> int:
    from interspect.applications.components.entry import explain_components
    from interspect.interface.cli import UserError, default_cache_path
    from interspect.interface.report import format_table

    if args.top < 1:
        raise UserError(f"--top must be >= 1, got {args.top}")
    layers = _ints(args.layers, "--layers")
    prune = _ints(args.prune, "--prune")
    if prune is not None and any(not 0 < p < 100 for p in prune):
        raise UserError(f"--prune takes percentages between 1 and 99, got {args.prune!r}")
    if args.components:
        if args.mlp:
            raise UserError("--mlp adds MLP blocks to --layers; with --components name them (L12.MLP)")
        components: Any = [c.strip() for c in args.components.split(",") if c.strip()]
    else:
        components = "all" if args.mlp else "heads"
    cache = None if args.no_cache else (args.cache or default_cache_path())
    expl = explain_components(
        args.model, args.task, components=components, layers=layers, ablation=args.ablation,
        score=args.score, method=args.method, budget=args.budget, max_degree=args.max_degree,
        index=args.index, order=args.order, cache=cache, seed=args.seed, n_test=args.n_test,
        progress=not args.no_progress, device=args.device, batch_size=args.batch_size,
    )
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    meta = expl.metadata
    r2 = meta.get("faithfulness_r2")
    acc = meta.get("unablated_accuracy")
    print(f"model {meta.get('model')} | method {meta['method']} ({meta['method_reason']}) | n = {expl.n} components")
    print(
        f"queries: {meta['n_queries']} for fitting + {meta['n_test']} for testing; "
        f"{meta.get('n_model_calls')} computed by the model, {meta.get('n_from_cache')} from the cache"
    )
    print(f"unablated score: {expl.full_output:.4f} = {meta['output']}")
    if acc is not None:
        print(f"unablated accuracy on task {meta['task']!r}: {100 * acc:.1f}%")
    print(f"faithfulness R² on {meta['n_test']} fresh masks: " + (f"{r2:.3f}" if r2 is not None else "not measured"))
    print()
    print(format_table(expl, args.top))
    if prune:
        print()
        print(_prune(expl, args, components, layers, prune, cache))
    expl.to_json(out / "explanation.json")
    expl.spectrum.to_json(out / "spectrum.json")
    expl.to_html(out / "report.html")
    print()
    print(f"report: {out / 'report.html'}  (also explanation.json, spectrum.json)  [{meta['seconds']:.1f} s]")
    return 0


def _prune(expl: Any, args: argparse.Namespace, components: Any, layers: Any, percents: list[int], cache: Any) -> str:
    """Pruning curve: the surrogate's binary program against its own Banzhaf and Shapley values."""
    import numpy as np

    from interspect.applications.components.pruning import format_pruning, pruning_curve
    from interspect.applications.components.value import ComponentValueFunction
    from interspect.applications.language import load

    lm = load(args.model, device=args.device)
    opts = {"components": components, "layers": layers, "ablation": args.ablation, "batch_size": args.batch_size}
    vf = ComponentValueFunction(lm, args.task, score=args.score, **opts)
    acc = ComponentValueFunction(lm, args.task, score="accuracy", **opts)
    ks = sorted({max(1, int(round(p / 100 * expl.n))) for p in percents})
    s = expl.spectrum
    marg = {"banzhaf": [s.interactions("BV").get((i,), 0.0) for i in range(expl.n)],
            "shapley": [s.interactions("SV").get((i,), 0.0) for i in range(expl.n)]}
    rows = pruning_curve(s, vf, ks, marginals={k: np.asarray(v) for k, v in marg.items()},
                         extra=None if args.score == "accuracy" else {"accuracy": acc}, cache=cache)
    return "pruning (real scores; marginals = the surrogate's own Banzhaf/Shapley values)\n" + format_pruning(rows, n=expl.n)
