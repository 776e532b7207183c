"""Command line: ``interspect explain`` (the main job) and ``interspect bench`` (comparisons)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from interspect import __version__

__all__ = ["main", "build_parser"]

EXIT_USAGE = 2


class UserError(Exception):
    """A mistake in what the user asked for: reported in one line, exit status 2."""


def default_cache_path() -> str:
    """``$INTERSPECT_CACHE``, else ``~/.cache/interspect/queries.sqlite``."""
    env = os.environ.get("INTERSPECT_CACHE")
    if env:
        return env
    base = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return str(base / "interspect" / "queries.sqlite")


def _add_explain(sub: Any) -> None:
    p = sub.add_parser(
        "explain",
        help="explain a language model's output on a text",
        description="Explain which words (or sentences) and their interactions drive a language model's output.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    src = p.add_mutually_exclusive_group()
    src.add_argument("--text", help="the text to explain (default: read --file or standard input)")
    src.add_argument("--file", help="read the text from this file")
    p.add_argument(
        "--question", help="a question or instruction kept fixed while the text is masked"
    )
    p.add_argument(
        "--task",
        choices=["sentiment", "puzzle", "qa"],
        help="use the paper's prompt and scorer for this task",
    )
    p.add_argument(
        "--unit",
        default="word",
        choices=["word", "sentence", "paragraph"],
        help="what one feature is",
    )
    p.add_argument(
        "--model",
        default="smollm2",
        help="'smollm2' (embedded), a Hugging Face id or path, or openai:MODEL@BASE_URL",
    )
    p.add_argument("--device", default="cpu", help="torch device for local models (cpu, cuda, mps)")
    p.add_argument(
        "--scorer",
        default="auto",
        choices=["auto", "logprob", "margin", "class_logit"],
        help="how a masked prompt becomes one number",
    )
    p.add_argument(
        "--labels",
        help="two label continuations for the margin scorer, comma-separated, e.g. ' positive, negative'",
    )
    p.add_argument(
        "--masking", default="remove", help="'remove', 'mask_token', or a replacement string"
    )
    p.add_argument(
        "--method", default="auto", choices=["auto", "proxyspex", "spex", "exact"], help="algorithm"
    )
    p.add_argument(
        "--budget", type=int, help="model queries for fitting (default: chosen from n and method)"
    )
    p.add_argument(
        "--max-degree", type=int, default=5, help="largest interaction order searched for"
    )
    p.add_argument(
        "--index",
        default="FBII",
        help="interaction index reported: Fourier, Moebius, SV, BV, SII, BII, k-SII, STII, FSII, FBII",
    )
    p.add_argument("--order", type=int, default=2, help="order of the reported index")
    p.add_argument("--top", type=int, default=10, help="interactions printed")
    p.add_argument(
        "--n-test",
        type=int,
        default=200,
        help="fresh random masks for the faithfulness R² (0 skips)",
    )
    p.add_argument(
        "--cache",
        default=None,
        help="SQLite query cache (default: $INTERSPECT_CACHE or ~/.cache/interspect/queries.sqlite)",
    )
    p.add_argument("--no-cache", action="store_true", help="do not read or write the query cache")
    p.add_argument("--seed", type=int, default=0, help="random seed (same seed, same result)")
    p.add_argument(
        "--out",
        default="interspect-out",
        help="directory for explanation.json, spectrum.json, report.html",
    )
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.set_defaults(func=run_explain)


def _read_text(args: argparse.Namespace) -> str:
    if args.text is not None:
        return args.text
    if args.file is not None:
        try:
            return Path(args.file).read_text(encoding="utf-8")
        except OSError as exc:
            raise UserError(f"cannot read --file {args.file!r}: {exc.strerror}") from exc
    if sys.stdin is None or sys.stdin.isatty():
        raise UserError("no input: give --text, --file, or pipe the text on standard input")
    return sys.stdin.read()


def run_explain(args: argparse.Namespace) -> int:
    from interspect.applications.text.entry import explain_text
    from interspect.interface.report import format_table

    text = _read_text(args)
    if not text.strip():
        raise UserError(
            "the input text is empty: give a non-empty --text, --file or standard input"
        )
    if args.top < 1:
        raise UserError(f"--top must be >= 1, got {args.top}")
    labels = None
    if args.labels:
        parts = args.labels.split(",")
        if len(parts) != 2:
            raise UserError(
                f"--labels needs exactly two comma-separated continuations, got {args.labels!r}"
            )
        labels = (parts[0], parts[1])
    cache = None if args.no_cache else (args.cache or default_cache_path())
    expl = explain_text(
        text,
        question=args.question,
        model=args.model,
        unit=args.unit,
        scorer=args.scorer,
        labels=labels,
        task=args.task,
        masking=args.masking,
        method=args.method,
        budget=args.budget,
        max_degree=args.max_degree,
        index=args.index,
        order=args.order,
        cache=cache,
        seed=args.seed,
        n_test=args.n_test,
        progress=not args.no_progress,
        device=args.device,
    )
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    expl.to_json(out / "explanation.json")
    expl.spectrum.to_json(out / "spectrum.json")
    expl.to_html(out / "report.html")
    meta = expl.metadata
    r2 = meta.get("faithfulness_r2")
    print(
        f"model {meta.get('model')} | method {meta['method']} ({meta['method_reason']}) | n = {expl.n} features"
    )
    print(
        f"queries: {meta['n_queries']} for fitting + {meta['n_test']} for testing; "
        f"{meta.get('n_model_calls')} computed by the model, {meta.get('n_from_cache')} from the cache"
    )
    print(
        f"unmasked output: {expl.full_output:.4f}"
        + (f" = {meta['output']}" if meta.get("output") else "")
    )
    print(
        f"faithfulness R² on {meta['n_test']} fresh masks: "
        + (f"{r2:.3f}" if r2 is not None else "not measured")
    )
    print()
    print(format_table(expl, args.top))
    print()
    print(
        f"report: {out / 'report.html'}  (also explanation.json, spectrum.json)  [{meta['seconds']:.1f} s]"
    )
    return 0


def _add_bench(sub: Any) -> None:
    from interspect.evaluation import bench

    p = sub.add_parser(
        "bench",
        help="compare explainers on real tasks",
        description=(bench.__doc__ or "").strip().splitlines()[0] if bench.__doc__ else None,
    )
    bench.add_arguments(p)
    p.set_defaults(func=bench.run)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="interspect",
        description="Explain black-box models, above all LLMs, by the few feature interactions that drive their output.",
    )
    parser.add_argument("--version", action="version", version=f"interspect {__version__}")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    _add_explain(sub)
    _add_bench(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_USAGE
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print(
            "interspect: interrupted (model outputs computed so far are in the cache)",
            file=sys.stderr,
        )
        return 130
    except (UserError, ValueError, TypeError, ImportError, FileNotFoundError, RuntimeError) as exc:
        if args.debug:
            raise
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        print(f"interspect: error: {msg}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
