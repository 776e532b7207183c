"""Scorers: how one (masked) prompt becomes one float (SPEC §5).

- :class:`LogProbScorer` — teacher-forced ``Σ_t log p(target_t | prompt, target_<t)``; the target
  defaults to the model's own greedy answer on the unmasked input (generated once).
- :class:`SpanLogProbScorer` — the same sum over only the answer tokens of one span of it (a
  sentence, a name), still conditioned on all the answer before them.
- :class:`MarginScorer` — ``log p(a | prompt) − log p(b | prompt)`` for two label continuations,
  e.g. ``" positive"``/``" negative"`` or ``"True"``/``"False"``.
- :class:`ClassLogitScorer` — a sequence classifier's logit for one class.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np

from interspect.queries.partial import map_partial

__all__ = [
    "LogProbScorer",
    "SpanLogProbScorer",
    "MarginScorer",
    "ClassLogitScorer",
    "ScorerName",
    "resolve_span",
]

ScorerName = Literal["auto", "logprob", "margin", "class_logit"]


class LogProbScorer:
    """Teacher-forced log-probability of ``target`` after each prompt.

    Examples
    --------
    >>> s = LogProbScorer("This review is positive.")
    >>> s.describe()["scorer"]
    'logprob'
    """

    name = "logprob"

    def __init__(self, target: str) -> None:
        self.target = target

    def prepare(self, lm: Any) -> None:
        lm.check_continuation(self.target, what="target")

    def score(self, lm: Any, prompts: Sequence[str], pairs: Sequence[str] | None = None) -> np.ndarray:
        try:
            return np.asarray(lm.continuation_logprobs(prompts, [self.target]))[:, 0]
        except BaseException as exc:  # outputs that arrived before a failure go up with it
            map_partial(exc, lambda lp: lp[:, 0])
            raise

    def describe(self) -> dict:
        return {"scorer": self.name, "target": self.target}


def resolve_span(target: str, span: str | Sequence[int]) -> tuple[int, int]:
    """The character range ``(start, end)`` of ``span`` in the answer ``target``.

    ``span`` is a substring of ``target`` (it must occur exactly once) or a ``(start, end)``
    character range with ``0 <= start < end <= len(target)``.

    Examples
    --------
    >>> resolve_span("It is Paris. Paris is big.", "is big")
    (19, 25)
    >>> resolve_span("It is Paris.", (6, 11))
    (6, 11)
    """
    if isinstance(span, str):
        if not span:
            raise ValueError("span must be a non-empty part of the answer, got ''")
        count = target.count(span)
        if count != 1:
            where = "does not occur" if count == 0 else f"occurs {count} times"
            raise ValueError(
                f"span={span!r} {where} in the answer {target!r}; give a substring that occurs "
                "once, or a character range (start, end)"
            )
        start = target.index(span)
        return start, start + len(span)
    try:
        start, end = (int(v) for v in span)
    except (TypeError, ValueError):
        raise TypeError(
            f"span must be a substring of the answer or a (start, end) character range, got {span!r}"
        ) from None
    if not 0 <= start < end <= len(target):
        raise ValueError(
            f"span=({start}, {end}) is not a character range of the answer (need 0 <= start < "
            f"end <= {len(target)}, the answer's length): {target!r}"
        )
    return start, end


class SpanLogProbScorer:
    """Teacher-forced log-probability of the answer tokens that overlap one span of ``target``.

    The whole answer is fed after each prompt; only the tokens overlapping characters
    ``span = (start, end)`` are summed, so each is conditioned on the prompt and on all the answer
    before it (as context-attribution tools score one sentence of a response). A span that cuts
    through a token takes the whole token: :attr:`scored_text` says what was scored.

    Examples
    --------
    >>> s = SpanLogProbScorer("It is Paris.", (6, 11))
    >>> s.describe()
    {'scorer': 'logprob', 'target': 'It is Paris.', 'span': [6, 11], 'span_text': 'Paris'}
    """

    name = "logprob"

    def __init__(self, target: str, span: tuple[int, int]) -> None:
        self.target = target
        self.span = resolve_span(target, span)
        self.positions: list[int] = []
        self.scored_text = target[self.span[0] : self.span[1]]

    def prepare(self, lm: Any) -> None:
        lm.check_continuation(self.target, what="target")
        if not hasattr(lm, "continuation_token_logprobs"):
            raise ValueError(
                f"span scoring needs per-token log-probabilities of the answer, which {lm.name} "
                "does not give; use a local model (scorer='logprob' without span works)"
            )
        start, end = self.span
        offsets = lm.token_offsets(self.target)
        self.positions = [j for j, (a, b) in enumerate(offsets) if a < end and b > start]
        self.scored_text = self.target[offsets[self.positions[0]][0] : offsets[self.positions[-1]][1]]

    def score(self, lm: Any, prompts: Sequence[str], pairs: Sequence[str] | None = None) -> np.ndarray:
        lp = np.asarray(lm.continuation_token_logprobs(prompts, self.target, self.positions))
        return lp.sum(axis=1)

    def describe(self) -> dict:
        start, end = self.span
        return {
            "scorer": self.name,
            "target": self.target,
            "span": [start, end],
            "span_text": self.target[start:end],
        }


class MarginScorer:
    """``log p(labels[0] | prompt) − log p(labels[1] | prompt)``, each teacher-forced.

    Examples
    --------
    >>> MarginScorer((" positive", " negative")).describe()
    {'scorer': 'margin', 'labels': [' positive', ' negative']}
    """

    name = "margin"

    def __init__(self, labels: Sequence[str]) -> None:
        if isinstance(labels, str) or len(labels) != 2:
            raise ValueError(
                f"labels must be a pair of continuations (a, b) for the margin logp(a) - logp(b), got {labels!r}"
            )
        a, b = labels
        if not isinstance(a, str) or not isinstance(b, str) or a == b:
            raise ValueError(f"labels must be two different strings, got {labels!r}")
        self.labels = (a, b)

    def prepare(self, lm: Any) -> None:
        for lab in self.labels:
            lm.check_continuation(lab, what="label")

    def score(self, lm: Any, prompts: Sequence[str], pairs: Sequence[str] | None = None) -> np.ndarray:
        # Endpoints that only expose the first answer token's top log-probabilities score labels
        # there (OpenAI); local models teacher-force the whole label.
        fn = getattr(lm, "label_logprobs", None) or lm.continuation_logprobs
        try:
            lp = np.asarray(fn(prompts, list(self.labels)))
        except BaseException as exc:  # outputs that arrived before a failure go up with it
            map_partial(exc, lambda lp: lp[:, 0] - lp[:, 1])
            raise
        return lp[:, 0] - lp[:, 1]

    def describe(self) -> dict:
        return {"scorer": self.name, "labels": list(self.labels)}


class ClassLogitScorer:
    """A sequence classifier's logit for class ``index``.

    Examples
    --------
    >>> ClassLogitScorer(1, "POSITIVE").describe()
    {'scorer': 'class_logit', 'class_index': 1, 'class_name': 'POSITIVE'}
    """

    name = "class_logit"

    def __init__(self, index: int, class_name: str | None = None) -> None:
        self.index = int(index)
        self.class_name = class_name

    def prepare(self, lm: Any) -> None:
        pass

    def score(self, lm: Any, prompts: Sequence[str], pairs: Sequence[str] | None = None) -> np.ndarray:
        return np.asarray(lm.class_logits(prompts, pairs))[:, self.index]

    def describe(self) -> dict:
        return {"scorer": self.name, "class_index": self.index, "class_name": self.class_name}
