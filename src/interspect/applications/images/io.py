"""Reading an image into the one form the images application works on: ``(H, W, C)`` uint8.

``C`` is 1 (grayscale) or 3 (RGB). Every other mode Pillow reads (palette, RGBA, CMYK, 16-bit
gray, ...) is converted to RGB or 8-bit gray once, here, so masking and hashing see exact bytes.
Pillow is needed only to read files and to encode the report's PNG; arrays need nothing.
"""

from __future__ import annotations

import base64
import hashlib
import io
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["load_image", "image_digest", "to_pil", "png_bytes", "png_base64", "decode_png"]

_PIL_HINT = "reading image files needs Pillow: pip install 'interspect[images]'"


def _pil() -> Any:
    try:
        from PIL import Image
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(_PIL_HINT) from exc
    return Image


def _from_pil(img: Any) -> np.ndarray:
    if img.mode in ("1", "L", "I;16", "I", "F", "LA"):
        gray = img.convert("L") if img.mode in ("1", "LA") else img
        if gray.mode != "L":
            # 16/32-bit and float gray: scale the full range to 0..255 once.
            arr = np.asarray(gray, dtype=float)
            lo, hi = float(arr.min()), float(arr.max())
            arr = np.zeros_like(arr) if hi <= lo else (arr - lo) / (hi - lo) * 255.0
            return np.rint(arr).astype(np.uint8)[:, :, None]
        return np.asarray(gray, dtype=np.uint8)[:, :, None].copy()
    return np.asarray(img.convert("RGB"), dtype=np.uint8).copy()


def load_image(source: Any, *, name: str = "image") -> np.ndarray:
    """The image as a C-contiguous ``(H, W, C)`` uint8 array, ``C`` in {1, 3}.

    Parameters
    ----------
    source : str, Path, bytes, PIL.Image or numpy array
        A file path, the bytes of an image file, a Pillow image, or a uint8 array of shape
        ``(H, W)``, ``(H, W, 1)``, ``(H, W, 3)`` or ``(H, W, 4)`` (alpha is dropped).
    name : str
        The parameter name used in error messages.

    Examples
    --------
    >>> import numpy as np
    >>> load_image(np.zeros((4, 6), dtype=np.uint8)).shape
    (4, 6, 1)
    >>> load_image(np.zeros((4, 6, 4), dtype=np.uint8)).shape
    (4, 6, 3)
    >>> load_image(np.zeros((4, 6), dtype=float))
    Traceback (most recent call last):
    ...
    TypeError: image must be a uint8 array (0..255), got dtype float64; convert with (x * 255).round().astype(np.uint8) if it is in [0, 1]
    """
    if isinstance(source, np.ndarray):
        arr = source
        if arr.dtype == bool:
            arr = arr.astype(np.uint8) * 255
        if arr.dtype != np.uint8:
            raise TypeError(
                f"{name} must be a uint8 array (0..255), got dtype {arr.dtype}; convert with "
                "(x * 255).round().astype(np.uint8) if it is in [0, 1]"
            )
        if arr.ndim == 2:
            arr = arr[:, :, None]
        if arr.ndim != 3 or arr.shape[2] not in (1, 3, 4):
            raise ValueError(
                f"{name} must have shape (H, W), (H, W, 1), (H, W, 3) or (H, W, 4), got {arr.shape}"
            )
        if arr.shape[0] < 1 or arr.shape[1] < 1:
            raise ValueError(f"{name} is empty (shape {arr.shape})")
        return np.ascontiguousarray(arr[:, :, :3])
    if isinstance(source, (str, PathLike)):
        path = Path(source).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"{name} {str(source)!r} is not a file")
        data = path.read_bytes()
        where = repr(str(source))
    elif isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        where = f"({len(data)} bytes)"
    elif type(source).__module__.startswith("PIL."):
        return _from_pil(source)
    else:
        raise TypeError(
            f"{name} must be a file path, image bytes, a PIL image or a uint8 array, "
            f"got {type(source).__name__}"
        )
    Image = _pil()
    try:
        with Image.open(io.BytesIO(data)) as img:
            img.load()
            return _from_pil(img)
    except (Image.UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ValueError(
            f"{name} {where} is not an image file Pillow can read ({reason}); give a PNG, JPEG, "
            "BMP, GIF, TIFF or WebP file"
        ) from None


def image_digest(image: np.ndarray) -> str:
    """SHA-256 of an image's shape and pixel bytes (what the cache identity covers).

    Examples
    --------
    >>> import numpy as np
    >>> a = np.zeros((2, 2, 1), dtype=np.uint8)
    >>> image_digest(a) == image_digest(a.copy()), image_digest(a) == image_digest(a.reshape(1, 4, 1))
    (True, False)
    """
    h = hashlib.sha256(repr(tuple(image.shape)).encode())
    h.update(np.ascontiguousarray(image).tobytes())
    return h.hexdigest()


def to_pil(image: np.ndarray) -> Any:
    """A Pillow RGB image of an ``(H, W, C)`` uint8 array (gray is repeated to 3 channels, the form
    image processors expect)."""
    Image = _pil()
    arr = image if image.shape[2] == 3 else np.repeat(image, 3, axis=2)
    return Image.fromarray(np.ascontiguousarray(arr))


def png_bytes(image: np.ndarray) -> bytes:
    """PNG file bytes of an ``(H, W, C)`` uint8 array (lossless)."""
    Image = _pil()
    arr = image[:, :, 0] if image.shape[2] == 1 else image
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(arr)).save(buf, format="PNG")
    return buf.getvalue()


def png_base64(image: np.ndarray) -> str:
    """:func:`png_bytes` as base64 text (for a ``data:`` URI in a self-contained report)."""
    return base64.b64encode(png_bytes(image)).decode("ascii")


def decode_png(text: str) -> np.ndarray:
    """Inverse of :func:`png_base64`.

    Examples
    --------
    >>> import numpy as np
    >>> a = np.arange(12, dtype=np.uint8).reshape(2, 2, 3)
    >>> bool((decode_png(png_base64(a)) == a).all())
    True
    """
    return load_image(base64.b64decode(text.encode("ascii")))
