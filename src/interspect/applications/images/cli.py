"""``interspect explain-image [PATH]``: explain an image model's output by its image regions.

Without PATH it runs the offline default: the bundled-digits classifier on held-out digit
``--digit`` (0..449), explained by its 4×4 cells, masked black (no ink). With PATH the image is
explained for ``--model`` (default the digits classifier, which reads any image as an 8×8 gray
digit); point ``--model`` at a Hugging Face image classifier, or at a vision-language model
together with ``--question``.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

__all__ = ["add_parser", "run", "parse_grid", "parse_color"]


def parse_grid(text: str) -> tuple[int, int]:
    """``"4x4"`` (or ``"4,4"``) -> ``(4, 4)``.

    Examples
    --------
    >>> parse_grid("3x5")
    (3, 5)
    """
    parts = text.lower().replace(",", "x").replace("×", "x").split("x")
    try:
        rows, cols = (int(p) for p in parts)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected ROWSxCOLS such as 4x4, got {text!r}") from None
    if rows < 1 or cols < 1:
        raise argparse.ArgumentTypeError(f"rows and columns must be >= 1, got {text!r}")
    return rows, cols


def parse_color(text: str) -> int | tuple[int, ...]:
    """``"0"`` -> 0; ``"128,128,128"`` -> (128, 128, 128).

    Examples
    --------
    >>> parse_color("255,0,0"), parse_color("7")
    ((255, 0, 0), 7)
    """
    try:
        vals = tuple(int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a gray value or R,G,B (0..255), got {text!r}") from None
    if len(vals) not in (1, 3) or not all(0 <= v <= 255 for v in vals):
        raise argparse.ArgumentTypeError(f"expected a gray value or R,G,B (0..255), got {text!r}")
    return vals[0] if len(vals) == 1 else vals


def add_parser(sub: Any) -> None:
    """Add ``explain-image`` to the ``interspect`` subcommands."""
    from interspect.interface.cli import add_output_options, add_run_options

    p = sub.add_parser(
        "explain-image",
        help="explain an image model's output by the image regions that work together",
        description=(__doc__ or "").strip().splitlines()[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("path", nargs="?", help="the image file (default: a held-out digit for the offline digits model)")
    p.add_argument("--digit", type=int, default=0, help="without PATH: which held-out digit (0..449)")
    p.add_argument("--model", default="digits",
                   help="'digits' (offline), or a Hugging Face image classifier / vision-language model id or path")
    p.add_argument("--device", default="cpu", help="torch device for Hugging Face models (cpu, cuda, mps)")
    p.add_argument("--question", help="vision-language models: the question kept fixed")
    p.add_argument("--answer", help="vision-language models: the answer scored (default: its own answer)")
    p.add_argument("--labels", help="vision-language models: two answers 'a,b' for the margin logp(a) - logp(b)")
    p.add_argument("--prompt", help="vision-language models: prompt template containing {question}")
    p.add_argument("--target", help="classifiers: class index or label explained (default: the predicted class)")
    p.add_argument("--score", default="auto",
                   choices=["auto", "logit", "probability", "log_probability", "logprob", "margin"],
                   help="what is explained (classifiers: logit/probability/log_probability; VLMs: logprob/margin)")
    p.add_argument("--grid", type=parse_grid, default=(4, 4), help="ROWSxCOLS grid cells")
    p.add_argument("--segments", default="grid",
                   help="'grid', 'slic' (superpixels; images extra), or a .npy file holding an (H, W) integer label map")
    p.add_argument("--n-segments", type=int, default=16, help="superpixels for --segments slic")
    p.add_argument("--masking", default="auto", choices=["auto", "blur", "mean", "color", "background"],
                   help="what a masked segment becomes ('auto': black for digits, else blur)")
    p.add_argument("--blur-radius", type=float, help="Gaussian standard deviation in pixels (default: max(H, W)/8)")
    p.add_argument("--color", type=parse_color, help="fill colour for --masking color: gray value or R,G,B (default 0)")
    p.add_argument("--background", help="image file for --masking background (same size)")
    p.add_argument("--batch-size", type=int, help="images per model call")
    add_run_options(p)
    add_output_options(p)
    p.set_defaults(func=run)


def _segments(text: str) -> Any:
    if text in ("grid", "slic"):
        return text
    from interspect.interface.cli import UserError

    path = Path(text)
    if path.suffix != ".npy":
        raise UserError(f"--segments must be 'grid', 'slic' or a .npy label map file, got {text!r}")
    import numpy as np

    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise UserError(f"cannot read --segments {text!r}: {str(exc).splitlines()[0]}") from None


def run(args: argparse.Namespace) -> int:
    from interspect.applications.images.entry import explain_image
    from interspect.applications.images.view import render_png
    from interspect.interface.cli import UserError, default_cache_path, parse_labels
    from interspect.interface.report import format_table

    if args.top < 1:
        raise UserError(f"--top must be >= 1, got {args.top}")
    labels = parse_labels(args.labels, "answers")
    if args.path is None:
        from interspect.applications.images.digits import digit_image

        if args.model != "digits":
            raise UserError(f"--model {args.model!r} needs an image: give PATH (only the digits model has a built-in image)")
        image, truth = digit_image(args.digit)
        source = f"held-out digit #{args.digit} (true class {truth})"
    else:
        image, source = Path(args.path), args.path
    target: Any = args.target
    if target is not None and target.isdigit():
        target = int(target)
    cache = None if args.no_cache else (args.cache or default_cache_path())
    expl = explain_image(
        image, model=args.model, question=args.question, answer=args.answer, labels=labels, target=target,
        score=args.score, prompt=args.prompt, segments=_segments(args.segments), grid=args.grid,
        n_segments=args.n_segments, masking=args.masking, blur_radius=args.blur_radius, color=args.color,
        background=args.background, method=args.method, budget=args.budget, max_degree=args.max_degree,
        index=args.index, order=args.order, cache=cache, seed=args.seed, n_test=args.n_test,
        progress=not args.no_progress, device=args.device, batch_size=args.batch_size,
    )
    expl.metadata["source"] = source
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    expl.to_json(out / "explanation.json")
    expl.spectrum.to_json(out / "spectrum.json")
    expl.to_html(out / "report.html")
    render_png(expl, out / "report.png")
    meta = expl.metadata
    r2 = meta.get("faithfulness_r2")
    seg = meta["segments"]
    print(f"image {source}: {seg['width']}×{seg['height']} px, {expl.n} {seg['kind']} segments, "
          f"masking {meta['masking']['masking']}")
    print(f"model {meta.get('model')} | method {meta['method']} ({meta['method_reason']})")
    print(f"queries: {meta['n_queries']} for fitting + {meta['n_test']} for testing; "
          f"{meta.get('n_model_calls')} computed by the model, {meta.get('n_from_cache')} from the cache")
    print(f"unmasked output: {expl.full_output:.4f} = {meta['output']}")
    print(f"faithfulness R² on {meta['n_test']} fresh masks: " + (f"{r2:.3f}" if r2 is not None else "not measured"))
    print()
    print(format_table(expl, args.top))
    print()
    print(f"report: {out / 'report.html'}  (also report.png, explanation.json, spectrum.json)  [{meta['seconds']:.1f} s]")
    return 0
