"""Explain a synthetic value function with known interactions; no model needed.

Shows the whole workflow on a function whose true interactions are known: explain it, read the
top interactions, draw every plot, write the HTML report, pick the features to remove, and hand
the result to shapiq (when installed).

    python examples/explain_game.py [--out DIR] [--quick]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no window

import interspect  # noqa: E402
from interspect import games  # noqa: E402


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="example-out/game", help="output directory")
    parser.add_argument("--quick", action="store_true", help="small sizes (as the test suite runs it)")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    words = "the plot is not bad but the acting never works at all".split()
    n = len(words)
    # Three true interactions of order 2-3 over 12 "words", with all their sub-interactions.
    game = games.HierarchicalGame(n, n_top=3, min_degree=2, max_degree=3, seed=7)
    expl = interspect.explain(
        game, n, features=words, method="proxyspex", budget=300 if args.quick else 1000,
        index="k-SII", order=3, n_test=100 if args.quick else 500,
    )
    print(expl)
    for it in expl.top(5):
        print(f"{it.value:+.3f}  {' × '.join(it.labels)}")
    print("true top interactions:", [tuple(words[i] for i in t) for t in game.top_interactions])

    expl.text = " ".join(words)  # lets the report and the text plot place the words
    starts, pos = [], 0
    for w in words:
        starts.append((pos, pos + len(w)))
        pos += len(w) + 1
    expl.spans = starts
    for name in ("waterfall", "force", "text", "upset", "bar", "network"):
        drawn = getattr(expl, f"plot_{name}")(k=8)
        figure = drawn if name == "upset" else drawn.figure
        figure.savefig(out / f"{name}.png", dpi=90, bbox_inches="tight")
    expl.to_html(out / "report.html")

    sel = expl.select(2, direction="down")
    print(f"removing {sel.labels} lowers the predicted output {sel.predicted_full:.3f} -> {sel.predicted:.3f}")

    try:
        values = expl.to_shapiq()
    except ImportError:
        print("(pip install 'interspect[shapiq]' to hand the result to shapiq)")
    else:
        print(f"shapiq: {values.index} up to order {values.max_order}, {len(values)} values")
    print(f"wrote {out}/report.html and the plots")


if __name__ == "__main__":
    main()
