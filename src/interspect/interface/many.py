"""``explain_many``: explain many inputs in one run, one result folder each and a summary table.

Every input's masks go through one query layer with the shared executor (a Ray actor pool
serves all inputs without reloading the model) and one shared SQLite cache, so a run that
crashed or was killed resumes where it stopped: a rerun recomputes nothing that is in the
cache and rewrites every folder and the summary. Each input's batches are spread over the executor;
with ``parallel_inputs=K`` (and an executor that runs elsewhere, like Ray) K inputs are in flight
at once, so the workers stay busy while one input's engine fits.

Inputs are texts (``str``), records (``{"text": ..., "id": ..., "question": ..., "target":
..., "labels": [a, b]}``, as in a JSONL or CSV file) or value functions with an ``n``
attribute (any application). ``interspect explain --file inputs.jsonl|csv`` is this on the
command line.
"""

from __future__ import annotations

import csv
import json
import re
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Literal

import numpy as np

from interspect.core.validation import check_positive_int
from interspect.engines.registry import DEFAULT_N_TEST, DEFAULT_SEED
from interspect.interface.explain import Method, explain, validate_common
from interspect.interface.explanation import Explanation
from interspect.queries.cache import QueryCache
from interspect.queries.executors import Executor, SerialExecutor, resolve_executor
from interspect.queries.progress import ProgressArg, check_progress

__all__ = ["explain_many", "read_inputs", "SUMMARY_COLUMNS", "INPUT_KEYS"]

#: Keys a record may have (``text`` is required).
INPUT_KEYS = ("text", "id", "question", "target", "labels")
#: Columns of ``summary.csv`` (and of the rows ``explain_many`` returns).
SUMMARY_COLUMNS = (
    "index", "id", "folder", "n", "method", "queries", "model_calls", "from_cache", "r2",
    "top_interaction", "top_value", "seconds", "error",
)  # fmt: skip


def _slug(text: str, limit: int = 32) -> str:
    words = re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower()
    return words[:limit].rstrip("-") or "input"


def _record(item: Any, k: int) -> dict[str, Any]:
    """One input as a dict with a ``text`` or a ``value_fn``; one clear error otherwise."""
    if isinstance(item, str):
        return {"text": item}
    if isinstance(item, Mapping):
        unknown = sorted(set(item) - set(INPUT_KEYS))
        if unknown:
            raise ValueError(
                f"inputs[{k}] has unknown keys {unknown}; accepted keys: {', '.join(INPUT_KEYS)}"
            )
        if not isinstance(item.get("text"), str) or not item["text"].strip():
            raise ValueError(f"inputs[{k}] needs a non-empty 'text' string, got {item.get('text')!r}")
        rec = {key: v for key, v in item.items() if v is not None and v != ""}
        if "labels" in rec:
            labels = rec["labels"]
            if isinstance(labels, str):
                labels = labels.split(",")
            if len(labels) != 2 or not all(isinstance(x, str) for x in labels):
                raise ValueError(f"inputs[{k}]['labels'] must be two strings, got {rec['labels']!r}")
            rec["labels"] = (labels[0], labels[1])
        return rec
    if callable(item) and isinstance(getattr(item, "n", None), (int, np.integer)):
        return {"value_fn": item}
    raise TypeError(
        f"inputs[{k}] must be a text (str), a record {{'text': ..., ...}} or a value function "
        f"with an integer attribute n, got {type(item).__name__}"
    )


def read_inputs(path: str | Path) -> list[dict[str, Any]]:
    """Records from a ``.jsonl`` file (one JSON object, or a JSON string, per line) or a ``.csv``
    file with a header that has a ``text`` column (``id``, ``question``, ``target``, ``labels``
    optional).

    Examples
    --------
    >>> import tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "in.jsonl")
    >>> _ = open(p, "w").write('{"id": "a", "text": "Great fun."}\\n"Dull."\\n')
    >>> read_inputs(p)
    [{'id': 'a', 'text': 'Great fun.'}, {'text': 'Dull.'}]
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".jsonl", ".csv"):
        raise ValueError(f"inputs file {str(path)!r} must end in .jsonl or .csv, got {suffix!r}")
    try:
        raw = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise OSError(f"cannot read inputs file {str(path)!r}: {exc.strerror}") from None
    records: list[dict[str, Any]] = []
    if suffix == ".jsonl":
        for line_no, line in enumerate(raw.splitlines(), 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path.name} line {line_no} is not valid JSON ({exc.msg})") from None
            if isinstance(obj, str):
                obj = {"text": obj}
            if not isinstance(obj, dict):
                raise ValueError(f"{path.name} line {line_no} must be a JSON object or string, got {type(obj).__name__}")
            records.append(_record(obj, len(records)))
    else:
        reader = csv.DictReader(raw.splitlines())
        if not reader.fieldnames or "text" not in reader.fieldnames:
            raise ValueError(f"{path.name} needs a header row with a 'text' column, got {reader.fieldnames}")
        for row in reader:
            records.append(_record({k: v for k, v in row.items() if k is not None}, len(records)))
    if not records:
        raise ValueError(f"inputs file {str(path)!r} has no inputs")
    return records


def _top(expl: Explanation) -> tuple[str, float | None]:
    """The strongest interaction of order >= 2 (the strongest term when there is none)."""
    best = expl.top(1, min_order=2) or expl.top(1)
    if not best:
        return "", None
    return " × ".join(best[0].labels), round(float(best[0].value), 6)


def _write_summary(out: Path, rows: list[dict[str, Any]]) -> None:
    with open(out / "summary.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=SUMMARY_COLUMNS)
        w.writeheader()
        w.writerows(rows)
    (out / "summary.md").write_text(format_summary(rows) + "\n", encoding="utf-8")


def format_summary(rows: list[dict[str, Any]]) -> str:
    """The summary as a markdown table (one row per input)."""
    head = "| # | id | n | method | queries | model calls | R² | top interaction |"
    lines = [head, "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        r2 = "" if r.get("r2") is None else f"{r['r2']:.3f}"
        top = f"{r['top_interaction']} ({r['top_value']:+.3g})" if r.get("top_value") is not None else ""
        if r.get("error"):
            top = f"error: {r['error']}"
        lines.append(
            f"| {r['index']} | {r['id']} | {r.get('n', '')} | {r.get('method', '')} | {r.get('queries', '')} "
            f"| {r.get('model_calls', '')} | {r2} | {top.replace('|', '/')} |"
        )
    return "\n".join(lines)


def explain_many(
    inputs: Iterable[Any],
    *,
    out: str | Path,
    model: Any = "smollm2",
    question: str | None = None,
    unit: str = "word",
    scorer: str = "auto",
    labels: tuple[str, str] | None = None,
    task: str | None = None,
    masking: str = "remove",
    method: Method = "auto",
    budget: int | None = None,
    max_degree: int = 5,
    index: str = "FBII",
    order: int = 2,
    seed: int | None = DEFAULT_SEED,
    n_test: int = DEFAULT_N_TEST,
    cache: str | Path | QueryCache | Literal[False] | None = None,
    executor: str | Executor | None = None,
    progress: ProgressArg = False,
    device: str = "auto",
    report: bool = True,
    on_error: Literal["raise", "record"] = "raise",
    parallel_inputs: int = 1,
) -> list[dict[str, Any]]:
    """Explain every input; write ``out/<NNN>-<id>/`` per input and ``out/summary.csv|md``.

    Parameters
    ----------
    inputs : iterable of str, dict or value function
        Texts, records ``{"text", "id", "question", "target", "labels"}`` (a record's own
        ``question``/``target``/``labels`` override the shared ones), or value functions with
        an ``n`` attribute (explained with :func:`interspect.explain`).
    out : str or Path
        Root folder: one folder per input (``explanation.json``, ``spectrum.json`` and, with
        ``report=True``, ``report.html``) and the summary.
    model, question, unit, scorer, labels, task, masking, device
        As in :func:`interspect.explain_text` (the model is loaded once for all inputs).
    method, budget, max_degree, index, order, seed, n_test
        As in :func:`interspect.explain`, the same for every input.
    cache : str, Path, QueryCache, False or None
        The SQLite query cache shared by all inputs (default ``out/cache.sqlite``; ``False``:
        none, and then no resuming).
    executor : "serial", "ray" or executor
        Where the model runs; one executor (one Ray actor pool) serves every input.
    progress : bool or callable
        ``True``: one line per finished input on stderr; a callable is called as
        ``progress("inputs", done, total)``.
    report : bool
        Also write each input's HTML report.
    on_error : {"raise", "record"}
        ``"raise"``: stop at the first failing input (the cache keeps everything computed);
        ``"record"``: note the error in its summary row and go on.
    parallel_inputs : int
        Inputs explained at once (driver threads sharing the executor), so a pool of workers
        stays busy across inputs; each result is the same as alone. Needs an executor that
        runs the value function elsewhere (``"ray"``): in-process, inputs go one at a time.

    Returns
    -------
    list of dict
        The summary rows (:data:`SUMMARY_COLUMNS`): ``n``, ``method``, ``queries`` (for fitting),
        ``model_calls`` (rows computed now, 0 on a full resume), ``from_cache``, ``r2``,
        ``top_interaction``, ...

    Examples
    --------
    >>> import tempfile
    >>> from interspect import explain_many, games
    >>> fns = [games.DummyGame(5, active=(0, 3)), games.DummyGame(5, active=(1, 2))]
    >>> for f in fns:
    ...     f.identity = f"dummy-{f.active}"
    >>> rows = explain_many(fns, out=tempfile.mkdtemp(), method="exact", index="Moebius", report=False)
    >>> [(r["n"], r["top_interaction"], r["model_calls"]) for r in rows]
    [(5, 'x0 × x3', 32), (5, 'x1 × x2', 32)]
    """
    validate_common(method, budget, max_degree, index, order, n_test)
    if on_error not in ("raise", "record"):
        raise ValueError(f"on_error={on_error!r} is not supported; accepted values: 'raise', 'record'")
    check_progress(progress)
    parallel_inputs = check_positive_int(parallel_inputs, "parallel_inputs")
    if isinstance(inputs, (str, bytes)) or not isinstance(inputs, Iterable):
        raise TypeError("inputs must be a list of texts, records or value functions (a single text: use explain_text)")
    records = [_record(item, k) for k, item in enumerate(inputs)]
    if not records:
        raise ValueError("inputs is empty: give at least one text, record or value function")
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ValueError(f"out={str(out)!r} exists and is not a folder")
    out.mkdir(parents=True, exist_ok=True)
    own_executor = isinstance(executor, str) or executor is None
    ex = resolve_executor(executor)
    if parallel_inputs > 1 and isinstance(ex, SerialExecutor):
        # One model in this process must not run in several threads at once.
        raise ValueError(
            f"parallel_inputs={parallel_inputs} needs an executor that runs the model elsewhere "
            "(executor='ray'); in-process, inputs run one at a time (parallel_inputs=1)"
        )
    if cache is False:
        store = None
    elif isinstance(cache, QueryCache):
        store = cache
    else:
        store = QueryCache(out / "cache.sqlite" if cache is None else cache)
    lm = None
    if any("text" in r for r in records):
        from interspect.applications.language import load

        lm = load(model, device=device) if isinstance(model, str) else model
    notify: Callable[[str, int, int], Any] | None = progress if callable(progress) else None
    rows: list[dict[str, Any]] = []
    common = {
        "method": method, "budget": budget, "max_degree": max_degree, "index": index,
        "order": order, "seed": seed, "n_test": n_test, "cache": store, "executor": ex,
    }  # fmt: skip
    text_options = {"question": question, "unit": unit, "scorer": scorer, "labels": labels,
                    "task": task, "masking": masking}  # fmt: skip

    def one(k: int) -> dict[str, Any]:
        rec = records[k]
        rid = str(rec.get("id", k))
        name = f"{k:03d}-{_slug(rid if 'id' in rec else rec.get('text', type(rec.get('value_fn')).__name__))}"
        row: dict[str, Any] = dict.fromkeys(SUMMARY_COLUMNS, "")
        row.update({"index": k, "id": rid, "folder": name, "r2": None, "top_value": None})
        start = time.perf_counter()
        try:
            expl = _explain_one(rec, lm, common, **text_options)
        except Exception as exc:
            if on_error == "raise":
                raise
            row["error"] = " ".join(str(exc).split())[:300] or type(exc).__name__
        else:
            folder = out / name
            folder.mkdir(exist_ok=True)
            expl.to_json(folder / "explanation.json")
            expl.spectrum.to_json(folder / "spectrum.json")
            if report:
                expl.to_html(folder / "report.html")
            meta = expl.metadata
            top, value = _top(expl)
            r2 = meta.get("faithfulness_r2")
            row.update({
                "n": expl.n, "method": meta["method"], "queries": meta["n_queries"],
                "model_calls": meta["n_model_calls"], "from_cache": meta["n_from_cache"],
                "r2": None if r2 is None else round(float(r2), 6), "top_interaction": top,
                "top_value": value,
            })  # fmt: skip
        row["seconds"] = round(time.perf_counter() - start, 3)
        return row

    threads = None
    try:
        if parallel_inputs > 1:
            # Inputs in flight at once keep the executor's workers busy while one input's
            # engine fits between its query rounds; results come back in input order.
            threads = ThreadPoolExecutor(max_workers=parallel_inputs)
            results: Iterable[dict[str, Any]] = threads.map(one, range(len(records)))
        else:
            results = map(one, range(len(records)))
        for k, row in enumerate(results):
            rows.append(row)
            # After every input, so a crash leaves the summary of what finished.
            _write_summary(out, rows)
            if notify is not None:
                notify("inputs", k + 1, len(records))
            elif progress:
                import sys

                status = f"error: {row['error']}" if row["error"] else f"R² {row['r2']}, {row['model_calls']} model calls"
                print(f"interspect: input {k + 1}/{len(records)} ({row['folder']}): {status}", file=sys.stderr)
    finally:
        if threads is not None:
            threads.shutdown(wait=True, cancel_futures=True)
        if store is not None and store is not cache:
            store.close()
        close = getattr(ex, "close", None)
        if own_executor and callable(close):
            close()
    return rows


def _explain_one(rec: dict[str, Any], lm: Any, common: dict[str, Any], **text_options: Any) -> Explanation:
    if "value_fn" in rec:
        fn = rec["value_fn"]
        labels_for = getattr(fn, "labels_for", None)
        features = list(labels_for(range(fn.n))) if callable(labels_for) else None
        return explain(fn, int(fn.n), features=features, **common)
    from interspect.applications.text.entry import explain_text

    opts = dict(text_options)
    for key in ("question", "labels"):
        if key in rec:
            opts[key] = rec[key]
    if "target" in rec:
        opts["target"] = rec["target"]
    return explain_text(rec["text"], model=lm, **opts, **common)


def run_file(args: Any, *, executor: Any = None, cache: Any = None) -> int:
    """``interspect explain --file inputs.jsonl|csv``: the CLI's options, every input of the file."""
    from interspect.interface.cli import parse_labels

    records = read_inputs(args.file)
    labels = parse_labels(args.labels)
    start = time.perf_counter()
    try:
        rows = explain_many(
            records, out=args.out, model=args.model, question=args.question, unit=args.unit,
            scorer=args.scorer, labels=labels, task=args.task, masking=args.masking,
            method=args.method, budget=args.budget, max_degree=args.max_degree, index=args.index,
            order=args.order, seed=args.seed, n_test=args.n_test,
            cache=False if cache is None else cache, executor=executor,
            progress=not args.no_progress, device=args.device,
            parallel_inputs=args.parallel_inputs,
        )  # fmt: skip
    finally:
        close = getattr(executor, "close", None)
        if callable(close):
            close()
    print(format_summary(rows))
    calls = sum(int(r["model_calls"] or 0) for r in rows)
    cached = sum(int(r["from_cache"] or 0) for r in rows)
    print(
        f"\n{len(rows)} inputs: {calls} model calls, {cached} rows from the cache "
        f"[{time.perf_counter() - start:.1f} s]; results in {args.out}/ (summary.csv, summary.md, "
        "one folder per input)"
    )
    return 0
