"""An image model on a masked image as a value function: a 0/1 mask over segments -> one score."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from interspect.applications.images.io import image_digest, load_image
from interspect.applications.images.masking import MASKINGS, make_fill, masked_images
from interspect.applications.images.segment import Segmentation, segment_image
from interspect.core.validation import check_choice, check_masks, check_positive_int
from interspect.queries.cache import identity_hash

__all__ = ["ImageValueFunction", "model_identity"]


def model_identity(model: Any, model_id: str | None = None) -> dict[str, Any]:
    """What the cache identity records about an image model: ``model_id`` when given, else the
    model's own ``identity()``, else its qualified name (then a changed plain function needs a new
    ``model_id``, or the cache would return the old function's outputs)."""
    if model_id is not None:
        if not isinstance(model_id, str) or not model_id:
            raise TypeError(f"model_id must be a non-empty string, got {model_id!r}")
        return {"model_id": model_id}
    own = getattr(model, "identity", None)
    if callable(own):
        return dict(own())
    kind = type(model)
    name = getattr(model, "__qualname__", None) or f"{kind.__module__}.{kind.__qualname__}"
    return {"callable": f"{getattr(model, '__module__', kind.__module__)}.{name}"}


class ImageValueFunction:
    """``f(X)``: for each 0/1 mask over an image's segments, the model's score on the image with the
    masked segments replaced by the fill (1 = segment kept).

    Parameters
    ----------
    image : path, bytes, PIL image or uint8 array
        The image explained (read once by :func:`~interspect.applications.images.io.load_image`).
    model : callable
        ``model(images) -> scores``: ``(m, H, W, C)`` uint8 -> ``m`` floats; optionally with
        ``prepare(image)``, ``identity()``, ``describe()``, ``batch_size``, ``default_masking``
        (see :mod:`interspect.applications.images.models`).
    segments : "grid", "slic", label map or Segmentation
        The features; ``grid=(rows, cols)`` and ``n_segments`` as in
        :func:`~interspect.applications.images.segment.segment_image`.
    masking : {"auto", "blur", "mean", "color", "background"}
        The fill of a masked segment (:mod:`interspect.applications.images.masking`); ``"auto"``
        uses the model's ``default_masking`` if it has one, else ``"blur"``.
    blur_radius, color, background
        The fill's parameters (``color`` default 0, black).
    batch_size : int, optional
        Masked images per model call (default: the model's ``batch_size``, else 16).
    model_id : str, optional
        Names the model in the cache identity (needed for a plain function that changes).

    Examples
    --------
    >>> import numpy as np
    >>> img = np.zeros((4, 4, 1), np.uint8); img[:2, :2] = 200; img[2:, 2:] = 100
    >>> vf = ImageValueFunction(img, lambda ims: ims.reshape(len(ims), -1).mean(1),
    ...                         grid=(2, 2), masking="color", color=0)
    >>> vf.n, vf.labels_for([0, 3])
    (4, ['r0c0', 'r1c1'])
    >>> vf(np.array([[1, 1, 1, 1], [1, 0, 0, 0], [0, 0, 0, 1]])).tolist()
    [75.0, 50.0, 25.0]
    """

    def __init__(
        self,
        image: Any,
        model: Any,
        *,
        segments: str | np.ndarray | Segmentation = "grid",
        grid: tuple[int, int] = (4, 4),
        n_segments: int = 16,
        masking: str = "auto",
        blur_radius: float | None = None,
        color: int | Sequence[int] | None = None,
        background: Any = None,
        batch_size: int | None = None,
        model_id: str | None = None,
    ) -> None:
        if not callable(model):
            raise TypeError(f"model must be a callable from a batch of images to scores, got {type(model).__name__}")
        check_choice(masking, "masking", ("auto", *MASKINGS))
        self.image = load_image(image)
        self.segmentation = segment_image(self.image, segments, grid_shape=grid, n_segments=n_segments)
        self.n = self.segmentation.n
        self.model = model
        given = {"blur_radius": blur_radius, "color": color, "background": background}
        fill_opts: dict[str, Any] = {k: v for k, v in given.items() if v is not None}
        if masking == "auto":
            # The model's own default (the digits model: black, i.e. no ink), else the paper's blur;
            # fill parameters the caller gave still win.
            default = dict(getattr(model, "default_masking", None) or {"masking": "blur"})
            masking = default.pop("masking")
            fill_opts = {**default, **fill_opts}
        self.masking = masking
        self.fill, self.fill_settings = make_fill(self.image, masking, **fill_opts)  # type: ignore[arg-type]
        own = getattr(model, "batch_size", None)
        if batch_size is None:
            batch_size = own if isinstance(own, int) and not isinstance(own, bool) and own > 0 else 16
        self.batch_size = check_positive_int(batch_size, "batch_size")
        prepare = getattr(model, "prepare", None)
        if callable(prepare):
            prepare(self.image)  # e.g. the predicted class or the generated answer, once
        self._model_id = model_id
        self.identity = identity_hash(self._settings())

    def _settings(self) -> dict[str, Any]:
        """Everything that determines an output; hashed into the identity."""
        return {
            "application": "images",
            "image": image_digest(self.image),
            "segmentation": {**self.segmentation.describe(), "labels_sha256": self.segmentation.digest()},
            "fill": {**self.fill_settings, "fill_sha256": image_digest(self.fill)},
            "model": model_identity(self.model, self._model_id),
        }

    def masked_images(self, X: Any) -> np.ndarray:
        """The ``(m, H, W, C)`` images the model sees for masks ``X``."""
        X = check_masks(X, self.n)
        return masked_images(self.image, self.fill, self.segmentation.labels, X)

    def __call__(self, X: Any) -> np.ndarray:
        X = check_masks(X, self.n)
        out = np.empty(len(X), dtype=float)
        # Build the masked images a model batch at a time: m full images at once could be gigabytes.
        for s in range(0, len(X), self.batch_size):
            imgs = masked_images(self.image, self.fill, self.segmentation.labels, X[s : s + self.batch_size])
            scores = np.asarray(self.model(imgs), dtype=float).reshape(-1)
            if scores.shape[0] != len(imgs):
                raise ValueError(f"model returned {scores.shape[0]} scores for {len(imgs)} images; it must return one per image")
            out[s : s + len(imgs)] = scores
        return out

    def labels_for(self, features: Iterable[int]) -> list[str]:
        """The segment names of the given feature indices."""
        names = self.segmentation.names
        out = []
        for i in features:
            i = int(i)
            if not 0 <= i < self.n:
                raise IndexError(f"feature index {i} is out of range for n={self.n} segments")
            out.append(names[i])
        return out

    def describe(self) -> dict[str, Any]:
        own = getattr(self.model, "describe", None)
        model = own() if callable(own) else {"model": model_identity(self.model, self._model_id)}
        H, W, C = self.image.shape
        return {"image": {"height": H, "width": W, "channels": C, "sha256": image_digest(self.image)},
                "segments": self.segmentation.describe(), **self.fill_settings, **model,
                "batch_size": self.batch_size, "identity": self.identity}

    def output_label(self) -> str:
        own = getattr(self.model, "output_label", None)
        return own() if callable(own) else "the model's score"

    def __repr__(self) -> str:
        H, W, _ = self.image.shape
        return f"ImageValueFunction({H}×{W} image, n={self.n} {self.segmentation.kind} segments, masking={self.masking!r})"
