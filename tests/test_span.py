"""Explaining a chosen part of the answer: its tokens' log-probability, teacher-forced after the
answer before them, equals a plain one-prompt forward pass done by hand on the embedded model."""

from __future__ import annotations

import json

import numpy as np
import pytest

from interspect.applications.language.scorers import resolve_span


def test_resolve_span_by_substring_or_range():
    answer = "It is Paris. Paris is big."
    assert resolve_span(answer, "is big") == (19, 25)
    assert resolve_span(answer, (0, 5)) == (0, 5)
    with pytest.raises(ValueError, match="occurs 2 times"):
        resolve_span(answer, "Paris")
    with pytest.raises(ValueError, match="does not occur"):
        resolve_span(answer, "Rome")
    with pytest.raises(ValueError, match="non-empty"):
        resolve_span(answer, "")
    with pytest.raises(ValueError, match=r"0 <= start < end <= 26"):
        resolve_span(answer, (5, 40))
    with pytest.raises(ValueError, match="character range"):
        resolve_span(answer, (7, 7))
    with pytest.raises(TypeError, match="substring of the answer or a"):
        resolve_span(answer, 3)


# ------------------------------------------------------------------ on the embedded model
@pytest.fixture(scope="module")
def lm():
    from llm_required import require_embedded_model

    require_embedded_model()
    from interspect.applications.language import load

    return load("smollm2")


CONTEXT = "Anna lives in Paris. Her brother Tom lives in Rome."
QUESTION = "Where does Tom live?"
TARGET = "Tom lives in Rome, not in Paris."
PREFIX, SPAN, SUFFIX = "Tom lives in", " Rome", ", not in Paris."


def _manual(lm, prompt: str, answer: str, positions) -> float:
    """Reference: one prompt + the whole answer, full logits, the chosen tokens summed by hand."""
    import torch

    tok = lm.tokenizer
    p_ids = tok(prompt, add_special_tokens=False)["input_ids"]
    t_ids = tok(answer, add_special_tokens=False)["input_ids"]
    ids = torch.tensor([p_ids + t_ids])
    with torch.no_grad():
        logp = lm.model(input_ids=ids).logits[0].float().log_softmax(-1)
    return float(sum(logp[len(p_ids) + j - 1, t_ids[j]] for j in positions))


@pytest.mark.llm
def test_span_score_equals_manual_teacher_forcing(lm):
    from interspect.applications.text import TextValueFunction

    tok = lm.tokenizer
    enc = lambda s: tok(s, add_special_tokens=False)["input_ids"]  # noqa: E731
    # The answer tokenizes as prefix + span + suffix, so the span's tokens are known independently.
    assert enc(TARGET) == enc(PREFIX) + enc(SPAN) + enc(SUFFIX)
    first, count = len(enc(PREFIX)), len(enc(SPAN))

    vf = TextValueFunction(lm, CONTEXT, question=QUESTION, unit="sentence", target=TARGET, span=SPAN)
    X = np.array([[1, 1], [0, 1]], dtype=np.uint8)  # two masks keep it quick on a shared CPU
    y = vf(X)
    ref = [_manual(lm, vf.prompt(x), TARGET, range(first, first + count)) for x in X]
    np.testing.assert_allclose(y, ref, atol=1e-4)
    assert vf.describe()["span"] == [len(PREFIX), len(PREFIX) + len(SPAN)]
    assert vf.describe()["span_scored"] == SPAN

    # The same span as a character range; the identity (cache key) is the same, the
    # whole-answer scorer's is not, and the whole answer as a span is the whole-answer score.
    by_range = TextValueFunction(lm, CONTEXT, question=QUESTION, unit="sentence", target=TARGET,
                                 span=(len(PREFIX), len(PREFIX) + len(SPAN)))
    # Same rows in one batch: the same forward pass, so the same bits.
    np.testing.assert_array_equal(by_range(X), y)
    assert by_range.identity == vf.identity
    whole = TextValueFunction(lm, CONTEXT, question=QUESTION, unit="sentence", target=TARGET)
    everything = TextValueFunction(lm, CONTEXT, question=QUESTION, unit="sentence", target=TARGET, span=TARGET)
    assert whole.identity != vf.identity
    x = X[:1]
    np.testing.assert_allclose(everything(x), whole(x), atol=1e-4)
    assert everything(x)[0] == pytest.approx(_manual(lm, vf.prompt(x[0]), TARGET, range(len(enc(TARGET)))), abs=1e-4)


@pytest.mark.llm
def test_a_span_inside_a_token_scores_the_whole_token(lm):
    from interspect.applications.text import TextValueFunction

    # "Rom" cuts " Rome" (one token): the whole token is scored and reported.
    vf = TextValueFunction(lm, CONTEXT, question=QUESTION, unit="sentence", target=TARGET, span="Rom")
    assert vf.describe()["span_scored"] == SPAN
    full = TextValueFunction(lm, CONTEXT, question=QUESTION, unit="sentence", target=TARGET, span=SPAN)
    X = np.ones((1, 2), dtype=np.uint8)
    np.testing.assert_allclose(vf(X), full(X), atol=1e-6)
    offsets = lm.token_offsets(TARGET)
    assert offsets[0][0] == 0 and offsets[-1][1] == len(TARGET)
    assert all(a < b for a, b in offsets) and all(b == c for (_, b), (c, _) in zip(offsets, offsets[1:]))
    assert "".join(TARGET[a:b] for a, b in offsets) == TARGET


@pytest.mark.llm
def test_span_needs_the_logprob_scorer(lm):
    from interspect.applications.text import TextValueFunction

    with pytest.raises(ValueError, match="span= .*needs scorer='logprob', not 'margin'"):
        TextValueFunction(lm, CONTEXT, labels=(" yes", " no"), span="yes")
    with pytest.raises(ValueError, match="does not occur in the answer"):
        TextValueFunction(lm, CONTEXT, question=QUESTION, target=TARGET, span="Berlin")


@pytest.mark.llm
def test_cli_explains_a_character_range_of_the_answer(lm, tmp_path, capsys):
    from interspect.applications.text import TextValueFunction
    from interspect.interface.cli import main

    out = tmp_path / "out"
    args = ["explain", "--text", CONTEXT, "--question", QUESTION, "--unit", "sentence",
            "--span-chars", "0:3", "--method", "exact", "--n-test", "0", "--no-cache",
            "--out", str(out), "--no-progress"]  # fmt: skip
    assert main(args) == 0
    data = json.loads((out / "explanation.json").read_text())
    answer = data["metadata"]["target"]
    assert data["metadata"]["span"] == [0, 3]
    assert "characters 0-3 of the answer" in data["metadata"]["output"]
    # The unmasked output is the log-probability of the answer tokens covering characters 0-3.
    vf = TextValueFunction(lm, CONTEXT, question=QUESTION, unit="sentence", target=answer)
    offsets = lm.token_offsets(answer)
    covering = [j for j, (a, b) in enumerate(offsets) if a < 3]
    ref = _manual(lm, vf.prompt(np.ones(2, dtype=np.uint8)), answer, covering)
    assert data["full_output"] == pytest.approx(ref, abs=1e-4)
    capsys.readouterr()
    for bad, message in [("3:1", "span=(3, 1) is not a character range"), ("x", "--span-chars must be START:END")]:
        assert main([bad if a == "0:3" else a for a in args]) == 2
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1
