"""Segmentation keeps exact character offsets; masking rebuilds the text as each strategy says."""

from __future__ import annotations

import csv
import doctest
import importlib
import itertools
import re
from pathlib import Path

import numpy as np
import pytest

from interspect.applications.text import (
    PromptBuilder,
    gaps,
    masked_text,
    resolve_replacement,
    segment,
)

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "sentiment.csv"
SEP = re.compile(r"^(?:\s|<br\s*/?>)*$", re.IGNORECASE)


def _reviews() -> list[str]:
    if not DATA.is_file():
        pytest.skip(f"shared data set not found at {DATA}")
    with open(DATA, newline="", encoding="utf-8") as fh:
        return [row["review"].strip().strip('"') for row in csv.DictReader(fh)]


@pytest.mark.parametrize("unit", ["word", "sentence", "paragraph"])
def test_offsets_rebuild_every_review(unit):
    reviews = _reviews()
    assert len(reviews) == 80
    for text in reviews:
        segs = segment(text, unit)
        assert segs, text[:40]
        g = gaps(text, segs)
        rebuilt = g[0] + "".join(s.text + gap for s, gap in zip(segs, g[1:]))
        assert rebuilt == text
        prev = 0
        for s, gap in zip(segs, g):
            assert text[s.start : s.end] == s.text and s.start < s.end and s.start >= prev
            assert s.text == s.text.strip(), "segments never start or end with whitespace"
            assert SEP.match(gap), f"built-in units leave only separators between segments: {gap!r}"
            prev = s.end
        assert SEP.match(g[-1])
        # all-kept masking gives the text back for every strategy
        ones = np.ones(len(segs), dtype=np.uint8)
        assert masked_text(text, segs, ones) == text
        assert masked_text(text, segs, ones, replacement="[MASK]") == text


def test_word_counts_are_consistent_with_the_data():
    # the data set's n column counts whitespace-separated words; <br /> runs make ours differ only there
    if not DATA.is_file():
        pytest.skip(f"shared data set not found at {DATA}")
    with open(DATA, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    for row in rows[:20]:
        text = row["review"].strip().strip('"')
        if "<br" not in text:
            assert len(segment(text, "word")) == len(text.split())


def test_units_nest():
    text = _reviews()[-1]
    words = segment(text, "word")
    sents = segment(text, "sentence")
    paras = segment(text, "paragraph")
    assert len(words) >= len(sents) >= len(paras) >= 1
    # every sentence is a union of whole words, every paragraph a union of whole sentences
    starts_w = {w.start for w in words}
    ends_w = {w.end for w in words}
    assert all(s.start in starts_w and s.end in ends_w for s in sents)
    starts_s = {s.start for s in sents}
    ends_s = {s.end for s in sents}
    assert all(p.start in starts_s and p.end in ends_s for p in paras)


def test_sentence_rules():
    text = 'He said "wow!" Then left. Mr. Smith came e.g. late... and sat. End'
    assert [s.text for s in segment(text, "sentence")] == [
        'He said "wow!"',
        "Then left.",
        "Mr. Smith came e.g. late... and sat.",
        "End",
    ]
    text = "First para line.\nstill first\n\nSecond para. Two sentences."
    assert [s.text for s in segment(text, "paragraph")] == [
        "First para line.\nstill first",
        "Second para. Two sentences.",
    ]


def test_spans_and_errors():
    text = "Context: A. B. Question?"
    segs = segment(text, [(9, 11), (12, 14)])
    assert [s.text for s in segs] == ["A.", "B."]
    assert masked_text(text, segs, [0, 1]) == "Context: B. Question?"
    assert masked_text(text, segs, [0, 0]) == "Context: Question?"
    with pytest.raises(ValueError, match="sorted"):
        segment(text, [(12, 14), (9, 11)])
    with pytest.raises(ValueError, match="0 <= start < end"):
        segment(text, [(3, 3)])
    with pytest.raises(ValueError, match="0 <= start < end"):
        segment(text, [(0, 999)])
    with pytest.raises(TypeError, match="pairs"):
        segment(text, [(1, 2, 3)])
    with pytest.raises(ValueError, match="empty list"):
        segment(text, [])
    with pytest.raises(ValueError, match="empty"):
        segment("   \n ", "word")
    with pytest.raises(ValueError, match="accepted values"):
        segment(text, "token")
    with pytest.raises(TypeError, match="str"):
        segment(b"bytes", "word")


def _reference_remove(text, segs, mask):
    """Independent reference for removal on plain single-space text: drop the words, rejoin."""
    return " ".join(s.text for s, k in zip(segs, mask) if k)


def test_remove_matches_reference_on_all_masks():
    text = "not bad , really quite good"
    segs = segment(text)
    for mask in itertools.product([0, 1], repeat=len(segs)):
        assert masked_text(text, segs, mask) == _reference_remove(text, segs, mask)


def test_remove_keeps_structure_and_outer_whitespace():
    text = "  One two.<br /><br />Three four.\n"
    segs = segment(text)
    assert masked_text(text, segs, [1, 0, 0, 1]) == "  One<br /><br />four.\n"
    assert masked_text(text, segs, [0, 0, 1, 1]) == "  Three four.\n"
    assert masked_text(text, segs, [1, 1, 0, 0]) == "  One two.\n"
    assert masked_text(text, segs, [0, 0, 0, 0]) == ""


def test_replacement_strategies():
    text = "The plot is not bad."
    segs = segment(text)
    mask = [1, 1, 1, 0, 1]
    assert masked_text(text, segs, mask, replacement="<unk>") == "The plot is <unk> bad."
    assert resolve_replacement("mask_token", "[MASK]") == "[MASK]"
    assert resolve_replacement("___") == "___"
    assert resolve_replacement("remove") is None
    with pytest.raises(ValueError, match="mask or unknown token"):
        resolve_replacement("mask_token", None)
    with pytest.raises(ValueError, match="remove"):
        resolve_replacement("")
    with pytest.raises(ValueError, match="entries"):
        masked_text(text, segs, [1, 0])


def test_prompt_builder_keeps_question_fixed():
    text = "Good acting. Bad plot."
    b = PromptBuilder(
        text, segment(text, "sentence"), question="Positive?", template=lambda m: f"<u>{m}</u>"
    )
    assert b.prompt([1, 0]) == "<u>Good acting.\n\nPositive?</u>"
    assert b.prompt([0, 0]) == "<u>Positive?</u>"


@pytest.mark.parametrize("name", ["interspect.applications.text.segment", "interspect.applications.text.masking"])
def test_docstring_examples(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0
