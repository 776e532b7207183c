"""Command line: ``interspect explain`` (the main job) and ``interspect bench`` (comparisons).

Exit status: 0 done; 2 a mistake in what was asked for or in the environment (one line on stderr);
1 an internal error (one line that says it is a bug; ``--debug`` shows the traceback).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from interspect import __version__
from interspect.engines.registry import (
    AUTO,
    DEFAULT_MAX_DEGREE,
    DEFAULT_N_TEST,
    DEFAULT_SEED,
    METHODS,
)

__all__ = ["main", "build_parser"]

EXIT_USAGE = 2
EXIT_INTERNAL = 1
EXIT_INTERRUPTED = 130  # the shell convention for SIGINT


class UserError(Exception):
    """A mistake in what the user asked for: reported in one line, exit status 2."""


def parse_labels(value: str | None, what: str = "continuations") -> tuple[str, str] | None:
    """``--labels 'a,b'`` as ``("a", "b")`` (``None`` when not given); one clear error otherwise.

    Examples
    --------
    >>> parse_labels(" positive, negative")
    (' positive', ' negative')
    """
    if not value:
        return None
    parts = value.split(",")
    if len(parts) != 2 or not all(parts):
        raise UserError(f"--labels needs exactly two non-empty comma-separated {what} (e.g. 'positive,negative'), got {value!r}")
    return parts[0], parts[1]


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
    src.add_argument(
        "--file",
        help="read the text from this file; a .jsonl or .csv file holds many inputs (one result "
        "folder each under --out, and a summary)",
    )
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
    p.add_argument(
        "--device", default="auto", help="torch device for local models (auto = cuda if available, cpu, cuda, mps)"
    )
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
    p.add_argument("--method", default=AUTO, choices=[AUTO, *METHODS], help="algorithm")
    p.add_argument(
        "--budget",
        type=_budget_arg,
        help="model queries for fitting (default: chosen from n and method), or 'auto': query in "
        "rounds until the cross-validated R² estimate stops improving (methods auto, proxyspex)",
    )
    p.add_argument("--max-budget", type=int, help="with --budget auto: never more queries than this (default 5000)")
    p.add_argument("--target-r2", type=float, help="with --budget auto: stop once the R² estimate reaches this")
    p.add_argument(
        "--max-degree", type=int, default=DEFAULT_MAX_DEGREE, help="largest interaction order searched for"
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
        default=DEFAULT_N_TEST,
        help="fresh random masks for the faithfulness R² (0 skips)",
    )
    p.add_argument(
        "--cache",
        default=None,
        help="SQLite query cache (default: $INTERSPECT_CACHE or ~/.cache/interspect/queries.sqlite)",
    )
    p.add_argument("--no-cache", action="store_true", help="do not read or write the query cache")
    p.add_argument("--seed", type=int, default=DEFAULT_SEED, help="random seed (same seed, same result)")
    p.add_argument(
        "--out",
        default="interspect-out",
        help="directory for explanation.json, spectrum.json, report.html",
    )
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    _add_span_options(p)
    api = p.add_argument_group("OpenAI-compatible endpoints (--model openai:MODEL@URL)")
    api.add_argument("--timeout", type=float, default=None, help="seconds per request (default: 60)")
    api.add_argument("--retries", type=int, default=None, help="retries of a failed request on HTTP 429/5xx, timeouts, lost connections (default: 4)")
    api.add_argument("--concurrency", type=int, default=None, help="requests in flight at once (default: 8)")
    p.add_argument(
        "--ray", nargs="?", const="local", default=None, metavar="ADDRESS",
        help="run the model on Ray actors: a cluster address (auto, ray://host:10001) or none "
        "for a local cluster",
    )
    p.add_argument("--actors", type=int, default=None, help="Ray actors (default: one per CPU, or per GPU)")
    p.add_argument("--gpus-per-actor", type=float, default=0.0, help="GPUs per Ray actor")
    p.add_argument(
        "--parallel-inputs", type=int, default=1,
        help="with --file and --ray: inputs explained at once, so the actors stay busy",
    )
    p.set_defaults(func=run_explain)


def _add_span_options(p: Any) -> None:
    span = p.add_mutually_exclusive_group()
    span.add_argument(
        "--span", help="explain only this part of the generated answer (a substring occurring once)"
    )
    span.add_argument(
        "--span-chars", metavar="START:END", help="explain only characters START..END of the generated answer"
    )


def _span_arg(args: argparse.Namespace) -> str | tuple[int, int] | None:
    """``--span`` / ``--span-chars`` as ``explain_text``'s ``span=``."""
    if getattr(args, "span_chars", None) is None:
        return getattr(args, "span", None)
    try:
        start, end = (int(v) for v in args.span_chars.split(":"))
    except ValueError:
        raise UserError(f"--span-chars must be START:END (two integers), got {args.span_chars!r}") from None
    return start, end


def _executor(args: argparse.Namespace) -> Any:
    """The executor the --ray options ask for (None: in this process)."""
    if getattr(args, "ray", None) is None:
        return None
    from interspect.queries.ray_executor import RayExecutor

    return RayExecutor(
        address=None if args.ray == "local" else args.ray, num_actors=args.actors,
        num_gpus=args.gpus_per_actor,
    )


def _budget_arg(text: str) -> int | str:
    if text.strip().lower() == "auto":
        return "auto"
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--budget must be a positive integer or 'auto', got {text!r}") from None


def _budget_of(args: argparse.Namespace) -> Any:
    """The ``budget`` argument of explain: an int, None, or an AutoBudget for ``--budget auto``."""
    if args.budget != "auto":
        if args.max_budget is not None or args.target_r2 is not None:
            raise UserError("--max-budget and --target-r2 go with --budget auto")
        return args.budget
    from interspect.engines.auto import AutoBudget

    return AutoBudget(max_budget=args.max_budget, target_r2=args.target_r2)


def _read_text(args: argparse.Namespace) -> str:
    if args.text is not None:
        try:
            args.text.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise UserError(
                f"--text is not UTF-8: character {exc.start} comes from an undecodable byte; "
                "give UTF-8 text (or --file with a UTF-8 file)"
            ) from None
        return args.text
    if args.file is not None:
        try:
            data = Path(args.file).read_bytes()
        except OSError as exc:
            raise UserError(f"cannot read --file {args.file!r}: {exc.strerror}") from exc
        return _decode(data, f"--file {args.file!r}")
    if sys.stdin is None or sys.stdin.isatty():
        raise UserError("no input: give --text, --file, or pipe the text on standard input")
    stream = getattr(sys.stdin, "buffer", None)
    return sys.stdin.read() if stream is None else _decode(stream.read(), "standard input")


def _decode(data: bytes, where: str) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UserError(
            f"{where} is not UTF-8 text (byte {exc.object[exc.start]:#04x} at offset {exc.start}); "
            "convert it, e.g. `iconv -f latin1 -t utf-8`"
        ) from None


_OUT_FILES = ("explanation.json", "spectrum.json", "report.html")


def _check_out(out: Path) -> None:
    """Refuse an --out that could not take the results, before anything is computed."""
    shown = repr(str(out))
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {shown} exists and is not a directory; give a directory path")
    if out.is_dir():
        if not os.access(out, os.W_OK | os.X_OK):
            raise UserError(f"--out {shown} is not writable; give another directory")
        for name in _OUT_FILES:
            f = out / name
            if f.exists() and (f.is_dir() or not os.access(f, os.W_OK)):
                raise UserError(f"--out {shown}: {name} exists and cannot be overwritten")
        return
    # The directory is made at the end; its nearest existing parent must let us make it.
    parent = out.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise UserError(f"--out {shown} cannot be created: {str(parent)!r} is not a directory")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise UserError(f"--out {shown} cannot be created: {str(parent)!r} is not writable")


def _open_cache(args: argparse.Namespace) -> Any:
    """The query cache the run will use (opened now: a bad file is refused before the model loads)."""
    if args.no_cache:
        return None
    from interspect.queries.cache import QueryCache

    path = args.cache or default_cache_path()
    try:
        return QueryCache(path)
    except (OSError, ValueError) as exc:
        text = str(exc)
        raise UserError(text if "cache=" in text else f"--cache {path!r}: {text}") from None


def _model_options(args: argparse.Namespace) -> dict[str, Any]:
    given = {"timeout": args.timeout, "max_retries": args.retries, "concurrency": args.concurrency}
    options = {k: v for k, v in given.items() if v is not None}
    if options and not str(args.model).startswith("openai:"):
        flags = ", ".join("--" + {"max_retries": "retries"}.get(k, k) for k in options)
        raise UserError(f"{flags} apply to --model openai:MODEL@URL only, not to {args.model!r}")
    import math

    if args.timeout is not None and not (math.isfinite(args.timeout) and args.timeout > 0):
        raise UserError(f"--timeout must be > 0 seconds, got {args.timeout}")
    if args.retries is not None and args.retries < 0:
        raise UserError(f"--retries must be >= 0, got {args.retries}")
    if args.concurrency is not None and args.concurrency < 1:
        raise UserError(f"--concurrency must be >= 1, got {args.concurrency}")
    return options


def _write_results(expl: Any, out: Path, cache: Any) -> Path:
    """Write the three result files to ``out``; if that fails after all, to a fresh temporary
    directory, and say so (the run's model outputs are never thrown away)."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        _write_files(expl, out)
        return out
    except OSError as exc:
        import tempfile

        reason = exc.strerror or str(exc)
        where = (
            f"the model outputs are in the cache {str(cache.path)!r}: a rerun with a writable --out computes nothing again"
            if cache is not None and not cache.read_only else "the run had no cache"
        )
        try:
            spare = Path(tempfile.mkdtemp(prefix="interspect-out-"))
            _write_files(expl, spare)
        except OSError:
            raise UserError(f"cannot write the results to --out {str(out)!r} ({reason}); {where}") from None
        raise UserError(
            f"cannot write the results to --out {str(out)!r} ({reason}); they are in {str(spare)!r} instead, and {where}"
        ) from None


def _write_files(expl: Any, out: Path) -> None:
    expl.to_json(out / "explanation.json")
    expl.spectrum.to_json(out / "spectrum.json")
    expl.to_html(out / "report.html")


def format_floored(floors: dict[str, Any] | None) -> str | None:
    """The summary line about floored scores (None when the backend never floors).

    Examples
    --------
    >>> format_floored({"scored": 71, "floored": 3, "all_floored": 1, "share": 0.0423})
    "floored scores: 3 of 71 computed outputs (4.2%) rest on a label not among the server's top tokens (1 on no label at all)"
    """
    if not floors:
        return None
    if not floors["scored"]:
        return "floored scores: not measured (no output was computed in this run)"
    line = (
        f"floored scores: {floors['floored']} of {floors['scored']} computed outputs "
        f"({100 * floors['share']:.1f}%) rest on a label not among the server's top tokens"
    )
    if floors["all_floored"]:
        line += f" ({floors['all_floored']} on no label at all)"
    return line


def run_explain(args: argparse.Namespace) -> int:
    from interspect.applications.text.entry import explain_text
    from interspect.interface.report import format_r2, format_table

    if args.file is not None and Path(args.file).suffix.lower() in (".jsonl", ".csv"):
        from interspect.interface.many import run_file

        return run_file(args, executor=_executor(args), cache=_cache_arg(args))
    text = _read_text(args)
    if not text.strip():
        raise UserError(
            "the input text is empty: give a non-empty --text, --file or standard input"
        )
    if args.top < 1:
        raise UserError(f"--top must be >= 1, got {args.top}")
    labels = parse_labels(args.labels)
    options = _model_options(args)
    out = Path(args.out)
    _check_out(out)
    cache = _open_cache(args)
    args._open_cache = cache  # for main's messages about what is kept
    executor = _executor(args)
    try:
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
            budget=_budget_of(args),
            max_degree=args.max_degree,
            index=args.index,
            order=args.order,
            cache=cache,
            seed=args.seed,
            n_test=args.n_test,
            progress=not args.no_progress,
            device=args.device,
            model_options=options,
            span=_span_arg(args),
            executor=executor,
        )
        written = _write_results(expl, out, cache)
    finally:
        if cache is not None:
            cache.close()
        if executor is not None:
            executor.close()
    meta = expl.metadata
    print(
        f"model {meta.get('model')} | method {meta['method']} ({meta['method_reason']}) | n = {expl.n} features"
    )
    counts = f"{meta.get('n_model_calls')} computed by the model"
    if cache is not None:
        counts += f", {meta.get('n_from_cache')} from the cache"
    if meta.get("n_duplicates"):
        counts += f", {meta['n_duplicates']} repeated masks answered once"
    print(f"queries: {meta['n_queries']} for fitting + {meta['n_test']} for testing; {counts}")
    floored = format_floored(meta.get("floored"))
    if floored:
        print(floored)
    print(
        f"unmasked output: {expl.full_output:.4f}"
        + (f" = {meta['output']}" if meta.get("output") else "")
    )
    print(
        f"faithfulness R² on {meta['n_test']} fresh masks: {format_r2(meta)}"
        + (f" | estimated R² (cross-validated, an estimate): {meta['r2_estimate']:.3f}" if meta.get("r2_estimate") is not None else "")
    )
    print()
    print(format_table(expl, args.top))
    print()
    print(
        f"report: {written / 'report.html'}  (also explanation.json, spectrum.json)  [{meta['seconds']:.1f} s]"
    )
    return 0


def _cache_arg(args: argparse.Namespace) -> Any:
    return None if args.no_cache else (args.cache or default_cache_path())


def add_run_options(p: Any, *, queries: str = "model queries", masks: str = "masks") -> None:
    """The options every ``explain-*`` subcommand shares for the method and what is reported."""
    p.add_argument("--method", default=AUTO, choices=[AUTO, *METHODS], help="algorithm")
    p.add_argument("--budget", type=int, help=f"{queries} for fitting (default: chosen from n and method)")
    p.add_argument("--max-degree", type=int, default=DEFAULT_MAX_DEGREE, help="largest interaction order searched for")
    p.add_argument("--index", default="FBII", help="interaction index reported: Fourier, Moebius, SV, BV, SII, BII, k-SII, STII, FSII, FBII")
    p.add_argument("--order", type=int, default=2, help="order of the reported index")
    p.add_argument("--top", type=int, default=10, help="interactions printed")
    p.add_argument("--n-test", type=int, default=DEFAULT_N_TEST, help=f"fresh random {masks} for the faithfulness R² (0 skips)")


def add_output_options(p: Any, *, seed_help: str = "random seed (same seed, same result)") -> None:
    """The cache, seed, output-folder and progress options every ``explain-*`` subcommand shares."""
    p.add_argument("--cache", default=None, help="SQLite query cache (default: $INTERSPECT_CACHE or ~/.cache/interspect/queries.sqlite)")
    p.add_argument("--no-cache", action="store_true", help="do not read or write the query cache")
    p.add_argument("--seed", type=int, default=DEFAULT_SEED, help=seed_help)
    p.add_argument("--out", default="interspect-out", help="directory for explanation.json, spectrum.json, report.html")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def _int_list(text: str) -> list[int]:
    try:
        vals = [int(float(v)) for v in text.replace(",", " ").split()]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected integers, got {text!r}") from exc
    if not vals or min(vals) < 1:
        raise argparse.ArgumentTypeError(f"budgets must be positive integers, got {text!r}")
    return vals


def _add_bench(sub: Any) -> None:
    from interspect.evaluation import bench

    p = sub.add_parser(
        "bench",
        help="compare explainers on real tasks",
        description=(bench.__doc__ or "").strip().splitlines()[0],
    )
    methods = ",".join(bench.BENCH_METHODS)
    default_methods = ",".join(bench.DEFAULT_METHODS)
    p.add_argument("--task", choices=bench.DATASETS, default="sentiment", help="what to explain (default: sentiment)")
    p.add_argument("--data", default=None, help="CSV of items (default: ../shared/data/<task>.csv from the current directory)")
    p.add_argument("--model", default="smollm2", help="language model for text tasks (default: smollm2, the embedded model)")
    p.add_argument("--methods", default=default_methods, help=f"comma-separated, from: {methods} (default: {default_methods})")
    p.add_argument("--budget", type=_int_list, nargs="+", default=[[1000]], help="one or several query budgets, e.g. --budget 500 2000 (default: 1000)")
    p.add_argument("--limit", type=int, default=0, help="at most K items (after the n filters); 0 = all")
    p.add_argument("--per-bucket", type=int, default=0, help="at most K items per n bucket (8-15, 16-31, 32-63, 64-127, 128+)")
    p.add_argument("--min-n", type=int, default=1, help="skip items with fewer features")
    p.add_argument("--max-n", type=int, default=10**9, help="skip items with more features")
    p.add_argument("--n-test", type=int, default=DEFAULT_N_TEST, help=f"fresh random masks for R² per item (default: {DEFAULT_N_TEST})")
    p.add_argument("--no-removal", action="store_true", help="skip the top-r removal metric (saves 6 queries per row)")
    p.add_argument("--removal-time-limit", type=float, default=5.0, help="seconds per removal binary program before falling back to the best found (default: 5)")
    p.add_argument("--batch-size", type=int, default=64, help="masked prompts per model call (default: 64)")
    p.add_argument("--seed", type=int, default=DEFAULT_SEED, help="seed of every method and of the test masks")
    p.add_argument("--out", default="bench-out", help="output directory (default: bench-out)")
    p.add_argument("--cache", default=None, help="SQLite query cache shared by all methods (default: OUT/cache.sqlite; 'none' to disable)")
    p.add_argument("--resume", action="store_true", help="keep rows already in OUT/results.csv and run only the missing ones")
    p.add_argument("--synthetic-n", default="16,32,64,128", help="feature counts of the synthetic items (default: 16,32,64,128)")
    p.add_argument("--noise", type=float, default=0.0, help="noise std of the synthetic task (default: 0)")
    p.set_defaults(func=run_bench)


def bench_config(args: argparse.Namespace) -> Any:
    """The :class:`~interspect.evaluation.bench.BenchConfig` that ``interspect bench`` options describe."""
    from interspect.evaluation.bench import BENCH_METHODS, BenchConfig

    methods = tuple(m.strip() for m in str(args.methods).split(",") if m.strip())
    for m in methods:
        if m not in BENCH_METHODS:
            raise UserError(f"--methods: unknown method {m!r}; accepted values: {', '.join(BENCH_METHODS)}")
    try:
        sizes = tuple(int(v) for v in str(args.synthetic_n).split(",") if v.strip())
    except ValueError as exc:
        raise UserError(f"--synthetic-n must be comma-separated integers, got {args.synthetic_n!r}") from exc
    data = args.data
    if data is None and args.task != "synthetic":
        data = Path("..") / "shared" / "data" / f"{args.task}.csv"
    cache: Any = None if args.cache is None else (False if str(args.cache).lower() == "none" else Path(args.cache))
    return BenchConfig(
        task=args.task, out=Path(args.out), data=None if data is None else Path(data), model=args.model,
        methods=methods, budgets=tuple(b for group in args.budget for b in group), limit=args.limit,
        per_bucket=args.per_bucket, min_n=args.min_n, max_n=args.max_n, n_test=args.n_test,
        removal=not args.no_removal, removal_time_limit=args.removal_time_limit,
        batch_size=args.batch_size, seed=args.seed, cache=cache, resume=args.resume,
        synthetic_n=sizes, noise=args.noise,
    )


def run_bench(args: argparse.Namespace) -> int:
    from interspect.evaluation.bench import run_bench as run

    print(run(bench_config(args)))
    return 0


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (what was wrong and where to look), not the usage block."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="interspect",
        description="Explain black-box models, above all LLMs, by the few feature interactions that drive their output.",
    )
    parser.add_argument("--version", action="version", version=f"interspect {__version__}")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for add in _SUBCOMMANDS:
        add(sub)
    return parser


def _application(target: str) -> Callable[[Any], None]:
    """The ``add_parser(subparsers)`` of an application's own CLI module (``"module:function"``)."""

    def add(sub: Any) -> None:
        from importlib import import_module

        module, func = target.split(":")
        getattr(import_module(module), func)(sub)

    return add


#: Each entry adds one subcommand's parser (with ``set_defaults(func=...)``); an application keeps
#: its subcommand in its own folder and adds one line here, e.g.
#: ``_application("interspect.applications.images.cli:add_parser")``.
_SUBCOMMANDS: list[Callable[[Any], None]] = [
    _add_explain,
    _add_bench,
    _application("interspect.applications.images.cli:add_parser"),
    _application("interspect.interface.prune:add_parser"),
    _application("interspect.applications.training_data.cli:add_parser"),
    _application("interspect.applications.components.cli:add_parser"),
]

_PACKAGE_DIR = Path(__file__).resolve().parents[1]


def _raised_by_interspect(exc: BaseException) -> bool:
    """True when interspect's own code raised ``exc`` (a message composed for the user), False when
    it came from inside numpy, torch or another library (then it is a bug to report)."""
    tb = exc.__traceback__
    last = None
    while tb is not None:
        last = tb
        tb = tb.tb_next
    if last is None:
        return False
    return Path(last.tb_frame.f_code.co_filename).resolve().is_relative_to(_PACKAGE_DIR)


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status (0 ok, 1 internal error, 2 usage or environment error)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_USAGE
    import warnings

    def one_line_warning(message: Any, category: Any, *rest: Any, **kw: Any) -> None:
        print(f"interspect: warning: {_one_line(message) if isinstance(message, BaseException) else str(message).splitlines()[0]}", file=sys.stderr)

    shown = warnings.showwarning
    if not args.debug:
        warnings.showwarning = one_line_warning
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        cache = getattr(args, "_open_cache", "unknown")
        kept = (
            "model outputs computed so far are in the cache; a rerun resumes"
            if cache == "unknown" or (cache is not None and not cache.read_only)
            else "no cache: model outputs computed so far are not kept"
        )
        print(f"interspect: interrupted ({kept})", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as exc:
        if args.debug:
            raise
        # A mistake in what was asked for, or in the environment (a file, a server, a missing
        # extra): one line, exit 2. Anything else is interspect's fault: say so, exit 1.
        usage = isinstance(exc, (UserError, OSError, ImportError)) or (
            isinstance(exc, (ValueError, TypeError, RuntimeError)) and _raised_by_interspect(exc)
        )
        if usage and not _is_internal(exc):
            print(f"interspect: error: {_one_line(exc)}", file=sys.stderr)
            return EXIT_USAGE
        print(
            f"interspect: internal error ({type(exc).__name__}: {_one_line(exc)}); this is a bug, "
            "please report it with the output of --debug",
            file=sys.stderr,
        )
        return EXIT_INTERNAL
    finally:
        warnings.showwarning = shown


def _is_internal(exc: BaseException) -> bool:
    # interspect marks consistency failures of its own as internal errors.
    return _one_line(exc).startswith("internal error")


def console() -> None:
    """The ``interspect`` command: :func:`main`, then exit with its status.

    After Ctrl-C the outputs that arrived are committed to the cache before ``main`` returns; the
    process then ends at once instead of waiting for requests still in flight to a slow endpoint
    (Python joins worker threads at exit, which could take a whole request timeout).
    """
    status = main()
    if status == EXIT_INTERRUPTED:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(status)
    sys.exit(status)


if __name__ == "__main__":  # pragma: no cover
    console()
