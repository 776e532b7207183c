"""``explain_image``: explain an image model's output by the image regions whose interactions drive it."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from interspect.applications.images.io import load_image
from interspect.applications.images.segment import segment_image
from interspect.engines.registry import DEFAULT_N_TEST, DEFAULT_SEED
from interspect.interface.explain import Method, explain, validate_common
from interspect.interface.explanation import Explanation
from interspect.queries.cache import QueryCache
from interspect.queries.executors import Executor
from interspect.queries.progress import ProgressArg

__all__ = ["explain_image", "resolve_model"]

_VLM_ONLY = ("question", "answer", "labels", "prompt")


def resolve_model(
    model: Any,
    *,
    processor: Any = None,
    question: str | None = None,
    answer: str | None = None,
    labels: Sequence[str] | None = None,
    target: int | str | None = None,
    score: str = "auto",
    prompt: str | None = None,
    device: str | None = None,
) -> Any:
    """The image model ``model`` names: ``"digits"`` (the offline default), a Hugging Face id or
    local path, an in-memory Hugging Face model (with ``processor``), or any callable on batches
    of images (used as it is).

    Examples
    --------
    >>> resolve_model("digits").name
    'digits-mlp'
    >>> resolve_model("digits", question="Which digit?")
    Traceback (most recent call last):
    ...
    ValueError: question= is for vision-language models; model 'digits' is a digit classifier (give a Hugging Face vision-language model)
    """
    vlm_opts = {"question": question, "answer": answer, "labels": labels, "prompt": prompt}
    hf_opts = {"target": target, "score": None if score == "auto" else score}
    if isinstance(model, str):
        if model == "digits":
            for key, val in vlm_opts.items():
                if val is not None:
                    raise ValueError(f"{key}= is for vision-language models; model 'digits' is a digit classifier "
                                     "(give a Hugging Face vision-language model)")
            if processor is not None:
                raise ValueError("processor= goes with an in-memory Hugging Face model, not model='digits'")
            from interspect.applications.images.digits import DigitsClassifier

            return DigitsClassifier(target=None if target is None else int(target), score=hf_opts["score"] or "logit")
        from interspect.applications.images.models import load_image_model

        return load_image_model(model, question=question, device=device or "cpu", answer=answer, labels=labels,
                                prompt=prompt, **hf_opts)
    if hasattr(model, "config") and hasattr(model, "state_dict"):
        from interspect.applications.images.models import wrap_model

        opts = {k: v for k, v in {**vlm_opts, **hf_opts}.items() if v is not None}
        return wrap_model(model, processor, device=device, **opts)
    if not callable(model):
        raise TypeError(
            "model must be 'digits', a Hugging Face model id or path, a Hugging Face model object, or a "
            f"callable from a batch of images to scores; got {type(model).__name__}"
        )
    given = [k for k, v in {**vlm_opts, "target": target, "processor": processor}.items() if v is not None]
    if given or score != "auto":
        what = ", ".join(f"{k}=" for k in given) or "score="
        raise ValueError(f"{what} apply to 'digits' and Hugging Face models; a plain callable computes its own score")
    return model


def _model_label(settings: dict[str, Any], spec: Any, model: Any, model_id: str | None) -> str:
    """The model's name for reports: its own, the spec, the caller's model_id, or the callable's name."""
    if isinstance(settings.get("model"), str):
        return settings["model"]
    if isinstance(spec, str):
        return spec
    return model_id or getattr(model, "__qualname__", None) or type(model).__name__


def explain_image(
    image: Any,
    *,
    model: Any = "digits",
    processor: Any = None,
    question: str | None = None,
    answer: str | None = None,
    labels: tuple[str, str] | None = None,
    target: int | str | None = None,
    score: str = "auto",
    prompt: str | None = None,
    segments: Any = "grid",
    grid: tuple[int, int] = (4, 4),
    n_segments: int = 16,
    masking: str = "auto",
    blur_radius: float | None = None,
    color: int | Sequence[int] | None = None,
    background: Any = None,
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
    device: str | None = None,
    batch_size: int | None = None,
    model_id: str | None = None,
) -> Explanation:
    """Explain an image model's score on ``image`` by the regions (grid cells or segments) whose
    interactions drive it.

    Parameters
    ----------
    image : path, bytes, PIL image or uint8 array
        The image; read with :func:`interspect.applications.images.io.load_image`.
    model : "digits", str, Hugging Face model or callable
        ``"digits"``: the offline default (:mod:`interspect.applications.images.digits`). A Hugging
        Face id (already in the local cache) or local path of an image classifier, or of a
        vision-language model when ``question`` is given. An in-memory Hugging Face model with its
        ``processor``. Or any ``f(images) -> scores`` on ``(m, H, W, C)`` uint8 batches.
    processor : optional
        The image processor (classifier) or multimodal processor (VLM) of an in-memory model.
    question, answer, labels, prompt
        Vision-language models: the fixed question; the answer whose teacher-forced
        log-probability is explained (default: its greedy answer on the unmasked image) or two
        answers ``labels=(a, b)`` for the margin ``logp(a) − logp(b)``; a prompt template with
        ``{question}`` (default: the processor's chat template).
    target, score
        Classifiers: the class (index or label; default: the predicted one) and
        ``"logit"`` (default) | ``"probability"`` | ``"log_probability"``. VLMs: ``"logprob"``
        | ``"margin"`` (``"auto"`` picks by ``labels``).
    segments, grid, n_segments
        ``"grid"`` with ``grid=(rows, cols)`` (default 4×4, the SPEX setting), ``"slic"`` with
        ``n_segments`` superpixels (``images`` extra), or an ``(H, W)`` integer label map.
    masking, blur_radius, color, background
        What a masked segment becomes (:mod:`interspect.applications.images.masking`): ``"blur"``
        (Gaussian, standard deviation ``blur_radius`` px, default ``max(H, W)/8``), ``"mean"``,
        ``"color"``, ``"background"``; ``"auto"`` = the model's default (digits: black), else blur.
    method, budget, max_degree, index, order, seed, n_test, progress, executor
        As in :func:`interspect.explain`.
    cache : str, Path or QueryCache, optional
        SQLite file keeping every computed score under an identity of the image bytes, the model,
        the segmentation and the masking; a rerun (or a resumed, interrupted run) reuses them.
    device, batch_size, model_id
        Torch device of Hugging Face models (default: ``"cpu"`` for one loaded by name, the model's
        own device for an in-memory one); images per model call; a name for a plain callable in
        the cache identity.

    Returns
    -------
    Explanation
        Features named by grid position (``"r0c1"``: row 0, column 1, from the top left) or
        ``"seg<label>"``; ``metadata["application"] == "images"``; its HTML report shows the image
        with the segments (:func:`interspect.applications.images.view.image_view`) and
        :func:`interspect.applications.images.render_png` draws the same as a PNG.

    Examples
    --------
    >>> from interspect import explain_image
    >>> from interspect.applications.images.digits import digit_image
    >>> img, label = digit_image(0)
    >>> e = explain_image(img, grid=(2, 2), method="exact", n_test=0)
    >>> e.features, e.metadata["target"] == str(label)
    (['r0c0', 'r0c1', 'r1c0', 'r1c1'], True)
    """
    validate_common(method, budget, max_degree, index, order, n_test)
    from interspect.applications.images.value import ImageValueFunction
    from interspect.applications.images.view import view_metadata

    # Cheap checks first: a bad file or grid fails before any model loads.
    img = load_image(image)
    seg = segment_image(img, segments, grid_shape=grid, n_segments=n_segments)
    m = resolve_model(model, processor=processor, question=question, answer=answer, labels=labels,
                      target=target, score=score, prompt=prompt, device=device)
    vf = ImageValueFunction(img, m, segments=seg, masking=masking, blur_radius=blur_radius, color=color,
                            background=background, batch_size=batch_size, model_id=model_id)
    settings = vf.describe()
    meta = {
        "application": "images",
        "model": _model_label(settings, model, m, model_id),
        "output": vf.output_label(),
        "question": getattr(m, "question", None),
        "target": settings.get("class_name") if settings.get("kind") == "classifier" else settings.get("answer"),
        "segments": seg.describe(),
        "masking": vf.fill_settings,
        "value_function": settings,
        "_image_view": view_metadata(img, seg),
    }
    return explain(vf, vf.n, features=list(seg.names), method=method, budget=budget, max_degree=max_degree,
                   index=index, order=order, seed=seed, n_test=n_test, progress=progress, cache=cache,
                   executor=executor, metadata=meta)
