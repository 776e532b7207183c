"""``explain_components``: which attention heads (and MLP blocks) of a language model work together."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from interspect.applications.components.layout import Component
from interspect.applications.components.tasks import DEFAULT_TASK, Task
from interspect.applications.components.value import (
    Ablation,
    ComponentValueFunction,
    ScoreName,
)
from interspect.engines.registry import DEFAULT_N_TEST, DEFAULT_SEED
from interspect.interface.explain import Method, explain, validate_common
from interspect.interface.explanation import Explanation
from interspect.queries.cache import QueryCache
from interspect.queries.executors import Executor
from interspect.queries.layer import Queries
from interspect.queries.progress import ProgressArg

__all__ = ["explain_components", "describe_output"]


def describe_output(vf: ComponentValueFunction) -> str:
    """What the explained number is, in words."""
    what = {
        "margin": "mean log p(answer) − max log p(wrong choice)",
        "logprob": "mean log p(answer)",
        "accuracy": "accuracy",
    }.get(str(vf.score), vf.score_name)
    return f"{what} over the {len(vf.task.items)} items of task {vf.task.name!r}, {vf.ablation}-ablating inactive components"


def component_metadata(vf: ComponentValueFunction) -> dict[str, Any]:
    """What the report view needs about the components (JSON-able)."""
    return {
        "application": "components",
        "model": vf.describe()["model"],
        "output": describe_output(vf),
        "task": vf.task.name,
        "n_items": len(vf.task.items),
        "ablation": vf.ablation,
        "score": vf.score_name,
        "n_layers": vf.layout.n_layers,
        "n_heads": vf.layout.n_heads,
        # [layer, head] per feature; head -1 is the layer's MLP block.
        "grid": [[c.layer, -1 if c.head is None else c.head] for c in vf.components],
        "value_function": vf.describe(),
    }


def explain_components(
    model: Any = "smollm2",
    task: str | Task | Sequence[Any] = DEFAULT_TASK,
    *,
    components: str | Sequence[str | int | Component] = "heads",
    layers: Sequence[int] | None = None,
    ablation: Ablation = "zero",
    score: ScoreName | Callable[[np.ndarray], float] = "margin",
    method: Method = "auto",
    budget: int | None = None,
    max_degree: int = 5,
    index: str = "FBII",
    order: int = 2,
    cache: str | Path | QueryCache | None = None,
    seed: int | np.random.Generator | None = DEFAULT_SEED,
    n_test: int = DEFAULT_N_TEST,
    progress: ProgressArg = False,
    executor: str | Executor | None = None,
    device: str = "cpu",
    batch_size: int = 16,
    accuracy: bool = True,
) -> Explanation:
    """Explain a task score of a language model by the interactions of its attention heads.

    f(S) is the task score of the model with only the components in S active (the others
    zero- or mean-ablated, see :class:`ComponentValueFunction`); features are named like
    ``"L12.H3"`` (layer 12, head 3) and ``"L12.MLP"``.

    Parameters
    ----------
    model : str or loaded model
        ``"smollm2"`` (the embedded SmolLM2-135M-Instruct, 30 layers × 9 heads), a Hugging
        Face id or local path (Llama family, Qwen2, GPT-2), or a model from
        :func:`interspect.applications.language.load`.
    task : str, Task or list
        ``"capitals"`` (default), ``"ioi"``, a JSON file, or a list of (prompt, answer[, wrong]).
    components, layers, ablation, score, batch_size
        See :class:`ComponentValueFunction`.
    method, budget, max_degree, index, order, seed, n_test, progress, executor
        As in :func:`interspect.explain`.
    cache : str, Path or QueryCache, optional
        SQLite file keeping every computed score under an identity covering model, task set,
        score, ablation and component set; a rerun (or a resumed one) reuses them.
    device : str
        Torch device when ``model`` is a string.
    accuracy : bool
        Also measure the unablated model's accuracy on the task (one more query).

    Returns
    -------
    Explanation
        ``metadata["application"] == "components"``; ``metadata["grid"]`` gives each feature's
        ``[layer, head]`` (head -1: the MLP block) for the report's layer × head heatmap.

    Examples
    --------
    >>> from interspect import explain_components  # doctest: +SKIP
    >>> e = explain_components(layers=[20], method="exact")  # doctest: +SKIP
    >>> e.top(3)  # doctest: +SKIP
    """
    validate_common(method, budget, max_degree, index, order, n_test)
    from interspect.applications.language import load

    lm = load(model, device=device) if isinstance(model, str) else model
    vf = ComponentValueFunction(
        lm, task, components=components, layers=layers, ablation=ablation, score=score,
        batch_size=batch_size,
    )
    meta = component_metadata(vf)
    store = cache if isinstance(cache, QueryCache) or cache is None else QueryCache(cache)
    try:
        if accuracy and vf.score != "accuracy":
            acc_vf = ComponentValueFunction(
                lm, vf.task, components=vf.components, ablation=ablation, score="accuracy",
                batch_size=batch_size,
            )
            q = Queries(acc_vf, acc_vf.n, cache=store)
            try:
                meta["unablated_accuracy"] = float(q(np.ones((1, vf.n), dtype=np.uint8))[0])
            finally:
                q.close()
        expl = explain(
            vf, vf.n, features=vf.names, method=method, budget=budget, max_degree=max_degree,
            index=index, order=order, seed=seed, n_test=n_test, progress=progress, cache=store,
            executor=executor, metadata=meta,
        )
    finally:
        if store is not None and store is not cache:
            store.close()
    return expl
