"""Explain one part of a generated answer, then shorten the context to what supports it.

A question about a short context (sentences as features) on the embedded model: the model's
answer is generated once; the output explained is the log-probability of the answer's first
words, teacher-forced after the answer before them. Then the two sentences that best support that
part are kept, and the model is asked again on the pruned context to check the prediction.

    python examples/answer_span_and_prune.py [--out DIR] [--quick]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from interspect import explain_text
from interspect.applications.language import load
from interspect.applications.text import TextValueFunction
from interspect.interface.prune import prune_text
from interspect.queries import QueryCache

CONTEXT = "Anna works as a nurse in Lyon. Her brother Tom lives in Rome. Tom is a chef there."
QUESTION = "What does Tom do for a living?"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="example-out/span", help="output directory")
    parser.add_argument("--quick", action="store_true", help="no test masks (as the test suite runs it)")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    cache = QueryCache(out / "cache.sqlite")

    # The answer is generated once and kept in the cache; explain_text then reuses it.
    lm = load("smollm2")
    answer = TextValueFunction(lm, CONTEXT, question=QUESTION, unit="sentence", memo=cache).target
    words = answer.split()
    span = " ".join(words[: min(len(words), 4)])
    print(f"answer: {answer!r}\nexplaining the part: {span!r}")

    # 3 sentences: all 8 masks (exact).
    expl = explain_text(
        CONTEXT, question=QUESTION, unit="sentence", span=span, method="exact",
        n_test=0 if args.quick else 16, cache=cache,
    )
    print(f"output: {expl.metadata['output']} = {expl.full_output:.3f}")
    for it in expl.top(4):
        print(f"{it.value:+.3f}  {' × '.join(f'[{lab[:30]}]' for lab in it.labels)}")
    expl.to_json(out / "explanation.json")

    pruned = prune_text(expl, 2, cache=cache)
    print(f"kept: {pruned.text!r}")
    print(f"predicted {pruned.selection.predicted:.3f}, model {pruned.actual:.3f} (whole context {pruned.actual_full:.3f})")
    cache.close()


if __name__ == "__main__":
    main()
