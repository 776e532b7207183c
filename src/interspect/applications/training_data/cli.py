"""``interspect explain-data``: which training examples, and which combinations, drive a prediction.

Default: the bundled digits (8×8 images), 64 k-means clusters of the training digits, logistic
regression retrained on every subset, explaining the most borderline test digit. ``--dataset``
picks another bundled data set; ``--csv FILE --label COLUMN --test-row K`` explains row K of your
own table (numeric columns) by the other rows.
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["add_parser", "run", "read_csv"]


def add_parser(sub: Any) -> None:
    from interspect.applications.training_data.datasets import DATASETS
    from interspect.applications.training_data.groups import GROUPINGS
    from interspect.applications.training_data.learners import LEARNERS
    from interspect.applications.training_data.value import OUTPUTS
    from interspect.interface.cli import add_output_options, add_run_options

    p = sub.add_parser(
        "explain-data",
        help="explain a prediction by the training examples (and their interactions) behind it",
        description=(
            "Explain a model's output at a test point by the training examples, and their "
            "interactions, behind it: each query retrains the model on a subset of the training "
            "data. Default: the bundled digits, 64 k-means clusters, logistic regression."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--dataset", default="digits", choices=DATASETS, help="bundled data set (no download)")
    p.add_argument("--test-point", default="borderline", help="'borderline', 'misclassified' or the index of a test point of the dataset")
    p.add_argument("--csv", help="your own data: a CSV file with a header row and numeric input columns")
    p.add_argument("--label", help="with --csv: the label column")
    p.add_argument("--test-row", type=int, help="with --csv: the row (0-based, after the header) to explain; it is left out of training")
    p.add_argument("--learner", default="logistic", choices=LEARNERS, help="model retrained on every subset")
    p.add_argument("--groups", default="kmeans", choices=GROUPINGS, help="what one feature is")
    p.add_argument("--n-groups", type=int, default=None, help="clusters for --groups kmeans (default: min(64, examples/4))")
    p.add_argument("--output", default="margin", choices=OUTPUTS, help="what is read off each retrained model")
    add_run_options(p, queries="retrains", masks="subsets")
    p.add_argument("--jobs", type=int, default=1, help="retrain in this many worker processes")
    add_output_options(p, seed_help="seed of the learner, the clustering and the method")
    p.set_defaults(func=run)


def read_csv(path: str, label: str) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """``(X, y, input column names)`` from a CSV file with a header; every column but ``label``
    must be numeric.

    Examples
    --------
    >>> import tempfile, os
    >>> with tempfile.NamedTemporaryFile("w", suffix=".csv", delete=False) as f:
    ...     _ = f.write("a,b,kind\\n1,2,x\\n3,4,y\\n")
    >>> X, y, names = read_csv(f.name, "kind"); os.unlink(f.name)
    >>> X.tolist(), y.tolist(), names
    ([[1.0, 2.0], [3.0, 4.0]], ['x', 'y'], ['a', 'b'])
    """
    from interspect.interface.cli import UserError

    try:
        with open(path, newline="", encoding="utf-8") as fh:
            rows = list(csv.reader(fh))
    except OSError as exc:
        raise UserError(f"cannot read --csv {path!r}: {exc.strerror}") from exc
    if len(rows) < 3:
        raise UserError(f"--csv {path!r} needs a header row and at least two data rows")
    header, body = rows[0], [r for r in rows[1:] if r]
    if label not in header:
        raise UserError(f"--label {label!r} is not a column of {path!r}; columns: {', '.join(header)}")
    j = header.index(label)
    names = [h for k, h in enumerate(header) if k != j]
    X = np.empty((len(body), len(names)))
    for r, row in enumerate(body):
        if len(row) != len(header):
            raise UserError(f"--csv {path!r}: data row {r} has {len(row)} fields, the header has {len(header)}")
        vals = [v for k, v in enumerate(row) if k != j]
        for c, v in enumerate(vals):
            try:
                X[r, c] = float(v)
            except ValueError as exc:
                raise UserError(f"--csv {path!r}: column {names[c]!r} holds {v!r} in data row {r}; input columns must be numeric") from exc
    y = np.array([row[j] for row in body])
    return X, y, names


def _test_point(text: str) -> str | int:
    try:
        return int(text)
    except ValueError:
        return text


def run(args: argparse.Namespace) -> int:
    from interspect.applications.training_data.entry import explain_data
    from interspect.interface.cli import UserError, default_cache_path
    from interspect.interface.report import format_table

    if args.top < 1:
        raise UserError(f"--top must be >= 1, got {args.top}")
    if args.jobs < 1:
        raise UserError(f"--jobs must be >= 1, got {args.jobs}")
    cache = None if args.no_cache else (args.cache or default_cache_path())
    options: dict[str, Any] = {
        "learner": args.learner, "groups": args.groups, "n_groups": args.n_groups, "output": args.output,
        "method": args.method, "budget": args.budget, "max_degree": args.max_degree, "index": args.index,
        "order": args.order, "seed": args.seed, "n_test": args.n_test, "progress": not args.no_progress,
        "cache": cache, "n_jobs": args.jobs if args.jobs > 1 else None,
    }
    if args.csv is not None:
        if args.label is None or args.test_row is None:
            raise UserError("--csv needs --label COLUMN and --test-row K (the row to explain)")
        X, y, _ = read_csv(args.csv, args.label)
        if not 0 <= args.test_row < len(y):
            raise UserError(f"--test-row {args.test_row} is out of range: {args.csv!r} has {len(y)} data rows")
        rest = np.setdiff1d(np.arange(len(y)), [args.test_row])
        expl = explain_data(X[rest], y[rest], X[args.test_row], y[args.test_row], **options)
        where = f"{args.csv} row {args.test_row}"
    else:
        if args.label is not None or args.test_row is not None:
            raise UserError("--label and --test-row go with --csv")
        expl = explain_data(dataset=args.dataset, test_point=_test_point(args.test_point), **options)
        where = f"{args.dataset} test point #{expl.metadata['training_data']['test_point'].get('index')}"
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    expl.to_json(out / "explanation.json")
    expl.spectrum.to_json(out / "spectrum.json")
    expl.to_html(out / "report.html")
    meta = expl.metadata
    test = meta["training_data"]["test_point"]
    r2 = meta.get("faithfulness_r2")
    print(f"{where}: label {test.get('label')}" + (f", predicted {test['predicted']}" if "predicted" in test else ""))
    print(f"learner {meta['value_function']['learner']} | features: {expl.n} {meta['training_data']['grouping']['kind']} groups | method {meta['method']} ({meta['method_reason']})")
    print(f"retrains: {meta['n_queries']} for fitting + {meta['n_test']} for testing; {meta['n_model_calls']} computed, {meta['n_from_cache']} from the cache")
    print(f"output on all training data: {expl.full_output:.4f} = {meta['output']}")
    print("faithfulness R² on " + f"{meta['n_test']} fresh subsets: " + (f"{r2:.3f}" if r2 is not None else "not measured"))
    print()
    print(format_table(expl, args.top))
    print()
    print(f"report: {out / 'report.html'}  (also explanation.json, spectrum.json)  [{meta['seconds']:.1f} s]")
    return 0
