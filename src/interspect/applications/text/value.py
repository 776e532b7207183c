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
import math
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

from interspect.applications.language.scorers import (
    ClassLogitScorer,
    LogProbScorer,
    MarginScorer,
    ScorerName,
    SpanLogProbScorer,
)
from interspect.applications.text.masking import Masking, PromptBuilder, resolve_replacement
from interspect.applications.text.segment import Segment, Unit, segment
from interspect.core.validation import check_choice, check_masks, check_positive_int
from interspect.queries.cache import QueryCache, identity_hash
from interspect.queries.partial import attach_partial, partial_of

__all__ = ["TextValueFunction", "TASKS", "FlooredScoresError", "check_segments", "check_text"]

TASKS = ("sentiment", "puzzle", "qa")

_SENTIMENT_QUESTION = "Is this review positive or negative?"
_PUZZLE_INSTRUCTION = "Answer with True or False."
#: The floored-rows rule (``max_floored``) is applied once this many rows were scored.
FLOOR_MIN_ROWS = 16


class FlooredScoresError(ValueError):
    """The scored labels (or answer tokens) are not among the log-probabilities the server
    returned, so the scores are floors, not measurements: the run stops rather than explain them."""


def check_text(value: Any, name: str) -> str:
    """``value`` as a str that can be sent to a model (UTF-8 encodable), or one clear error."""
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, got {type(value).__name__}")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError(
            f"{name} is not valid Unicode text: character {exc.start} ({value[exc.start]!r}) cannot "
            "be encoded as UTF-8 (was the input read with the wrong encoding?); give UTF-8 text"
        ) from None
    return value


def check_segments(text: str, unit: Any) -> list[Segment]:
    """The segments of ``text`` at ``unit``, or one clear error when there are fewer than two
    (nothing to attribute); cheap, so entry points call it before loading a model."""
    segs = segment(text, unit)
    if len(segs) < 2:
        finer = {"paragraph": "'sentence' or 'word'", "sentence": "'word'"}.get(unit if isinstance(unit, str) else "")
        if finer:
            raise ValueError(
                f"unit={unit!r} splits the text into a single segment; there is nothing to "
                f"attribute: use a finer unit ({finer})"
            )
        what = "word" if unit == "word" else "span"
        raise ValueError(
            f"the text is a single {what} ({text.strip()[:40]!r}); there is nothing to attribute: "
            "give a text of at least two words"
        )
    return segs


def _public_name(name: Any) -> Any:
    """A local model path as its last component (reports are shared; local paths stay home)."""
    if isinstance(name, str) and (os.sep in name or name.startswith("~")):
        try:
            if Path(name).expanduser().exists():
                return Path(name).expanduser().name
        except OSError:
            pass
    return name


def _check_inputs(lm: Any, text: Any, question: Any, answer_prefix: Any) -> None:
    if not hasattr(lm, "kind"):
        raise TypeError(
            f"lm must be a model from interspect.applications.language.load(...), got {type(lm).__name__}"
        )
    check_text(text, "text")
    if not text.strip():
        raise ValueError("text is empty (or only whitespace); there is nothing to explain")
    if question is not None:
        check_text(question, "question")
    check_text(answer_prefix, "answer_prefix")


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
    span : str, (int, int) or None
        ``logprob`` only: score just this part of the target (a substring occurring once, or a
        ``(start, end)`` character range), teacher-forced after the target's text before it.
    max_floored : float
        For backends that floor missing log-probabilities (OpenAI-compatible endpoints): stop
        with :class:`FlooredScoresError` when the unmasked prompt's score is entirely floored, or
        when more than this share of the rows scored (at least 16) are (default 0.5).

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
        ``computed`` masks scored, ``prompts`` distinct prompts sent to the model; for backends
        that floor: ``scored`` rows with floor information, ``floored`` of them whose score rests on
        at least one floor, ``all_floored`` of them with no label/answer token among the returned
        top tokens (a meaningless score).

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
        span: str | Sequence[int] | None = None,
        max_floored: float = 0.5,
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
        if isinstance(max_floored, bool) or not isinstance(max_floored, int | float) or not (
            math.isfinite(max_floored) and 0.0 <= max_floored <= 1.0
        ):
            raise ValueError(f"max_floored must be a share between 0 and 1, got {max_floored!r}")
        self.max_floored = float(max_floored)
        self.segments: list[Segment] = check_segments(text, unit)
        self.n = len(self.segments)
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
        if span is not None and self.scorer_name != "logprob":
            raise ValueError(
                f"span= selects part of a generated answer to score; it needs scorer='logprob', "
                f"not {self.scorer_name!r}"
            )
        self._span = span
        if callable(getattr(lm, "last_floored", None)):  # a backend that floors missing log-probs
            self.stats.update(scored=0, floored=0, all_floored=0)
        self._full_prompt = self._builder.prompt(np.ones(self.n, dtype=np.uint8))
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
            scorer = LogProbScorer(target) if self._span is None else SpanLogProbScorer(target, self._span)
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
            from interspect.queries.layer import Queries

            self._full = float(Queries(self, self.n)(np.ones((1, self.n), dtype=np.uint8))[0])
        return self._full

    def describe(self) -> dict:
        """The settings, for reports."""
        backend = dict(self.lm.identity())
        if "model" in backend:
            backend["model"] = _public_name(backend["model"])
        d = {
            "model": _public_name(self.lm.name),
            "backend": backend,
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
        if isinstance(self.scorer, SpanLogProbScorer):
            d["span_scored"] = self.scorer.scored_text  # whole tokens: may extend the span a little
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
        non-finite score (the query layer keeps the rest and reports it). When the model fails
        part-way, the outputs already scored travel on the error to the query layer
        (:mod:`interspect.queries.partial`), which keeps them."""
        X = check_masks(X, self.n)
        # Distinct masks can give the same prompt (e.g. removing either of two equal words).
        by_prompt: dict[str, list[int]] = {}
        for i, row in enumerate(X):
            by_prompt.setdefault(self._builder.prompt(row), []).append(i)
        # Similar lengths in one batch waste less padding.
        prompts = sorted(by_prompt, key=len)
        out = np.full(len(X), np.nan)
        try:
            for start in range(0, len(prompts), self.batch_size):
                chunk = prompts[start : start + self.batch_size]
                try:
                    scores = np.asarray(self._score(chunk), dtype=float).reshape(-1)
                except BaseException as exc:
                    found = partial_of(exc)
                    if found is not None and found[0].shape == (len(chunk),):
                        for p, v in zip(chunk, found[0]):
                            out[by_prompt[p]] = v
                    raise
                for p, v in zip(chunk, scores):
                    out[by_prompt[p]] = v
                self.stats["prompts"] += len(chunk)
                self._check_floors(chunk, by_prompt, out)
        except BaseException as exc:
            attach_partial(exc, out, X)
            raise
        self.stats["computed"] += len(X)
        return out

    def _check_floors(self, chunk: list[str], by_prompt: dict[str, list[int]], out: np.ndarray) -> None:
        """Count the rows whose score rests on a floor (a label the server did not return among
        its top tokens) and stop when the scores would be meaningless."""
        get = getattr(self.lm, "last_floored", None)
        shares = get() if callable(get) and "scored" in self.stats else None
        if shares is None or len(shares) != len(chunk):
            return
        st = self.stats
        for p, share in zip(chunk, shares):
            rows = len(by_prompt[p])
            st["scored"] += rows
            st["floored"] += rows if share > 0 else 0
            st["all_floored"] += rows if share >= 1 else 0
            if share >= 1 and p == self._full_prompt:
                # Not worth keeping: a rerun must ask again (and stop here again, at once).
                out[by_prompt[p]] = np.nan
                raise FlooredScoresError(self._floor_message("for the unmasked prompt"))
        if st["scored"] >= FLOOR_MIN_ROWS and st["all_floored"] > self.max_floored * st["scored"]:
            raise FlooredScoresError(
                self._floor_message(f"for {st['all_floored']} of the {st['scored']} masked prompts scored")
            )

    def _floor_message(self, where: str) -> str:
        lm = self.lm
        top = getattr(lm, "top_logprobs", None)
        tops = f"top-{top} tokens" if top else "top tokens"
        server = getattr(lm, "url", None) or lm.name
        if self.scorer_name == "margin":
            a, b = self.scorer.labels
            what, fix = f"neither label ({a!r}, {b!r})", "use labels the model answers with (case and spaces count, e.g. --labels 'Positive,Negative')"
        else:
            what, fix = f"no token of the answer {self.target!r}", "give a target the model would write"
        return (
            f"{what} is among the {tops} {server} returned {where}, so the scores are floors, not "
            f"measurements, and the explanation would be meaningless: {fix}, or use a server that "
            "returns more top log-probabilities"
        )
