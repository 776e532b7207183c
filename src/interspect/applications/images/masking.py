"""What a masked segment becomes: one *fill* image, used pixel for pixel where a segment is masked.

A masked image is ``where(segment of pixel is kept, image, fill)`` — nothing else changes, so an
unmasked segment keeps its exact bytes and a masked one takes exactly the fill's pixels. Fills:

- ``"blur"`` (the SPEX paper's choice): a Gaussian blur of the whole image with standard
  deviation ``blur_radius`` pixels (default ``max(H, W) / 8``: 28 px on a 224-px image, heavy
  enough that a 4×4 cell's content is gone), edges extended by the nearest pixel
  (``scipy.ndimage.gaussian_filter``, ``mode="nearest"``, truncated at 4 standard deviations);
- ``"mean"``: the image's mean colour (per channel, rounded) everywhere;
- ``"color"``: a constant colour (``color``: one gray value or an ``(r, g, b)`` triple);
- ``"background"``: a caller-given image of the same size (e.g. the scene without the object).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np

from interspect.core.validation import check_choice

__all__ = ["MaskingName", "MASKINGS", "default_blur_radius", "make_fill", "masked_images"]

MaskingName = Literal["blur", "mean", "color", "background"]
MASKINGS: tuple[str, ...] = ("blur", "mean", "color", "background")


def default_blur_radius(shape: tuple[int, ...]) -> float:
    """``max(H, W) / 8`` pixels.

    Examples
    --------
    >>> default_blur_radius((224, 224, 3))
    28.0
    """
    return max(int(shape[0]), int(shape[1])) / 8.0


def _color_array(color: Any, channels: int) -> np.ndarray:
    vals = np.atleast_1d(np.asarray(color))
    if vals.dtype == bool or not np.issubdtype(vals.dtype, np.number) or vals.ndim != 1:
        raise TypeError(f"color must be a gray value 0..255 or an (r, g, b) triple, got {color!r}")
    if vals.size == 1:
        vals = np.repeat(vals, channels)
    elif vals.size == 3 and channels == 1:
        # An RGB colour on a gray image: its luma (ITU-R 601), as Pillow converts.
        vals = np.array([0.299 * vals[0] + 0.587 * vals[1] + 0.114 * vals[2]])
    if vals.size != channels or np.any(vals < 0) or np.any(vals > 255):
        raise ValueError(f"color must be a gray value 0..255 or an (r, g, b) triple of 0..255, got {color!r}")
    return np.rint(vals).astype(np.uint8)


def make_fill(
    image: np.ndarray,
    masking: MaskingName = "blur",
    *,
    blur_radius: float | None = None,
    color: int | Sequence[int] = 0,
    background: np.ndarray | None = None,
) -> tuple[np.ndarray, dict[str, Any]]:
    """The fill image (same shape and dtype as ``image``) and a JSON-able description of it.

    Examples
    --------
    >>> import numpy as np
    >>> img = np.array([[[0], [100]], [[200], [60]]], dtype=np.uint8)
    >>> make_fill(img, "mean")[0][:, :, 0].tolist()
    [[90, 90], [90, 90]]
    >>> make_fill(img, "color", color=7)[1]
    {'masking': 'color', 'color': [7]}
    >>> make_fill(img, "blur", blur_radius=0)
    Traceback (most recent call last):
    ...
    ValueError: blur_radius must be a positive number of pixels (the Gaussian's standard deviation), got 0
    """
    check_choice(masking, "masking", MASKINGS)
    H, W, C = image.shape
    if masking == "blur":
        from scipy.ndimage import gaussian_filter

        radius = default_blur_radius(image.shape) if blur_radius is None else blur_radius
        if isinstance(radius, bool) or not isinstance(radius, (int, float)) or not np.isfinite(radius) or radius <= 0:
            raise ValueError(
                f"blur_radius must be a positive number of pixels (the Gaussian's standard deviation), got {radius!r}"
            )
        blurred = gaussian_filter(image.astype(np.float64), sigma=(float(radius), float(radius), 0.0), mode="nearest")
        fill = np.clip(np.rint(blurred), 0, 255).astype(np.uint8)
        return fill, {"masking": "blur", "blur_radius": float(radius)}
    if masking == "mean":
        mean = np.rint(image.reshape(-1, C).mean(axis=0)).astype(np.uint8)
        return np.broadcast_to(mean, image.shape).copy(), {"masking": "mean", "color": mean.tolist()}
    if masking == "color":
        col = _color_array(color, C)
        return np.broadcast_to(col, image.shape).copy(), {"masking": "color", "color": col.tolist()}
    if background is None:
        raise ValueError("masking='background' needs background=<an image of the same size>")
    from interspect.applications.images.io import image_digest, load_image

    bg = load_image(background, name="background")
    if bg.shape[:2] != (H, W):
        raise ValueError(f"background is {bg.shape[0]}×{bg.shape[1]} pixels but the image is {H}×{W}; give one of the same size")
    if bg.shape[2] != C:
        bg = np.repeat(bg, 3, axis=2) if bg.shape[2] == 1 else np.rint(
            bg.astype(float) @ np.array([0.299, 0.587, 0.114]))[:, :, None].astype(np.uint8)
    return np.ascontiguousarray(bg), {"masking": "background", "background_sha256": image_digest(bg)}


def masked_images(image: np.ndarray, fill: np.ndarray, labels: np.ndarray, X: np.ndarray) -> np.ndarray:
    """``(m, H, W, C)`` images: row ``j`` keeps the pixels of the segments where ``X[j] == 1`` and
    takes ``fill``'s pixels everywhere else.

    Examples
    --------
    >>> import numpy as np
    >>> from interspect.applications.images.segment import grid
    >>> img = np.full((2, 2, 1), 9, np.uint8); fill = np.zeros_like(img)
    >>> masked_images(img, fill, grid(img.shape, 1, 2).labels, np.array([[1, 0]]))[0, :, :, 0].tolist()
    [[9, 0], [9, 0]]
    """
    keep = np.asarray(X, dtype=bool)[:, labels]  # (m, H, W): is this pixel's segment kept?
    return np.where(keep[..., None], image[None], fill[None])
