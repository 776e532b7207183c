"""Cut an image into the features an explanation is about: grid cells or caller-given segments.

A :class:`Segmentation` is a label map: every pixel carries the index (0..n-1) of the one
segment it belongs to, so masking a segment touches exactly its pixels. Three ways to get one:

- :func:`grid` — ``rows × cols`` cells (the SPEX vision-language setting uses 4×4); cell edges
  at ``floor(r·H/rows)``, so cells differ by at most one pixel in size and cover the image;
- :func:`from_labels` — any integer label map of the image's size (superpixels, objects);
- :func:`slic` — scikit-image's SLIC superpixels (the optional ``images`` extra).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from interspect.core.validation import check_positive_int

__all__ = ["Segmentation", "grid", "from_labels", "slic", "segment_image"]


@dataclass(frozen=True)
class Segmentation:
    """A partition of an ``H × W`` image into ``n`` segments.

    Attributes
    ----------
    labels : ndarray of int32, shape (H, W)
        Segment index of every pixel, ``0..n-1``; every index occurs.
    names : list of str
        One name per segment: ``"r{row}c{col}"`` (0-based, from the top left) for a grid,
        ``"seg{label}"`` (the caller's label value) otherwise.
    kind : {"grid", "labels", "slic"}
    params : dict
        How it was made (``rows``/``cols``, ``n_segments``, ...), JSON-able.
    y_edges, x_edges : list of int, optional
        A grid's row and column boundaries in pixels (``rows + 1`` and ``cols + 1`` values).

    Examples
    --------
    >>> s = grid((4, 6), 2, 3)
    >>> s.n, s.names[:4]
    (6, ['r0c0', 'r0c1', 'r0c2', 'r1c0'])
    >>> s.labels.tolist()
    [[0, 0, 1, 1, 2, 2], [0, 0, 1, 1, 2, 2], [3, 3, 4, 4, 5, 5], [3, 3, 4, 4, 5, 5]]
    """

    labels: np.ndarray
    names: list[str]
    kind: str
    params: dict[str, Any] = field(default_factory=dict)
    y_edges: list[int] | None = None
    x_edges: list[int] | None = None

    @property
    def n(self) -> int:
        return len(self.names)

    @property
    def shape(self) -> tuple[int, int]:
        return (int(self.labels.shape[0]), int(self.labels.shape[1]))

    def digest(self) -> str:
        """SHA-256 of the label map (part of the cache identity)."""
        h = hashlib.sha256(repr(self.shape).encode())
        h.update(np.ascontiguousarray(self.labels, dtype=np.int32).tobytes())
        return h.hexdigest()

    def pixel_counts(self) -> list[int]:
        """Pixels per segment."""
        return np.bincount(self.labels.reshape(-1), minlength=self.n).astype(int).tolist()

    def boxes(self) -> list[tuple[int, int, int, int]]:
        """Bounding box ``(top, left, bottom, right)`` (end-exclusive) of each segment."""
        out = []
        for i in range(self.n):
            ys, xs = np.nonzero(self.labels == i)
            out.append((int(ys.min()), int(xs.min()), int(ys.max()) + 1, int(xs.max()) + 1))
        return out

    def describe(self) -> dict[str, Any]:
        """JSON-able summary for reports and the cache identity."""
        return {"kind": self.kind, "n": self.n, "height": self.shape[0], "width": self.shape[1],
                **self.params}


def _check_shape(shape: Any) -> tuple[int, int]:
    if not (isinstance(shape, tuple) and len(shape) >= 2):
        raise TypeError(f"shape must be a tuple (H, W, ...), got {shape!r}")
    return check_positive_int(shape[0], "image height"), check_positive_int(shape[1], "image width")


def grid(shape: tuple[int, ...], rows: int, cols: int) -> Segmentation:
    """``rows × cols`` grid cells over an image of shape ``(H, W, ...)``.

    Raises a ValueError when the grid has more rows than the image has pixel rows (or more
    columns than pixel columns): every cell needs at least one pixel.

    Examples
    --------
    >>> grid((5, 5), 2, 2).pixel_counts()
    [4, 6, 6, 9]
    >>> grid((3, 8), 4, 4)
    Traceback (most recent call last):
    ...
    ValueError: grid=(4, 4) is larger than the image (3 rows × 8 columns of pixels): each cell needs at least one pixel; use at most 3 rows and 8 columns
    """
    H, W = _check_shape(tuple(shape))
    rows = check_positive_int(rows, "rows")
    cols = check_positive_int(cols, "cols")
    if rows > H or cols > W:
        raise ValueError(
            f"grid=({rows}, {cols}) is larger than the image ({H} rows × {W} columns of pixels): "
            f"each cell needs at least one pixel; use at most {H} rows and {W} columns"
        )
    if rows * cols < 2:
        raise ValueError("grid=(1, 1) is a single cell: there is nothing to attribute; use at least 2 cells")
    ys = [r * H // rows for r in range(rows + 1)]
    xs = [c * W // cols for c in range(cols + 1)]
    row_of = np.repeat(np.arange(rows), np.diff(ys))
    col_of = np.repeat(np.arange(cols), np.diff(xs))
    labels = (row_of[:, None] * cols + col_of[None, :]).astype(np.int32)
    names = [f"r{r}c{c}" for r in range(rows) for c in range(cols)]
    return Segmentation(labels, names, "grid", {"rows": rows, "cols": cols}, ys, xs)


def from_labels(label_map: Any, shape: tuple[int, ...] | None = None, *, kind: str = "labels",
                params: dict[str, Any] | None = None) -> Segmentation:
    """Segments from an integer label map (one label per pixel; any integer values).

    Segment ``i`` is the ``i``-th smallest label; its name is ``"seg{label}"``.

    Examples
    --------
    >>> import numpy as np
    >>> s = from_labels(np.array([[7, 7, 2], [7, 2, 2]]))
    >>> s.names, s.labels.tolist()
    (['seg2', 'seg7'], [[1, 1, 0], [1, 0, 0]])
    """
    arr = np.asarray(label_map)
    if arr.dtype == bool or not np.issubdtype(arr.dtype, np.integer):
        raise TypeError(f"segments must be an integer label map (one label per pixel), got dtype {arr.dtype}")
    if arr.ndim != 2:
        raise ValueError(f"segments must be a 2-d label map of shape (H, W), got shape {arr.shape}")
    if shape is not None:
        H, W = _check_shape(tuple(shape))
        if arr.shape != (H, W):
            raise ValueError(
                f"segments has shape {arr.shape} but the image is {H}×{W} pixels; give one label per pixel"
            )
    values, inverse = np.unique(arr, return_inverse=True)
    if len(values) < 2:
        raise ValueError("segments has a single label: there is nothing to attribute; give at least 2 segments")
    labels = inverse.reshape(arr.shape).astype(np.int32)
    names = [f"seg{int(v)}" for v in values]
    return Segmentation(labels, names, kind, dict(params or {}))


def slic(image: np.ndarray, n_segments: int = 16, *, compactness: float = 10.0) -> Segmentation:
    """SLIC superpixels (scikit-image; ``pip install 'interspect[images]'``). Deterministic.

    Examples
    --------
    >>> import numpy as np
    >>> img = np.zeros((16, 16, 3), dtype=np.uint8); img[:, 8:] = 255
    >>> slic(img, 2).n  # doctest: +SKIP
    2
    """
    n_segments = check_positive_int(n_segments, "n_segments", minimum=2)
    if not isinstance(compactness, (int, float)) or not compactness > 0:
        raise ValueError(f"compactness must be a positive number, got {compactness!r}")
    try:
        from skimage.segmentation import slic as _slic
    except ImportError as exc:
        raise ImportError(
            "segments='slic' needs scikit-image: pip install 'interspect[images]' "
            "(or pass a grid or your own label map)"
        ) from exc
    gray = image.shape[2] == 1
    labels = _slic(image[:, :, 0] if gray else image, n_segments=n_segments, compactness=float(compactness),
                   start_label=0, channel_axis=None if gray else -1)
    return from_labels(labels, image.shape, kind="slic",
                       params={"n_segments": n_segments, "compactness": float(compactness)})


def segment_image(image: np.ndarray, segments: Any = "grid", *, grid_shape: tuple[int, int] = (4, 4),
                  n_segments: int = 16) -> Segmentation:
    """The segmentation ``segments`` asks for: ``"grid"`` (``grid_shape`` = (rows, cols)),
    ``"slic"`` (``n_segments`` superpixels), a label map array, or a :class:`Segmentation`.

    Examples
    --------
    >>> import numpy as np
    >>> segment_image(np.zeros((8, 8, 1), np.uint8), grid_shape=(2, 4)).n
    8
    """
    if isinstance(segments, Segmentation):
        if segments.shape != tuple(image.shape[:2]):
            raise ValueError(f"segments covers {segments.shape} pixels but the image is {image.shape[:2]}")
        return segments
    if isinstance(segments, str):
        if segments == "grid":
            if not (isinstance(grid_shape, (tuple, list)) and len(grid_shape) == 2):
                raise TypeError(f"grid must be (rows, cols), got {grid_shape!r}")
            return grid(image.shape, grid_shape[0], grid_shape[1])
        if segments == "slic":
            return slic(image, n_segments)
        raise ValueError(f"segments={segments!r} is not supported; accepted values: 'grid', 'slic' or a label map array")
    return from_labels(segments, image.shape)
