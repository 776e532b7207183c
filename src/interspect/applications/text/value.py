"""`TextValueFunction`: a language model on a masked text, as the value function the algorithms see.

``vf(X)`` takes an ``(m, n)`` 0/1 mask batch over the n text segments and returns m floats: for
each mask the segments with 0 are removed/replaced, the prompt is rebuilt (chat template, fixed
question), and the scorer turns the model's output into a number. Distinct masks that give the
same prompt are computed once. Caching, counting and progress happen in the query layer
(:class:`interspect.queries.Queries`, which ``explain`` builds), not here.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

from interspect.applications.language.scorers import (
    ClassLogitScorer,
    LogProbScorer,
    MarginScorer,
    ScorerName,
)
from interspect.applications.text.masking import Masking, PromptBuilder, resolve_replacement
from interspect.applications.text.segment import Segment, Unit, segment
from interspect.core.validation import check_choice, check_masks, check_positive_int
from interspect.queries.cache import QueryCache, identity_hash

__all__ = ["TextValueFunction", "TASKS"]

TASKS = ("sentiment", "puzzle", "qa")

_SENTIMENT_QUESTION = "Is this review positive or negative?"
_PUZZLE_INSTRUCTION = "Answer with True or False."


def _check_inputs(lm: Any, text: Any, question: Any, answer_prefix: Any) -> None:
    if not hasattr(lm, "kind"):
        raise TypeError(
            f"lm must be a model from interspect.applications.language.load(...), got {type(lm).__name__}"
        )
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    if not text.strip():
        raise ValueError("text is empty (or only whitespace); there is nothing to explain")
    if question is not None and not isinstance(question, str):
        raise TypeError(f"question must be a str or None, got {type(question).__name__}")
    if not isinstance(answer_prefix, str):
        raise TypeError(f"answer_prefix must be a str, got {type(answer_prefix).__name__}")


def _resolve_scorer(lm: Any, scorer: str | None, labels: Sequence[str] | None) -> str:
    """The scorer's name for this model kind (``"auto"`` resolved), or one clear error."""
    scorer = "auto" if scorer is None else scorer
    check_choice(scorer, "scorer", ("auto", "logprob", "margin", "class_logit"))
    is_clf = lm.kind == "classifier"
    if is_clf and labels is not None:
        raise ValueError(
            f"labels={labels!r} are continuations for a causal LM's margin scorer; {lm.name} is "
            "a sequence classifier: pick its class with target=<class name or index>"
        )
    if scorer == "auto":
        scorer = "class_logit" if is_clf else ("margin" if labels is not None else "logprob")
    if is_clf and scorer != "class_logit":
        raise ValueError(
            f"scorer={scorer!r} needs a causal language model; {lm.name} is a sequence "
            "classifier: use scorer='class_logit' (or 'auto')"
        )
    if not is_clf and scorer == "class_logit":
        raise ValueError(
            f"scorer='class_logit' needs a sequence classifier; {lm.name} is a causal LM: "
            "use 'logprob' or 'margin'"
        )
    if scorer == "margin" and labels is None:
        raise ValueError("scorer='margin' needs labels=(a, b), e.g. (' positive', ' negative')")
    if scorer != "margin" and labels is not None:
        raise ValueError(f"labels are only used by scorer='margin', not scorer={scorer!r}")
    return scorer


class TextValueFunction:
    """A model's output on a text with some segments masked: masks ``(m, n)`` -> ``m`` floats.

    Parameters
    ----------
    lm : backend or str
        From :func:`interspect.applications.language.load` (a spec string is loaded for you).
    text : str
        The text (context) whose segments are the features.
    question : str or None
        A fixed question/instruction added after the text; never masked.
    unit : {"word", "sentence", "paragraph"} or list of (start, end)
        Segmentation, see :func:`interspect.applications.text.segment`.
    scorer : {"auto", "logprob", "margin", "class_logit"}
        ``"auto"``: a classifier's predicted-class logit; for a causal LM the margin
        ``logp(labels[0]) − logp(labels[1])`` when ``labels`` are given, else the teacher-forced
        log-probability of ``target``.
    labels : pair of str or None
        The two continuations of the margin scorer, e.g. ``(" positive", " negative")``.
    masking : "remove", "mask_token" or str
        How a masked segment is hidden: removed, the tokenizer's mask/unknown token, or this string.
    target : str, int or None
        ``logprob``: the continuation to score (default: the model's greedy answer on the unmasked
        input, generated once). ``class_logit``: class index or name (default: the predicted
        class on the unmasked input).
    memo : str, Path, QueryCache or None
        Where the generated default target is kept, so a rerun does not generate it again (the
        model outputs themselves are cached by the query layer: ``explain(..., cache=...)``).
    batch_size : int
        Prompts per model call; also the query layer's rows per call and per cache commit.
    answer_prefix : str
        Text the assistant's answer starts with (causal LMs), e.g. ``"This review is"``.
    max_new_tokens : int
        Length limit of the generated default target.

    Attributes
    ----------
    n : int
        Number of segments (features).
    segments : list of Segment
    target : str
        The scored continuation (logprob), the first label (margin) or the class name (class_logit).
    identity : str
        Hex hash of everything that determines an output; the cache key.
    stats : dict
        ``{"computed": masks scored, "prompts": distinct prompts sent to the model}``.

    Examples
    --------
    >>> from interspect.applications.language import load
    >>> from interspect.applications.text import TextValueFunction
    >>> lm = load("smollm2")  # doctest: +SKIP
    >>> vf = TextValueFunction.for_task("sentiment", lm, "A gorgeous, witty film.")  # doctest: +SKIP
    >>> vf(np.ones((1, vf.n))).shape  # doctest: +SKIP
    (1,)
    """

    def __init__(
        self,
        lm: Any,
        text: str,
        *,
        question: str | None = None,
        unit: Unit = "word",
        scorer: ScorerName = "auto",
        labels: Sequence[str] | None = None,
        masking: Masking = "remove",
        target: str | int | None = None,
        memo: str | Path | QueryCache | None = None,
        batch_size: int = 16,
        answer_prefix: str = "",
        max_new_tokens: int = 32,
    ) -> None:
        if isinstance(lm, str):
            from interspect.applications.language.backends import load

            lm = load(lm)
        _check_inputs(lm, text, question, answer_prefix)
        # None stands for the default, so callers can forward optional arguments unchanged.
        masking = "remove" if masking is None else masking
        unit = "word" if unit is None else unit
        self.batch_size = check_positive_int(batch_size, "batch_size")
        self.max_new_tokens = check_positive_int(max_new_tokens, "max_new_tokens")
        self.lm = lm
        self.text = text
        self.question = question
        self.unit = unit
        self.answer_prefix = answer_prefix
        self.segments: list[Segment] = segment(text, unit)
        self.n = len(self.segments)
        if self.n < 2:
            shown = unit if isinstance(unit, str) else "the given spans"
            raise ValueError(
                f"unit={shown!r} splits the text into a single segment; there is nothing to attribute "
                "(use a finer unit, e.g. 'word')"
            )
        self.masking = masking
        self.replacement = resolve_replacement(masking, getattr(lm, "mask_token", None))
        self.scorer_name: str = _resolve_scorer(lm, scorer, labels)
        is_clf = lm.kind == "classifier"
        # A partial of a bound method (not a lambda) so the value function pickles with plain pickle.
        template = None if is_clf else functools.partial(lm.render, answer_prefix=answer_prefix)
        # A classifier reads the question as the second text of a pair, not inside the prompt.
        self._builder = PromptBuilder(
            text,
            self.segments,
            replacement=self.replacement,
            question=None if is_clf else question,
            template=template,
        )
        self._memo = memo if isinstance(memo, QueryCache) or memo is None else QueryCache(memo)
        self.stats = {"computed": 0, "prompts": 0}
        self.scorer, self.target = self._make_scorer(labels, target)
        self.identity = identity_hash(self._settings())
        self._full: float | None = None

    def _make_scorer(self, labels: Sequence[str] | None, target: str | int | None) -> tuple[Any, str]:
        """The scorer object and the name of what it scores (the default target is generated once)."""
        lm = self.lm
        if self.scorer_name == "margin":
            scorer = MarginScorer(labels)  # type: ignore[arg-type]
            scorer.prepare(lm)
            return scorer, scorer.labels[0]
        if self.scorer_name == "logprob":
            if target is None:
                target = self._generate_target()
            if not isinstance(target, str):
                raise TypeError(f"target must be a str for scorer='logprob', got {type(target).__name__}")
            scorer = LogProbScorer(target)
            scorer.prepare(lm)
            return scorer, target
        if target is None:
            pairs = None if self.question is None else [self.question]
            target = int(np.argmax(lm.class_logits([self.text], pairs)[0]))
        idx = lm.class_index(target)
        return ClassLogitScorer(idx, lm.class_names[idx]), lm.class_names[idx]

    # -- set-up helpers -----------------------------------------------------------------------
    def _settings(self) -> dict:
        """Everything that determines an output; hashed into the identity."""
        full = self._builder.prompt(np.ones(self.n, dtype=np.uint8))
        empty = self._builder.prompt(np.zeros(self.n, dtype=np.uint8))
        return {
            "model": self.lm.identity(),
            "template": hashlib.sha256(self.lm.template_fingerprint().encode()).hexdigest(),
            "text": self.text,
            "spans": [(s.start, s.end) for s in self.segments],
            "replacement": self.replacement,
            "question": self.question,
            "answer_prefix": self.answer_prefix,
            "prompt_full": full,
            "prompt_empty": empty,
            **self.scorer.describe(),
        }

    def _generate_target(self) -> str:
        prompt = self._builder.prompt(np.ones(self.n, dtype=np.uint8))
        key = "target:" + identity_hash(
            {"model": self.lm.identity(), "prompt": prompt, "max_new_tokens": self.max_new_tokens}
        )
        answer = self._memo.memo_get(key) if self._memo is not None else None
        if answer is None:
            answer = self.lm.generate(prompt, max_new_tokens=self.max_new_tokens)
            if self._memo is not None and answer.strip():
                self._memo.memo_put(key, answer)
        if not answer.strip():
            raise ValueError(
                f"{self.lm.name} generated an empty answer on the unmasked input, so there is no "
                "default target; pass target='...' or labels=(a, b)"
            )
        return answer

    # -- public API ---------------------------------------------------------------------------
    @classmethod
    def for_task(
        cls,
        task: Literal["sentiment", "puzzle", "qa"],
        lm: Any,
        text: str,
        **options: Any,
    ) -> TextValueFunction:
        """A value function set up as in the SPEX/ProxySPEX experiments (SPEC §5).

        ``"sentiment"``: question "Is this review positive or negative?"; a causal LM answers
        after "This review is" and the output is ``logp(" positive") − logp(" negative")``; a
        classifier gives the positive-class logit (the class named like "pos...", else class 1)
        with words masked by its mask/unknown token.
        ``"puzzle"``: ``question`` (required, e.g. "True or False: ...") plus "Answer with True
        or False."; output ``logp("True") − logp("False")`` of the first answer token.
        ``"qa"``: ``question`` required, sentences as features, output the teacher-forced
        log-probability of the model's own answer on the full context.
        Any option given overrides these defaults; options passed as ``None`` keep them.

        Examples
        --------
        >>> vf = TextValueFunction.for_task("sentiment", lm, "Fun and moving.")  # doctest: +SKIP
        """
        check_choice(task, "task", TASKS)
        # None means "not given" (callers forward their own optional arguments).
        options = {k: v for k, v in options.items() if v is not None}
        if isinstance(lm, str):
            from interspect.applications.language.backends import load

            lm = load(lm)
        opts: dict[str, Any]
        if task == "sentiment":
            if lm.kind == "classifier":
                pos = [i for i, c in enumerate(lm.class_names) if c.lower().startswith("pos")]
                opts = {
                    "scorer": "class_logit",
                    "target": pos[0] if pos else min(1, len(lm.class_names) - 1),
                    "masking": "mask_token" if getattr(lm, "mask_token", None) else "remove",
                }
            elif lm.identity().get("backend") == "openai":
                # A chat endpoint scores the first answer token: ask for a one-word answer.
                opts = {
                    "question": f"{_SENTIMENT_QUESTION} Answer with one word.",
                    "labels": ("positive", "negative"),
                    "scorer": "margin",
                }
            else:
                opts = {
                    "question": _SENTIMENT_QUESTION,
                    "answer_prefix": "This review is",
                    "labels": (" positive", " negative"),
                    "scorer": "margin",
                }
        elif task == "puzzle":
            question = options.pop("question", None)
            if not question:
                raise ValueError("task='puzzle' needs question='True or False: ...'")
            opts = {
                "question": f"{question}\n{_PUZZLE_INSTRUCTION}",
                "labels": ("True", "False"),
                "scorer": "margin",
            }
        else:
            if not options.get("question"):
                raise ValueError("task='qa' needs question='...'")
            opts = {"unit": "sentence", "scorer": "logprob"}
        opts.update(options)
        return cls(lm, text, **opts)

    def labels_for(self, features: Iterable[int]) -> list[str]:
        """The segment texts of the given feature indices (for tables and plots).

        Examples
        --------
        >>> vf.labels_for((0, 2))  # doctest: +SKIP
        ['A', 'witty']
        """
        out = []
        for i in features:
            i = int(i)
            if not 0 <= i < self.n:
                raise IndexError(f"feature index {i} is out of range for n={self.n} segments")
            out.append(self.segments[i].text)
        return out

    def prompt(self, mask: Sequence[int] | np.ndarray) -> str:
        """The exact prompt the model sees for one mask."""
        return self._builder.prompt(check_masks(mask, self.n)[0])

    @property
    def full_output(self) -> float:
        """The output on the unmasked input."""
        if self._full is None:
            self._full = float(self(np.ones((1, self.n), dtype=np.uint8))[0])
        return self._full

    def describe(self) -> dict:
        """The settings, for reports."""
        d = {
            "model": self.lm.name,
            "backend": self.lm.identity(),
            "n": self.n,
            "unit": self.unit if isinstance(self.unit, str) else "spans",
            "masking": self.masking,
            "question": self.question,
            "answer_prefix": self.answer_prefix,
            "target": self.target,
            "batch_size": self.batch_size,
            "identity": getattr(self, "identity", None),
        }
        d.update(self.scorer.describe())
        return d

    def __getstate__(self) -> dict:
        # A copy shipped to a worker (Ray actor, process) leaves the memo behind: it is an open
        # SQLite connection, used only to find the target while constructing. The model pickles
        # as a reference and is loaded once per worker process.
        state = self.__dict__.copy()
        state["_memo"] = None
        return state

    def __repr__(self) -> str:
        return (
            f"TextValueFunction(model={self.lm.name!r}, n={self.n}, scorer={self.scorer_name!r}, "
            f"target={self.target!r})"
        )

    def _score(self, prompts: list[str]) -> np.ndarray:
        if self.scorer_name == "class_logit":
            pairs = None if self.question is None else [self.question] * len(prompts)
            return self.scorer.score(self.lm, prompts, pairs)
        return self.scorer.score(self.lm, prompts)

    def __call__(self, X: Any) -> np.ndarray:
        """Outputs for masks ``X`` (``(m, n)`` 0/1, 1 = segment kept); NaN where the model gave a
        non-finite score (the query layer keeps the rest and reports it)."""
        X = check_masks(X, self.n)
        # Distinct masks can give the same prompt (e.g. removing either of two equal words).
        by_prompt: dict[str, list[int]] = {}
        for i, row in enumerate(X):
            by_prompt.setdefault(self._builder.prompt(row), []).append(i)
        # Similar lengths in one batch waste less padding.
        prompts = sorted(by_prompt, key=len)
        out = np.empty(len(X), dtype=float)
        for start in range(0, len(prompts), self.batch_size):
            chunk = prompts[start : start + self.batch_size]
            scores = np.asarray(self._score(chunk), dtype=float).reshape(-1)
            for p, v in zip(chunk, scores):
                out[by_prompt[p]] = v
            self.stats["prompts"] += len(chunk)
        self.stats["computed"] += len(X)
        return out
