"""`make demo`: explain the embedded model on two bundled examples with the command-line tool.

1. A movie review (from the SPEX sentiment set): which words, and which word pairs, push the
   model's "positive" vs "negative" margin.
2. The trolley puzzle variant (from the SPEX case study): which context words drive the model's
   logp("True") − logp("False") for "You should not pull the lever."

Reports land in ``demo-out/`` (override with ``INTERSPECT_DEMO_OUT``).
"""

from __future__ import annotations

import json
import os
import sys
import time
from importlib import resources

from interspect.interface.cli import main as cli_main

BUDGET = int(os.environ.get("INTERSPECT_DEMO_BUDGET", "600"))


def main() -> int:
    examples = json.loads(resources.files("interspect").joinpath("data/examples.json").read_text())
    out = os.environ.get("INTERSPECT_DEMO_OUT", "demo-out")
    cache = os.path.join(out, "cache.sqlite")
    os.makedirs(out, exist_ok=True)
    start = time.perf_counter()
    review, trolley = examples["review"], examples["trolley"]
    runs = [
        ("review", f"sentiment: {review['text']!r} ({review['sentiment']} review)",
         ["--text", review["text"], "--task", "sentiment"]),
        ("trolley", f"trolley puzzle: {trolley['question']!r} (correct answer: {trolley['correct_answer']})",
         ["--text", trolley["context"], "--question", trolley["question"], "--task", "puzzle"]),
    ]
    for step, (name, title, args) in enumerate(runs, 1):
        print(f"\n== {step}/{len(runs)} {title}\n", flush=True)
        status = cli_main(
            ["explain", *args, "--budget", str(BUDGET), "--index", "FBII", "--order", "2",
             "--cache", cache, "--out", os.path.join(out, name)]
        )
        if status:
            return status
    print(f"\nDemo finished in {time.perf_counter() - start:.0f} s. Open the reports:")
    for name, _, _ in runs:
        print(f"  {os.path.abspath(os.path.join(out, name, 'report.html'))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
