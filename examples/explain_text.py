"""Explain the embedded language model's sentiment on a movie review (SmolLM2-135M-Instruct, CPU).

The output explained is logp(" positive") − logp(" negative") after "This review is"; the features
are the review's words. Writes the report, the plots and explanation.json.

    python examples/explain_text.py [--out DIR] [--quick]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no window

from interspect import explain_text  # noqa: E402

REVIEW = "Not bad at all: a warm, funny and clever film."


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="example-out/text", help="output directory")
    parser.add_argument("--quick", action="store_true", help="small budget (as the test suite runs it)")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    expl = explain_text(
        REVIEW, task="sentiment", method="proxyspex", budget=24 if args.quick else 400,
        n_test=0 if args.quick else 100, cache=out / "cache.sqlite",
    )
    print(expl)
    print(f"output: {expl.metadata['output']} = {expl.full_output:.3f}")
    for it in expl.top(6):
        print(f"{it.value:+.3f}  {' × '.join(it.labels)}")
    for name in ("waterfall", "text"):
        getattr(expl, f"plot_{name}")(k=6).figure.savefig(out / f"{name}.png", dpi=90, bbox_inches="tight")
    expl.to_json(out / "explanation.json")
    expl.to_html(out / "report.html")
    print(f"wrote {out}/report.html; try: interspect prune {out}/explanation.json --keep 4")


if __name__ == "__main__":
    main()
