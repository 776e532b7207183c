"""Turn a 0/1 mask over text segments into the masked text and the full prompt a model sees.

Three strategies: ``"remove"`` drops masked segments (and the space around them, so no double
spaces appear); ``"mask_token"`` puts the tokenizer's mask or unknown token in their place; any
other string is used as the replacement itself. A question or instruction stays fixed: only the
context text is masked.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Literal

import numpy as np

from interspect.applications.text.segment import Segment, gaps

__all__ = ["Masking", "resolve_replacement", "masked_text", "user_message", "PromptBuilder"]

Masking = Literal["remove", "mask_token"] | str


def resolve_replacement(masking: Masking, mask_token: str | None = None) -> str | None:
    """The string a masked segment becomes (``None`` means: remove it).

    Parameters
    ----------
    masking : "remove", "mask_token" or str
        Strategy. Any string other than the two names is used verbatim as the replacement.
    mask_token : str or None
        The tokenizer's mask token (or its unknown token when it has no mask token); needed for
        ``"mask_token"``.

    Examples
    --------
    >>> resolve_replacement("remove") is None
    True
    >>> resolve_replacement("mask_token", "[MASK]")
    '[MASK]'
    >>> resolve_replacement("___")
    '___'
    """
    if not isinstance(masking, str):
        raise TypeError(
            f"masking must be 'remove', 'mask_token' or a replacement string, got {type(masking).__name__}"
        )
    if masking == "remove":
        return None
    if masking == "mask_token":
        if not mask_token:
            raise ValueError(
                "masking='mask_token' needs a tokenizer with a mask or unknown token, and this model "
                "has neither; use masking='remove' or pass a replacement string"
            )
        return mask_token
    if masking == "":
        raise ValueError("masking='' is not allowed; use masking='remove' to drop masked segments")
    return masking


_SEP = re.compile(r"((?:\s|<br\s*/?>)+)", re.IGNORECASE)


def _strength(sep: str) -> tuple[int, int]:
    # When removed segments make gaps meet, keep the separator that carries the most line
    # structure (a paragraph break beats a newline beats a space).
    return (sep.count("\n") + sep.lower().count("<br"), len(sep))


def _merge_gaps(items: list[str], *, at_start: bool, at_end: bool) -> str:
    """Join the gaps around a run of removed segments into one gap.

    Separator runs that meet collapse to the strongest one; non-separator text in a gap (only
    possible with caller-given spans) is kept. At the start/end of the text the original
    leading/trailing separator is kept instead.
    """
    tokens: list[tuple[bool, str]] = []  # (is_separator, text)
    for g in items:
        for k, piece in enumerate(_SEP.split(g)):
            if not piece:
                continue
            is_sep = k % 2 == 1
            if is_sep and tokens and tokens[-1][0]:
                if _strength(piece) > _strength(tokens[-1][1]):
                    tokens[-1] = (True, piece)
            else:
                tokens.append((is_sep, piece))
    if at_start and at_end and not any(not is_sep for is_sep, _ in tokens):
        return ""
    if at_start and tokens and tokens[0][0]:
        m = _SEP.match(items[0])
        tokens[0] = (True, m.group(0) if m else "")
    if at_end and tokens and tokens[-1][0]:
        m = re.search(r"(?:\s|<br\s*/?>)+$", items[-1], re.IGNORECASE)
        tokens[-1] = (True, m.group(0) if m else "")
    return "".join(t for _, t in tokens)


def masked_text(
    text: str,
    segments: Sequence[Segment],
    mask: Sequence[int] | np.ndarray,
    *,
    replacement: str | None = None,
) -> str:
    """Rebuild ``text`` with the segments where ``mask`` is 0 removed or replaced.

    Parameters
    ----------
    text : str
        The original text.
    segments : list of Segment
        From :func:`interspect.applications.text.segment`.
    mask : sequence of 0/1
        One entry per segment; 1 = keep.
    replacement : str or None
        ``None`` removes masked segments (gaps that then meet collapse to one, so no double
        spaces appear); a string replaces each masked segment.

    Examples
    --------
    >>> from interspect.applications.text import segment
    >>> t = "The plot is not bad."
    >>> s = segment(t)
    >>> masked_text(t, s, [1, 1, 1, 0, 1])
    'The plot is bad.'
    >>> masked_text(t, s, [0, 1, 1, 1, 1])
    'plot is not bad.'
    >>> masked_text(t, s, [1, 1, 1, 0, 1], replacement="[MASK]")
    'The plot is [MASK] bad.'
    >>> masked_text(t, s, [1, 1, 1, 1, 1]) == t
    True
    """
    mask = np.asarray(mask).reshape(-1)
    if mask.shape[0] != len(segments):
        raise ValueError(f"mask has {mask.shape[0]} entries but there are {len(segments)} segments")
    g = gaps(text, segments)
    if replacement is not None:
        parts = [g[0]]
        for seg, keep, gap in zip(segments, mask, g[1:]):
            parts.append(seg.text if keep else replacement)
            parts.append(gap)
        return "".join(parts)
    parts: list[str] = []
    run = [g[0]]  # gaps since the last kept segment, merged when the next one is written
    at_start = True
    for seg, keep, gap in zip(segments, mask, g[1:]):
        if keep:
            parts.append(_merge_gaps(run, at_start=at_start, at_end=False))
            parts.append(seg.text)
            run = [gap]
            at_start = False
        else:
            run.append(gap)
    parts.append(_merge_gaps(run, at_start=at_start, at_end=True))
    return "".join(parts)


def user_message(context: str, question: str | None = None) -> str:
    """The user turn: the (masked) context, then the fixed question/instruction, if any.

    Examples
    --------
    >>> user_message("Great film.", "Is this review positive or negative?")
    'Great film.\\n\\nIs this review positive or negative?'
    """
    if not question:
        return context
    if not context.strip():
        return question  # everything masked away: only the fixed part is left
    return f"{context}\n\n{question}"


class PromptBuilder:
    """Build the full prompt for each mask: template(user_message(masked context, question)).

    Parameters
    ----------
    text : str
        The context that is masked.
    segments : list of Segment
        Its features.
    replacement : str or None
        From :func:`resolve_replacement`.
    question : str or None
        Fixed instruction/question appended after the context (never masked).
    template : callable or None
        ``template(user_message) -> prompt``, e.g. a chat template; identity when ``None``.

    Examples
    --------
    >>> from interspect.applications.text import segment
    >>> b = PromptBuilder("Good film.", segment("Good film."), question="Positive?")
    >>> b.prompt([0, 1])
    'film.\\n\\nPositive?'
    """

    def __init__(
        self,
        text: str,
        segments: Sequence[Segment],
        *,
        replacement: str | None = None,
        question: str | None = None,
        template: Callable[[str], str] | None = None,
    ) -> None:
        self.text = text
        self.segments = list(segments)
        self.replacement = replacement
        self.question = question
        self.template = template

    def context(self, mask: Sequence[int] | np.ndarray) -> str:
        return masked_text(self.text, self.segments, mask, replacement=self.replacement)

    def prompt(self, mask: Sequence[int] | np.ndarray) -> str:
        msg = user_message(self.context(mask), self.question)
        return self.template(msg) if self.template is not None else msg
