"""``explain_text``: explain a language model's output on a text by the segments whose interactions drive it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from interspect.applications.text.value import FlooredScoresError, check_segments, check_text
from interspect.engines.auto import AutoBudget, resolve_budget
from interspect.engines.registry import (
    AUTO,
    DEFAULT_N_TEST,
    DEFAULT_SEED,
    check_budget,
    choose_method,
    default_budget,
)
from interspect.interface.explain import Method, explain, validate_common
from interspect.interface.explanation import Explanation
from interspect.queries.cache import QueryCache
from interspect.queries.executors import Executor
from interspect.queries.progress import Progress, ProgressArg

__all__ = ["explain_text", "floored_summary"]


def _describe_output(settings: dict[str, Any]) -> str:
    """What the explained number is, in words, from the value function's settings."""
    scorer, labels, target = settings.get("scorer"), settings.get("labels"), settings.get("target")
    if scorer == "margin" and labels:
        return f"logp({labels[0]!r}) − logp({labels[1]!r})"
    if scorer == "class_logit":
        return f"logit of class {target!r}"
    if settings.get("span") is not None:
        start, end = settings["span"]
        scored = settings.get("span_scored", settings.get("span_text"))
        return (
            f"log-probability of {scored!r}, characters {start}-{end} of the answer {target!r} "
            "(each token teacher-forced after the answer before it)"
        )
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
    device: str = "auto",
    span: str | tuple[int, int] | None = None,
    model_options: Mapping[str, Any] | None = None,
    target: str | int | None = None,
) -> Explanation:
    """Explain a language model's output on ``text`` by the segments whose interactions drive it.

    Everything that can be checked without the model (the text and its segments, the options,
    the seed, the cache file) is checked before the model is loaded.

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
        As in :func:`explain`. With ``progress``, retries of an HTTP backend show on the query bar.
    cache : str, Path or QueryCache, optional
        SQLite file keeping every computed model output (and the generated target); a rerun
        reuses them.
    executor : "serial", "ray" or executor, optional
        Where the model runs (see :mod:`interspect.queries.executors`).
    span : str or (int, int), optional
        Explain only part of the generated answer: a substring of it (occurring once) or a
        ``(start, end)`` character range. The output is then the log-probability of those answer
        tokens, teacher-forced after the rest of the answer before them (scorer ``logprob``).
    device : str
        Torch device of a model loaded here (``"auto"``: CUDA when torch sees a GPU).
    model_options : dict, optional
        Options of a model loaded from a name (OpenAI-compatible endpoints: ``timeout``,
        ``max_retries``, ``concurrency``, ``top_logprobs``, ...).
    target : str or int, optional
        What the ``logprob`` scorer scores (default: the model's own answer), or the class of
        ``class_logit``; see :class:`~interspect.applications.text.TextValueFunction`.

    Returns
    -------
    Explanation
        With ``metadata["n_model_calls"]`` = rows actually computed (not from the cache),
        ``metadata["n_from_cache"]`` = rows read from the cache and, for backends that floor
        missing log-probabilities, ``metadata["floored"]`` (see :func:`floored_summary`).

    Raises
    ------
    FlooredScoresError
        The scored labels are not among the server's top tokens (see ``max_floored`` of
        :class:`~interspect.applications.text.TextValueFunction`); the outputs computed so far
        are kept in the cache.

    Examples
    --------
    >>> from interspect import explain_text  # doctest: +SKIP
    >>> e = explain_text("The plot never fails to bore.", budget=300)  # doctest: +SKIP
    >>> e.top(3)  # doctest: +SKIP
    """
    check_text(text, "text")
    if not text.strip():
        raise ValueError("text is empty: give a non-empty text to explain")
    if question is not None:
        check_text(question, "question")
    validate_common(method, budget, max_degree, index, order, n_test, seed=seed)
    # The budget too: a wrong or impossible one is refused before the model loads.
    n = len(check_segments(text, unit))
    if not isinstance(resolve_budget(budget), AutoBudget):
        chosen = choose_method(n, budget, max_degree)[0] if method == AUTO else method
        check_budget(chosen, n, default_budget(n, chosen, max_degree) if budget is None else budget, max_degree)
    options = dict(model_options or {})
    if options and not isinstance(model, str):
        raise TypeError("model_options apply to a model loaded from a name; give them to load() instead")
    from interspect.applications.language import load
    from interspect.applications.text import TextValueFunction

    # The cache file is opened (and a bad one refused) before the model is loaded. One open
    # cache serves the model outputs (the query layer) and the generated target (memo).
    store = cache if isinstance(cache, QueryCache) or cache is None else QueryCache(cache)
    lm = None
    try:
        lm = load(model, device=device, **options) if isinstance(model, str) else model
        vf_options: dict[str, Any] = {"question": question, "unit": unit, "masking": masking, "memo": store,
                                      "target": target}
        if span is not None:
            vf_options["span"] = span
        if task is not None:
            vf = TextValueFunction.for_task(task, lm, text, **vf_options)
        else:
            vf = TextValueFunction(lm, text, scorer=scorer, labels=labels, **vf_options)
        prog = Progress(progress)
        # An HTTP backend reports its retries on the query bar (it had no other voice).
        restore = getattr(lm, "on_retry", False)
        if restore is not False and prog.enabled:
            lm.on_retry = lambda text: prog.note("query", text)
        try:
            expl = _explain_vf(vf, model, unit, question, task, method=method, budget=budget,
                               max_degree=max_degree, index=index, order=order, seed=seed,
                               n_test=n_test, progress=prog, cache=store, executor=executor)
        finally:
            if restore is not False:
                lm.on_retry = restore
    finally:
        if store is not None and store is not cache:
            store.close()
        if lm is not None and isinstance(model, str) and model.startswith("openai:"):
            lm.close()  # its own client and threads (Hugging Face models stay loaded for reuse)
    floors = floored_summary(vf)
    if floors is not None:
        expl.metadata["floored"] = floors
        if floors["all_floored"] > vf.max_floored * floors["scored"] and floors["scored"]:
            raise FlooredScoresError(
                vf._floor_message(f"for {floors['all_floored']} of the {floors['scored']} prompts scored")
            )
    expl.text = text
    expl.spans = [(s.start, s.end) for s in vf.segments]
    return expl


def floored_summary(vf: Any) -> dict[str, Any] | None:
    """How many of the rows ``vf`` scored in this run rest on floored log-probabilities, or None
    when its backend never floors.

    ``{"scored": rows scored with floor information, "floored": rows with at least one floored
    label/answer token, "all_floored": rows with none among the server's top tokens, "share":
    floored / scored (None when every row came from the cache)}``.

    Examples
    --------
    >>> class Stub:
    ...     lm = type("LM", (), {"last_floored": lambda self: None})()
    ...     stats = {"scored": 40, "floored": 10, "all_floored": 2}
    >>> floored_summary(Stub())
    {'scored': 40, 'floored': 10, 'all_floored': 2, 'share': 0.25}
    """
    if not callable(getattr(getattr(vf, "lm", None), "last_floored", None)):
        return None
    st = vf.stats
    scored = int(st.get("scored", 0))
    return {
        "scored": scored,
        "floored": int(st.get("floored", 0)),
        "all_floored": int(st.get("all_floored", 0)),
        "share": round(st["floored"] / scored, 4) if scored else None,
    }


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
    if settings.get("span") is not None:
        meta["span"] = settings["span"]
    return explain(vf, vf.n, features=[s.text for s in vf.segments], metadata=meta, **kwargs)
