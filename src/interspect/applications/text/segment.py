"""Split a text into the features an explanation is about: words, sentences, paragraphs or spans.

Every segment keeps its character offsets into the original text, so the text can be rebuilt
exactly (``text[s.start:s.end] == s.text``) and highlighted. What lies between two segments (the
"gaps") is only whitespace or HTML line breaks (``<br />``, as in IMDB reviews) for the built-in
units; caller-given spans may leave any text between them, which then always stays in the prompt.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

__all__ = ["Segment", "segment", "gaps", "Unit"]

Unit = Literal["word", "sentence", "paragraph"] | Sequence[tuple[int, int]]

# A gap between words: whitespace and HTML line breaks, which IMDB reviews use for paragraphs.
_GAP = re.compile(r"(?:\s|<br\s*/?>)+", re.IGNORECASE)
_BR = re.compile(r"<br\s*/?>", re.IGNORECASE)
# A word that ends a sentence: terminal punctuation, then optional closing quotes/brackets.
_SENTENCE_END = re.compile(r"[.!?]+[\"'\u2019\u201d)\]]*$")
# Abbreviations after which a full stop does not end a sentence (kept short on purpose).
_ABBREVIATIONS = frozenset(
    {"mr.", "mrs.", "ms.", "dr.", "prof.", "st.", "jr.", "sr.", "vs.", "e.g.", "i.e.", "no.", "cf."}
)


@dataclass(frozen=True)
class Segment:
    """One feature of a text: ``text == original[start:end]``.

    Examples
    --------
    >>> from interspect.applications.text import segment
    >>> segment("Not bad at all.", "word")[1]
    Segment(text='bad', start=4, end=7)
    """

    text: str
    start: int
    end: int

    def __len__(self) -> int:
        return self.end - self.start


def _is_paragraph_break(gap: str) -> bool:
    # A blank line, or two HTML line breaks in a row (IMDB's "<br /><br />").
    return gap.count("\n") >= 2 or len(_BR.findall(gap)) >= 2


def _words(text: str) -> list[Segment]:
    out: list[Segment] = []
    pos = 0
    for gap in _GAP.finditer(text):
        if gap.start() > pos:
            out.append(Segment(text[pos : gap.start()], pos, gap.start()))
        pos = gap.end()
    if pos < len(text):
        out.append(Segment(text[pos:], pos, len(text)))
    return out


def _group(text: str, words: list[Segment], ends_after: list[bool]) -> list[Segment]:
    """Merge consecutive words into one segment; a segment closes after word i if ends_after[i]."""
    out: list[Segment] = []
    first = 0
    for i, w in enumerate(words):
        if ends_after[i] or i == len(words) - 1:
            start, end = words[first].start, w.end
            out.append(Segment(text[start:end], start, end))
            first = i + 1
    return out


def _sentence_ends(text: str, words: list[Segment]) -> list[bool]:
    ends = []
    for i, w in enumerate(words):
        if i == len(words) - 1:
            ends.append(True)
            continue
        nxt = words[i + 1]
        if _is_paragraph_break(text[w.end : nxt.start]):
            ends.append(True)
            continue
        terminal = bool(_SENTENCE_END.search(w.text)) and w.text.lower() not in _ABBREVIATIONS
        # "... and then" or "e.g. this": a lower-case next word continues the sentence.
        ends.append(terminal and not nxt.text[0].islower())
    return ends


def _spans(text: str, spans: Sequence[tuple[int, int]]) -> list[Segment]:
    out: list[Segment] = []
    prev_end = 0
    for k, span in enumerate(spans):
        try:
            start, end = (int(span[0]), int(span[1]))
            if len(span) != 2:
                raise ValueError
        except (TypeError, ValueError, IndexError):
            raise TypeError(
                f"unit must be 'word', 'sentence', 'paragraph' or a list of (start, end) pairs; "
                f"item {k} is {span!r}"
            ) from None
        if not (0 <= start < end <= len(text)):
            raise ValueError(
                f"unit span {k}=({start}, {end}) must satisfy 0 <= start < end <= len(text)={len(text)}"
            )
        if start < prev_end:
            raise ValueError(
                f"unit spans must be sorted and must not overlap; span {k}=({start}, {end}) "
                f"starts before the previous span ends ({prev_end})"
            )
        out.append(Segment(text[start:end], start, end))
        prev_end = end
    return out


def segment(text: str, unit: Unit = "word") -> list[Segment]:
    """Split ``text`` into segments (the features) that keep their character offsets.

    Parameters
    ----------
    text : str
        The text to split. Must contain at least one non-whitespace character.
    unit : {"word", "sentence", "paragraph"} or list of (start, end)
        ``"word"``: maximal runs of characters between whitespace/``<br />`` (punctuation stays
        with its word). ``"sentence"``: words grouped up to terminal punctuation (``. ! ?``) that
        is not a common abbreviation and is not followed by a lower-case word; a paragraph break
        always ends a sentence. ``"paragraph"``: words grouped between blank lines or
        ``<br /><br />``. A list of ``(start, end)`` character spans (sorted, non-overlapping,
        non-empty) gives the segments directly; text outside them is never masked.

    Returns
    -------
    list of Segment
        In text order; ``text[s.start:s.end] == s.text`` for each, and between two segments
        (built-in units) there is only whitespace or ``<br />``.

    Examples
    --------
    >>> from interspect.applications.text import segment
    >>> [s.text for s in segment("Great cast. Weak plot!", "sentence")]
    ['Great cast.', 'Weak plot!']
    >>> [s.text for s in segment("Great cast.<br /><br />Weak plot.", "paragraph")]
    ['Great cast.', 'Weak plot.']
    >>> segment("abc def", [(4, 7)])
    [Segment(text='def', start=4, end=7)]
    """
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    if not text.strip():
        raise ValueError("text is empty (or only whitespace); there is nothing to explain")
    if isinstance(unit, str):
        if unit not in ("word", "sentence", "paragraph"):
            raise ValueError(
                f"unit={unit!r} is not supported; accepted values: 'word', 'sentence', "
                f"'paragraph' or a list of (start, end) character spans"
            )
        words = _words(text)
        if unit == "word":
            return words
        if unit == "sentence":
            return _group(text, words, _sentence_ends(text, words))
        ends = [
            i == len(words) - 1 or _is_paragraph_break(text[w.end : words[i + 1].start])
            for i, w in enumerate(words)
        ]
        return _group(text, words, ends)
    if isinstance(unit, Sequence) and not isinstance(unit, (bytes, bytearray)):
        segs = _spans(text, unit)
        if not segs:
            raise ValueError("unit is an empty list of spans; give at least one (start, end) span")
        return segs
    raise TypeError(
        f"unit must be 'word', 'sentence', 'paragraph' or a list of (start, end) spans, "
        f"got {type(unit).__name__}"
    )


def gaps(text: str, segments: Sequence[Segment]) -> list[str]:
    """The ``len(segments) + 1`` pieces of ``text`` around the segments.

    ``gaps[0] + seg[0].text + gaps[1] + ... + seg[-1].text + gaps[-1] == text``.

    Examples
    --------
    >>> from interspect.applications.text import segment
    >>> text = "  so  good "
    >>> g = gaps(text, segment(text))
    >>> g
    ['  ', '  ', ' ']
    >>> g[0] + "so" + g[1] + "good" + g[2] == text
    True
    """
    out = []
    pos = 0
    for s in segments:
        out.append(text[pos : s.start])
        pos = s.end
    out.append(text[pos:])
    return out
