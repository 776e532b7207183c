"""Image models as the images application calls them: a batch of images -> one score per image.

An *image model* is any callable ``model(images) -> scores`` where ``images`` is an
``(m, H, W, C)`` uint8 array (``C`` = 1 gray or 3 RGB) and ``scores`` has ``m`` floats. It may
also have ``prepare(image)`` (called once with the unmasked image, e.g. to pick the predicted
class as the target), ``identity() -> dict`` (what the cache keys outputs under), ``describe()``,
``batch_size`` and ``default_masking``. Three come with interspect:

- :class:`HFImageClassifier` — ``AutoModelForImageClassification`` + its image processor; score
  = a class logit, probability or log-probability, default class = the one predicted on the
  unmasked image;
- :class:`HFVisionLanguageModel` — an image-text-to-text model whose processor takes an image
  and a question; score = the teacher-forced log-probability of an answer (default: its own
  greedy answer on the unmasked image) or the margin ``logp(a) − logp(b)`` of two answers;
- :class:`~interspect.applications.images.digits.DigitsClassifier` — the offline default.

:func:`load_image_model` builds the first two from a local path or a hub id already in the local
Hugging Face cache (nothing is downloaded at run time). ``torch``/``transformers`` load only then.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

from interspect.applications.images.io import to_pil
from interspect.core.validation import check_choice, check_positive_int

__all__ = [
    "HFImageClassifier",
    "HFVisionLanguageModel",
    "load_image_model",
    "wrap_model",
    "CLASSIFIER_SCORES",
    "VLM_SCORES",
]

CLASSIFIER_SCORES: tuple[str, ...] = ("logit", "probability", "log_probability")
VLM_SCORES: tuple[str, ...] = ("logprob", "margin")


def _torch() -> tuple[Any, Any]:
    from interspect.applications.language.backends import _import_torch_transformers

    return _import_torch_transformers()


def _fingerprint_weights(model: Any) -> str:
    """A cheap fingerprint of an in-memory model: its config, and the names, shapes and first 256
    values of every weight (hashing all of a 7B model's weights would take minutes)."""
    torch, _ = _torch()
    h = hashlib.sha256()
    cfg = getattr(model, "config", None)
    if cfg is not None and hasattr(cfg, "to_dict"):
        h.update(json.dumps(cfg.to_dict(), sort_keys=True, default=str).encode())
    with torch.no_grad():
        for name, t in model.state_dict().items():
            h.update(f"{name}:{tuple(t.shape)}:{t.dtype}".encode())
            if t.numel():
                h.update(t.detach().reshape(-1)[:256].to("cpu", torch.float64).numpy().tobytes())
    return h.hexdigest()[:16]


def _fingerprint_processor(processor: Any) -> str:
    try:
        d = processor.to_dict()
    except Exception:  # some processors cannot serialise every attribute; fall back to repr
        d = repr(processor)
    return hashlib.sha256(json.dumps(d, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _model_name(model: Any) -> str:
    cfg = getattr(model, "config", None)
    return str(getattr(cfg, "_name_or_path", "") or type(model).__name__)


def _inputs_to(enc: Any, device: str, dtype: Any) -> dict[str, Any]:
    out = {}
    for k, v in dict(enc).items():
        if hasattr(v, "to"):
            v = v.to(device, dtype=dtype) if v.is_floating_point() else v.to(device)
        out[k] = v
    return out


def _device_of(model: Any) -> str:
    dev = getattr(model, "device", None)
    if dev is None:
        try:
            dev = next(model.parameters()).device
        except (AttributeError, StopIteration):
            return "cpu"
    return str(dev)


def _model_dtype(model: Any) -> Any:
    return getattr(model, "dtype", None) or next(model.parameters()).dtype


class HFImageClassifier:
    """A Hugging Face image classifier and its image processor, scored on batches of images.

    Parameters
    ----------
    model : transformers model
        An ``AutoModelForImageClassification`` model (any module whose output has ``.logits``
        of shape ``(batch, classes)`` given ``pixel_values``).
    processor : image processor
        The model's image processor (``AutoImageProcessor.from_pretrained(...)``): resizes and
        normalises; required.
    target : int or str, optional
        Class index or label (``model.config.id2label``); default: the class predicted on the
        unmasked image.
    score : {"logit", "probability", "log_probability"}
        What is explained: the target's logit, its softmax probability or log-probability.
    device : str, optional
        Torch device the inputs are moved to; default: the model's own device.
    batch_size : int
        Images per forward pass.

    Examples
    --------
    >>> from transformers import ViTConfig, ViTForImageClassification, ViTImageProcessorPil  # doctest: +SKIP
    >>> vit = ViTForImageClassification(ViTConfig(image_size=32, patch_size=8, num_labels=3))  # doctest: +SKIP
    >>> clf = HFImageClassifier(vit, ViTImageProcessorPil(size={"height": 32, "width": 32}))  # doctest: +SKIP
    """

    kind = "classifier"

    def __init__(
        self,
        model: Any,
        processor: Any,
        *,
        target: int | str | None = None,
        score: Literal["logit", "probability", "log_probability"] = "logit",
        device: str | None = None,
        batch_size: int = 16,
        name: str | None = None,
        identity: dict[str, Any] | None = None,
    ) -> None:
        self.name = name or _model_name(model)
        if processor is None or not callable(processor):
            raise ValueError(
                f"model {self.name!r} has no image processor: pass processor=AutoImageProcessor."
                "from_pretrained(<the model's path>) (the resizing and normalisation it was trained with)"
            )
        torch, _ = _torch()
        self._torch = torch
        self.model = model.eval()
        self.processor = processor
        self.score = check_choice(score, "score", CLASSIFIER_SCORES)
        self.device = _device_of(model) if device is None else device
        self.batch_size = check_positive_int(batch_size, "batch_size")
        cfg = getattr(model, "config", None)
        id2label = getattr(cfg, "id2label", None) or {}
        n_labels = int(getattr(cfg, "num_labels", len(id2label)) or len(id2label))
        self.class_names = [str(id2label.get(i, f"LABEL_{i}")) for i in range(n_labels)]
        self.target = None if target is None else self.class_index(target)
        self._identity = dict(identity) if identity else {
            "model": self.name, "weights": _fingerprint_weights(model),
            "processor": _fingerprint_processor(processor),
        }

    def class_index(self, label: int | str) -> int:
        if isinstance(label, str) and not label.isdigit():
            if label not in self.class_names:
                raise ValueError(f"target={label!r} is not a class of {self.name}; classes: {self.class_names[:20]}")
            return self.class_names.index(label)
        idx = int(label)
        if not 0 <= idx < len(self.class_names):
            raise ValueError(f"target={label!r} is not a class index of {self.name} (0..{len(self.class_names) - 1})")
        return idx

    def pixel_values(self, images: np.ndarray) -> Any:
        enc = self.processor(images=[to_pil(im) for im in images], return_tensors="pt")
        if "pixel_values" not in enc:
            raise ValueError(f"the processor of {self.name} is not an image processor (its output has no pixel_values)")
        return enc["pixel_values"].to(self.device, dtype=_model_dtype(self.model))

    def class_logits(self, images: np.ndarray) -> np.ndarray:
        """``(m, classes)`` logits, one forward pass per ``batch_size`` images."""
        torch = self._torch
        rows = []
        with torch.inference_mode():
            for s in range(0, len(images), self.batch_size):
                logits = self.model(pixel_values=self.pixel_values(images[s : s + self.batch_size])).logits
                rows.append(logits.float().cpu().numpy().astype(np.float64))
        return np.concatenate(rows, axis=0)

    def prepare(self, image: np.ndarray) -> None:
        """Pick the default target: the class predicted on the unmasked image."""
        if self.target is None:
            self.target = int(np.argmax(self.class_logits(image[None])[0]))

    def __call__(self, images: np.ndarray) -> np.ndarray:
        if self.target is None:
            raise ValueError("HFImageClassifier has no target yet: pass target= or call prepare(image)")
        z = self.class_logits(images)
        if self.score == "logit":
            return z[:, self.target]
        from scipy.special import log_softmax

        lp = log_softmax(z, axis=1)[:, self.target]
        return np.exp(lp) if self.score == "probability" else lp

    def identity(self) -> dict[str, Any]:
        return {**self._identity, "target": self.target, "score": self.score}

    def describe(self) -> dict[str, Any]:
        cls = None if self.target is None else self.class_names[self.target]
        return {"model": self.name, "kind": self.kind, "target": self.target, "class_name": cls,
                "score": self.score, "batch_size": self.batch_size}

    def output_label(self) -> str:
        cls = None if self.target is None else self.class_names[self.target]
        return f"{self.score.replace('_', '-')} of class {cls!r}"


class HFVisionLanguageModel:
    """A Hugging Face vision-language model: image + fixed question -> the score of an answer.

    Parameters
    ----------
    model : transformers model
        An image-text-to-text model (``AutoModelForImageTextToText``: LLaVA, Qwen2-VL, SmolVLM,
        PaliGemma, ...) whose forward takes the processor's outputs and returns ``.logits``.
    processor : processor
        Its multimodal processor (``AutoProcessor``): takes ``images=`` and ``text=``, and has an
        image processor (``processor.image_processor``).
    question : str
        Kept fixed while the image is masked.
    answer : str, optional
        The answer whose teacher-forced log-probability ``Σ_t log p(answer_t | image, question,
        answer_<t)`` is explained (``score="logprob"``); default: the model's greedy answer on the
        unmasked image (``max_new_tokens``).
    labels : (str, str), optional
        Two answers ``(a, b)``: ``score="margin"`` explains ``logp(a) − logp(b)``.
    score : {"auto", "logprob", "margin"}
        ``"auto"``: ``"margin"`` when ``labels`` are given, else ``"logprob"``.
    prompt : str, optional
        The text before the answer, with ``{question}`` where the question goes, e.g.
        ``"USER: <image>\\n{question} ASSISTANT:"``. Default: the processor's chat template (one
        user turn: the image, then the question; generation prompt added), else
        ``"<image token>\\n{question}\\n"``.
    device, batch_size, max_new_tokens
        Torch device of the inputs (default: the model's); images per forward pass; length of the
        default answer.

    Examples
    --------
    >>> vlm = HFVisionLanguageModel(model, processor, question="Is there a cat?", labels=(" yes", " no"))  # doctest: +SKIP
    """

    kind = "vlm"

    def __init__(
        self,
        model: Any,
        processor: Any,
        *,
        question: str,
        answer: str | None = None,
        labels: Sequence[str] | None = None,
        score: Literal["auto", "logprob", "margin"] = "auto",
        prompt: str | None = None,
        device: str | None = None,
        batch_size: int = 4,
        max_new_tokens: int = 16,
        name: str | None = None,
        identity: dict[str, Any] | None = None,
    ) -> None:
        self.name = name or _model_name(model)
        if processor is None or getattr(processor, "image_processor", None) is None or getattr(processor, "tokenizer", None) is None:
            raise ValueError(
                f"model {self.name!r} has no image processor: a vision-language model needs its multimodal "
                "processor (AutoProcessor.from_pretrained(<the model's path>), with an image processor and a tokenizer)"
            )
        if not isinstance(question, str) or not question.strip():
            raise ValueError("question must be a non-empty string for a vision-language model (it is kept fixed)")
        check_choice(score, "score", ("auto", *VLM_SCORES))
        if score == "auto":
            score = "margin" if labels is not None else "logprob"
        if score == "margin":
            if labels is None or isinstance(labels, str) or len(labels) != 2 or labels[0] == labels[1] or not all(
                isinstance(x, str) and x for x in labels
            ):
                raise ValueError(f"score='margin' needs labels=(a, b): two different non-empty answers, got {labels!r}")
            if answer is not None:
                raise ValueError("give answer= (score='logprob') or labels= (score='margin'), not both")
        elif labels is not None:
            raise ValueError("labels= goes with score='margin'; for score='logprob' give answer=")
        if answer is not None and (not isinstance(answer, str) or not answer):
            raise ValueError(f"answer must be a non-empty string, got {answer!r}")
        torch, _ = _torch()
        self._torch = torch
        self.model = model.eval()
        self.processor = processor
        self.question = question
        self.score = score
        self.answer = answer
        self.labels = tuple(labels) if labels is not None else None
        self.device = _device_of(model) if device is None else device
        self.batch_size = check_positive_int(batch_size, "batch_size")
        self.max_new_tokens = check_positive_int(max_new_tokens, "max_new_tokens")
        self.prompt = self._render(prompt)
        self._conts: list[list[int]] | None = None  # token ids of each scored answer
        self._identity = dict(identity) if identity else {
            "model": self.name, "weights": _fingerprint_weights(model),
            "processor": _fingerprint_processor(processor.image_processor),
        }

    def _render(self, prompt: str | None) -> str:
        if prompt is not None:
            if not isinstance(prompt, str) or "{question}" not in prompt:
                raise ValueError(f"prompt must be a string containing '{{question}}', got {prompt!r}")
            return prompt.replace("{question}", self.question)
        if getattr(self.processor, "chat_template", None):
            messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": self.question}]}]
            return self.processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        token = getattr(self.processor, "image_token", None) or "<image>"
        return f"{token}\n{self.question}\n"

    def _encode(self, images: np.ndarray, text: str) -> dict[str, Any]:
        enc = self.processor(images=[to_pil(im) for im in images], text=[text] * len(images), return_tensors="pt")
        return _inputs_to(enc, self.device, _model_dtype(self.model))

    def _generate_ids(self, image: np.ndarray) -> list[int]:
        """The model's greedy answer on ``image`` as token ids (trailing end/pad tokens dropped)."""
        torch = self._torch
        enc = self._encode(image[None], self.prompt)
        with torch.inference_mode():
            out = self.model.generate(**enc, max_new_tokens=self.max_new_tokens, do_sample=False)
        ids = out[0, enc["input_ids"].shape[1] :].tolist()
        tok = self.processor.tokenizer
        stop = {t for t in (tok.eos_token_id, tok.pad_token_id) if t is not None}
        while ids and ids[-1] in stop:
            ids.pop()
        return ids

    def generate(self, image: np.ndarray) -> str:
        """The model's greedy answer on ``image`` (the default ``answer``)."""
        return self.processor.tokenizer.decode(self._generate_ids(image), skip_special_tokens=True)

    def _answer_ids(self, image: np.ndarray, text: str, prompt_ids: list[int]) -> list[int]:
        """Token ids of ``text`` as it continues the prompt (tokenized in context, so a leading
        space merges as the model's tokenizer merges it)."""
        ids = self._encode(image[None], self.prompt + text)["input_ids"][0].tolist()
        P = len(prompt_ids)
        if ids[:P] != prompt_ids or len(ids) <= P:
            raise ValueError(
                f"the answer {text!r} does not tokenize as a continuation of the prompt for {self.name} "
                "(try it with or without a leading space)"
            )
        return ids[P:]

    def prepare(self, image: np.ndarray) -> None:
        """Generate the default answer (if needed) and tokenize every answer after the prompt."""
        if self._conts is not None:
            return
        prompt_ids = self._encode(image[None], self.prompt)["input_ids"][0].tolist()
        if self.score == "logprob" and self.answer is None:
            ids = self._generate_ids(image)
            self.answer = self.processor.tokenizer.decode(ids, skip_special_tokens=True)
            if not ids or not self.answer.strip():
                raise ValueError(f"{self.name} gave an empty answer on the unmasked image; pass answer='...' or labels=(a, b)")
            self._conts = [ids]  # scored exactly as generated, not re-tokenized from text
            return
        texts = [self.answer] if self.score == "logprob" else list(self.labels or ())
        self._conts = [self._answer_ids(image, t, prompt_ids) for t in texts]

    def _with_answer(self, enc: dict[str, Any], ids: list[int]) -> dict[str, Any]:
        """The prompt's inputs with the answer tokens appended (attention 1, token type 0)."""
        torch = self._torch
        B, P = enc["input_ids"].shape
        out = dict(enc)
        for key, v in enc.items():
            if not (torch.is_tensor(v) and v.dim() == 2 and tuple(v.shape) == (B, P)) or not any(
                w in key for w in ("ids", "mask", "token_type")
            ):
                continue
            if key == "input_ids":
                ext = torch.tensor(ids, dtype=v.dtype, device=v.device).expand(B, -1)
            elif "mask" in key:
                ext = torch.ones((B, len(ids)), dtype=v.dtype, device=v.device)
            else:
                ext = torch.zeros((B, len(ids)), dtype=v.dtype, device=v.device)
            out[key] = torch.cat([v, ext], dim=1)
        return out

    def _logprobs(self, images: np.ndarray) -> np.ndarray:
        """``(m, len(answers))``: teacher-forced log-probability of each answer."""
        torch = self._torch
        assert self._conts is not None
        out = np.empty((len(images), len(self._conts)))
        with torch.inference_mode():
            enc = self._encode(images, self.prompt)
            P = enc["input_ids"].shape[1]
            if all(len(ids) == 1 for ids in self._conts):
                # Every answer is one token: one pass over the prompt alone scores them all.
                lp = torch.log_softmax(self.model(**enc).logits[:, P - 1].float(), dim=-1)
                for j, ids in enumerate(self._conts):
                    out[:, j] = lp[:, ids[0]].cpu().numpy()
                return out
            for j, ids in enumerate(self._conts):
                logits = self.model(**self._with_answer(enc, ids)).logits[:, P - 1 : P - 1 + len(ids)]
                lp = torch.log_softmax(logits.float(), dim=-1)
                tok = torch.tensor(ids, device=lp.device).expand(lp.shape[0], -1)
                out[:, j] = lp.gather(2, tok[..., None])[..., 0].sum(1).cpu().numpy()
        return out

    def __call__(self, images: np.ndarray) -> np.ndarray:
        if self._conts is None:
            raise ValueError("HFVisionLanguageModel is not prepared: call prepare(unmasked image) first")
        parts = [self._logprobs(images[s : s + self.batch_size]) for s in range(0, len(images), self.batch_size)]
        lp = np.concatenate(parts, axis=0)
        return lp[:, 0] if self.score == "logprob" else lp[:, 0] - lp[:, 1]

    def identity(self) -> dict[str, Any]:
        return {**self._identity, "prompt": self.prompt, "score": self.score, "answer": self.answer,
                "labels": list(self.labels) if self.labels else None,
                "token_ids": list(self._conts or [])}

    def describe(self) -> dict[str, Any]:
        return {"model": self.name, "kind": self.kind, "question": self.question, "prompt": self.prompt,
                "score": self.score, "answer": self.answer,
                "labels": list(self.labels) if self.labels else None, "batch_size": self.batch_size}

    def output_label(self) -> str:
        if self.score == "margin" and self.labels:
            return f"logp({self.labels[0]!r}) − logp({self.labels[1]!r})"
        return f"log-probability of the answer {self.answer!r}"


def _is_classifier(model: Any) -> bool:
    archs = list(getattr(getattr(model, "config", None), "architectures", None) or [])
    return type(model).__name__.endswith("ForImageClassification") or any(
        a.endswith("ForImageClassification") for a in archs
    )


def wrap_model(model: Any, processor: Any = None, **options: Any) -> Any:
    """An in-memory Hugging Face model (and its processor) as an image model: an image classifier
    becomes :class:`HFImageClassifier`, anything given a ``question=`` :class:`HFVisionLanguageModel`."""
    question = options.pop("question", None)
    if question is not None or not _is_classifier(model):
        if question is None:
            raise ValueError(
                f"model {_model_name(model)!r} is not an image classifier (…ForImageClassification); "
                "a vision-language model needs question='...'"
            )
        for key in ("target",):
            if options.pop(key, None) is not None:
                raise ValueError("target= is for image classifiers; a vision-language model takes answer= or labels=")
        return HFVisionLanguageModel(model, processor, question=question, **options)
    for key in ("answer", "labels", "prompt", "max_new_tokens"):
        if options.pop(key, None) is not None:
            raise ValueError(f"{key}= is for vision-language models (with question=); {_model_name(model)!r} is an image classifier")
    return HFImageClassifier(model, processor, **options)


def load_image_model(
    spec: str,
    *,
    question: str | None = None,
    device: str = "cpu",
    dtype: Literal["float32", "float16", "bfloat16"] | None = None,
    **options: Any,
) -> Any:
    """Load a Hugging Face image classifier or vision-language model from a local path or the
    local hub cache (never downloaded here), with its processor.

    An ``…ForImageClassification`` config gives :class:`HFImageClassifier` (with
    ``AutoImageProcessor``); any other config, given ``question=``, gives
    :class:`HFVisionLanguageModel` (``AutoModelForImageTextToText`` + ``AutoProcessor``).
    ``options`` go to that class (``target``, ``score``, ``answer``, ``labels``, ``prompt``, ...).

    Examples
    --------
    >>> clf = load_image_model("google/vit-base-patch16-224")  # doctest: +SKIP
    >>> vlm = load_image_model("HuggingFaceTB/SmolVLM-256M-Instruct", question="What animal is this?")  # doctest: +SKIP
    """
    if not isinstance(spec, str) or not spec:
        raise TypeError(f"model must be 'digits', a Hugging Face model id or a local path, got {spec!r}")
    torch, transformers = _torch()
    from interspect.applications.language.backends import _fingerprint_dir, _resolve_dtype

    torch_dtype = _resolve_dtype(torch, dtype)
    local = Path(spec).expanduser()
    kw: dict[str, Any] = {"local_files_only": True}
    try:
        config = transformers.AutoConfig.from_pretrained(spec, **kw)
    except (OSError, ValueError):
        where = "is not a local model directory and " if not local.exists() else ""
        raise FileNotFoundError(
            f"model {spec!r} {where}was not found in the local Hugging Face cache; nothing is downloaded "
            f"at run time: fetch it first (e.g. `huggingface-cli download {spec}`) or pass a local path"
        ) from None
    fp = _fingerprint_dir(local) if local.exists() else hashlib.sha256(
        json.dumps(config.to_dict(), sort_keys=True, default=str).encode()).hexdigest()[:16]
    major, minor = (int(x) for x in transformers.__version__.split(".")[:2])
    kw["dtype" if (major, minor) >= (4, 56) else "torch_dtype"] = torch_dtype
    archs = list(getattr(config, "architectures", None) or [])
    ident = {"backend": "hf", "model": spec, "fingerprint": fp, "dtype": str(torch_dtype)}
    if any(a.endswith("ForImageClassification") for a in archs) and question is None:
        for key in ("answer", "labels", "prompt", "max_new_tokens"):
            if options.get(key) is not None:
                raise ValueError(f"{key}= is for vision-language models; {spec!r} is an image classifier")
            options.pop(key, None)
        try:
            processor = transformers.AutoImageProcessor.from_pretrained(spec, local_files_only=True)
        except (OSError, ValueError, KeyError):
            raise ValueError(
                f"model {spec!r} has no image processor (no preprocessor_config.json beside its config): "
                "save the one it was trained with there (AutoImageProcessor...save_pretrained(path))"
            ) from None
        model = transformers.AutoModelForImageClassification.from_pretrained(spec, **kw).to(device)
        return HFImageClassifier(model, processor, device=device, name=spec, identity=ident,
                                 **{k: v for k, v in options.items() if v is not None})
    if question is None:
        raise ValueError(
            f"model {spec!r} is not an image classifier (architectures: {archs or 'unknown'}); "
            "a vision-language model needs question='...' (CLI: --question)"
        )
    if options.get("target") is not None:
        raise ValueError("target= is for image classifiers; a vision-language model takes answer= or labels=")
    options.pop("target", None)
    try:
        processor = transformers.AutoProcessor.from_pretrained(spec, local_files_only=True)
    except (OSError, ValueError, KeyError):
        processor = None
    if processor is None or getattr(processor, "image_processor", None) is None:
        raise ValueError(
            f"model {spec!r} has no image processor (its processor takes no images): "
            "give a vision-language model (e.g. LLaVA, Qwen2-VL, SmolVLM) or an image classifier"
        )
    try:
        model = transformers.AutoModelForImageTextToText.from_pretrained(spec, **kw).to(device)
    except ValueError as exc:
        raise ValueError(
            f"model {spec!r} is neither an image classifier nor a vision-language model transformers "
            f"loads with AutoModelForImageTextToText ({str(exc).splitlines()[0][:120]})"
        ) from None
    return HFVisionLanguageModel(model, processor, question=question, device=device, name=spec,
                                 identity=ident, **{k: v for k, v in options.items() if v is not None})
