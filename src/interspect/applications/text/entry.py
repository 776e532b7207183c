"""``explain_text``: explain a language model's output on a text by the segments whose interactions drive it."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from interspect.engines.auto import AutoBudget
from interspect.engines.registry import DEFAULT_N_TEST, DEFAULT_SEED
from interspect.interface.explain import Method, explain, validate_common
from interspect.interface.explanation import Explanation
from interspect.queries.cache import QueryCache
from interspect.queries.executors import Executor
from interspect.queries.progress import ProgressArg

__all__ = ["explain_text"]


def _describe_output(settings: dict[str, Any]) -> str:
    """What the explained number is, in words, from the value function's settings."""
    scorer, labels, target = settings.get("scorer"), settings.get("labels"), settings.get("target")
    if scorer == "margin" and labels:
        return f"logp({labels[0]!r}) − logp({labels[1]!r})"
    if scorer == "class_logit":
        return f"logit of class {target!r}"
    return f"log-probability of the answer {target!r}"


def explain_text(
    text: str,
    *,
    question: str | None = None,
    model: Any = "smollm2",
    unit: str | Sequence[tuple[int, int]] = "word",
    scorer: str = "auto",
    labels: tuple[str, str] | None = None,
    task: str | None = None,
    masking: str = "remove",
    method: Method = "auto",
    budget: int | str | AutoBudget | None = None,
    max_degree: int = 5,
    index: str = "FBII",
    order: int = 2,
    cache: str | Path | QueryCache | None = None,
    seed: int | np.random.Generator | None = DEFAULT_SEED,
    n_test: int = DEFAULT_N_TEST,
    progress: ProgressArg = False,
    executor: str | Executor | None = None,
    device: str = "cpu",
) -> Explanation:
    """Explain a language model's output on ``text`` by the segments whose interactions drive it.

    Parameters
    ----------
    text : str
        The input whose segments are masked (for QA: the context).
    question : str, optional
        Kept fixed in every masked prompt (e.g. the question about the context).
    model : str or loaded model
        ``"smollm2"`` (the embedded SmolLM2-135M-Instruct), a Hugging Face id or local path,
        ``"openai:MODEL@BASE_URL"``, or a model returned by :func:`interspect.applications.language.load`.
    unit : {"word", "sentence", "paragraph"} or list of (start, end)
        How the text is cut into features.
    scorer, labels, task, masking
        How a masked prompt becomes one number (see :class:`interspect.applications.text.TextValueFunction`);
        ``task`` = "sentiment" | "puzzle" | "qa" picks the paper's prompt and labels.
    method, budget, max_degree, index, order, seed, n_test, progress
        As in :func:`explain`.
    cache : str, Path or QueryCache, optional
        SQLite file keeping every computed model output (and the generated target); a rerun
        reuses them.
    executor : "serial" or executor, optional
        Where the model runs (see :mod:`interspect.queries.executors`).

    Returns
    -------
    Explanation
        With ``metadata["n_model_calls"]`` = rows actually computed (not from the cache) and
        ``metadata["n_from_cache"]`` = rows read from the cache.

    Examples
    --------
    >>> from interspect import explain_text  # doctest: +SKIP
    >>> e = explain_text("The plot never fails to bore.", budget=300)  # doctest: +SKIP
    >>> e.top(3)  # doctest: +SKIP
    """
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    if not text.strip():
        raise ValueError("text is empty: give a non-empty text to explain")
    validate_common(method, budget, max_degree, index, order, n_test)
    from interspect.applications.language import load
    from interspect.applications.text import TextValueFunction

    lm = load(model, device=device) if isinstance(model, str) else model
    # One open cache serves the model outputs (the query layer) and the generated target (memo).
    store = cache if isinstance(cache, QueryCache) or cache is None else QueryCache(cache)
    options: dict[str, Any] = {"question": question, "unit": unit, "masking": masking, "memo": store}
    try:
        if task is not None:
            vf = TextValueFunction.for_task(task, lm, text, **options)
        else:
            vf = TextValueFunction(lm, text, scorer=scorer, labels=labels, **options)
        expl = _explain_vf(vf, model, unit, question, task, method=method, budget=budget,
                           max_degree=max_degree, index=index, order=order, seed=seed,
                           n_test=n_test, progress=progress, cache=store, executor=executor)
    finally:
        if store is not None and store is not cache:
            store.close()
    expl.text = text
    expl.spans = [(s.start, s.end) for s in vf.segments]
    return expl


def _explain_vf(vf: Any, model: Any, unit: Any, question: str | None, task: str | None, **kwargs: Any) -> Explanation:
    settings = vf.describe()
    meta = {
        "output": _describe_output(settings),
        "model": settings.get("model", model if isinstance(model, str) else type(model).__name__),
        "unit": unit if isinstance(unit, str) else "spans",
        "question": question,
        "target": getattr(vf, "target", None),
        "task": task,
        "value_function": settings,
    }
    return explain(vf, vf.n, features=[s.text for s in vf.segments], metadata=meta, **kwargs)
