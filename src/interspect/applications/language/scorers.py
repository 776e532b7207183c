"""Scorers: how one (masked) prompt becomes one float (SPEC §5).

- :class:`LogProbScorer` — teacher-forced ``Σ_t log p(target_t | prompt, target_<t)``; the target
  defaults to the model's own greedy answer on the unmasked input (generated once).
- :class:`MarginScorer` — ``log p(a | prompt) − log p(b | prompt)`` for two label continuations,
  e.g. ``" positive"``/``" negative"`` or ``"True"``/``"False"``.
- :class:`ClassLogitScorer` — a sequence classifier's logit for one class.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np

from interspect.queries.partial import map_partial

__all__ = ["LogProbScorer", "MarginScorer", "ClassLogitScorer", "ScorerName"]

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
