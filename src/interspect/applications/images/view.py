"""The images application's report: the image with its segments outlined, shaded by first-order
value, the members of an interaction highlighted together (HTML, on hover), and a PNG of the same.

Everything a view needs travels in ``Explanation.metadata["_image_view"]`` (JSON-able, so a
report can be redrawn from ``explanation.json``): the image as a PNG, shrunk to at most
:data:`DISPLAY_MAX` pixels a side, and the label map at that size (nearest-neighbour, zlib-packed
uint16). A segment smaller than a display pixel may then not show, but stays in the tables.
"""

from __future__ import annotations

import base64
import html
import io
import zlib
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from interspect.applications.images.io import decode_png, png_base64
from interspect.applications.images.segment import Segmentation

if TYPE_CHECKING:
    from interspect.interface.explanation import Explanation

__all__ = ["DISPLAY_MAX", "view_metadata", "display_labels", "segment_paths", "image_view", "render_png"]

#: Longest side of the image kept for reports (pixels).
DISPLAY_MAX = 512

_POS = (214, 39, 40)  # red: raises the output (as the text report)
_NEG = (31, 119, 180)  # blue: lowers it
_HL = (255, 212, 0)  # the highlight of an interaction's members


def view_metadata(image: np.ndarray, seg: Segmentation) -> dict[str, Any]:
    """The JSON-able picture of ``image`` and its segments that the views draw from.

    Examples
    --------
    >>> import numpy as np
    >>> from interspect.applications.images.segment import grid
    >>> img = np.zeros((8, 8, 1), np.uint8)
    >>> v = view_metadata(img, grid(img.shape, 2, 2))
    >>> v["width"], v["height"], v["display_width"], display_labels(v)[0].tolist()
    (8, 8, 8, [0, 0, 0, 0, 1, 1, 1, 1])
    """
    H, W = image.shape[:2]
    scale = min(1.0, DISPLAY_MAX / max(H, W))
    dw, dh = max(1, round(W * scale)), max(1, round(H * scale))
    disp = image
    if (dh, dw) != (H, W):
        from PIL import Image

        arr = image[:, :, 0] if image.shape[2] == 1 else image
        disp = np.asarray(Image.fromarray(arr).resize((dw, dh), Image.Resampling.LANCZOS))
        disp = disp[:, :, None] if disp.ndim == 2 else disp
    # Nearest-neighbour label map at the display size: sample each display pixel's centre.
    ys = np.minimum(((np.arange(dh) + 0.5) * H / dh).astype(int), H - 1)
    xs = np.minimum(((np.arange(dw) + 0.5) * W / dw).astype(int), W - 1)
    small = seg.labels[np.ix_(ys, xs)].astype("<u2")
    return {
        "width": int(W), "height": int(H), "display_width": int(dw), "display_height": int(dh),
        "png": png_base64(disp), "n": seg.n,
        "labels": base64.b64encode(zlib.compress(small.tobytes(), 9)).decode("ascii"),
    }


def display_labels(view: dict[str, Any]) -> np.ndarray:
    """The ``(display_height, display_width)`` label map stored by :func:`view_metadata`."""
    raw = zlib.decompress(base64.b64decode(view["labels"]))
    return np.frombuffer(raw, dtype="<u2").reshape(view["display_height"], view["display_width"]).astype(np.int64)


def _runs(keys: np.ndarray) -> list[tuple[int, int, int]]:
    """``(start, end, key)`` of the runs of equal keys in a 1-d array, keys < 0 skipped."""
    if keys.size == 0:
        return []
    cut = np.flatnonzero(np.diff(keys)) + 1
    starts = np.concatenate(([0], cut))
    ends = np.concatenate((cut, [keys.size]))
    return [(int(s), int(e), int(keys[s])) for s, e in zip(starts, ends) if keys[s] >= 0]


def segment_paths(labels: np.ndarray, n: int) -> list[tuple[str, str]]:
    """Per segment, an SVG path of its area (rectangles: equal runs of rows merged) and one of its
    outline (the pixel edges it shares with another segment or the border).

    Examples
    --------
    >>> import numpy as np
    >>> segment_paths(np.array([[0, 1], [0, 1]]), 2)[0]
    ('M0 0h1v2h-1z', 'M0 0h1M0 2h1M0 0v2M1 0v2')
    """
    h, w = labels.shape
    rects: list[list[str]] = [[] for _ in range(n)]
    open_: dict[tuple[int, int, int], int] = {}  # (x0, x1, label) -> first row
    for y in range(h + 1):
        row = set(_runs(labels[y])) if y < h else set()
        for key in [k for k in open_ if k not in row]:
            y0 = open_.pop(key)
            x0, x1, lab = key
            rects[lab].append(f"M{x0} {y0}h{x1 - x0}v{y - y0}h-{x1 - x0}z")
        for key in row:
            open_.setdefault(key, y)
    edges: list[list[str]] = [[] for _ in range(n)]
    pad = np.full((h + 2, w + 2), -1, dtype=np.int64)
    pad[1:-1, 1:-1] = labels
    for y in range(h + 1):  # horizontal edges between display rows y-1 and y
        a, b = pad[y, 1:-1], pad[y + 1, 1:-1]
        diff = a != b
        for side in (a, b):
            for x0, x1, lab in _runs(np.where(diff, side, -1)):
                edges[lab].append(f"M{x0} {y}h{x1 - x0}")
    for x in range(w + 1):  # vertical edges between display columns x-1 and x
        a, b = pad[1:-1, x], pad[1:-1, x + 1]
        diff = a != b
        for side in (a, b):
            for y0, y1, lab in _runs(np.where(diff, side, -1)):
                edges[lab].append(f"M{x} {y0}v{y1 - y0}")
    return [("".join(r), "".join(e)) for r, e in zip(rects, edges)]


def _rgba(value: float, scale: float, alpha_max: float = 0.6) -> str:
    if scale <= 0 or value == 0:
        return "rgba(0,0,0,0)"
    r, g, b = _POS if value > 0 else _NEG
    return f"rgba({r},{g},{b},{min(1.0, abs(value) / scale) * alpha_max:.3f})"


_CSS = """
.imgbox{display:inline-block;border:1px solid #e3e3e3;border-radius:6px;padding:6px;background:#fafafa}
.imgbox svg{display:block;max-width:100%;height:auto}
.imgbox image{image-rendering:pixelated}
g.seg,g.seg.hl{cursor:default;outline:none}
g.seg .edge{fill:none;stroke:rgba(255,255,255,.85);stroke-width:1;vector-effect:non-scaling-stroke}
g.seg.hl .edge{stroke:#ffd400;stroke-width:4}
g.seg.hl .area{filter:brightness(1.2)}
"""


def image_view(expl: Explanation) -> str:
    """The report's "Input" section for an image explanation (``VIEWS["images"]``): the image,
    each segment a ``<g class="seg" data-i=...>`` with its first-order shading and outline."""
    view = expl.metadata.get("_image_view")
    if not view:
        from interspect.interface.report import _text_view

        return _text_view(expl)
    first = expl.first_order()
    scale = max([abs(v) for v in first] + [1e-12])
    dw, dh = view["display_width"], view["display_height"]
    width = max(320, min(640, dw)) if max(dw, dh) < 320 else min(640, dw)
    groups = []
    for i, (area, edge) in enumerate(segment_paths(display_labels(view), expl.n)):
        title = f"{expl.features[i]} — first-order {expl.index}: {first[i]:.4g}"
        groups.append(
            f'<g class="seg" data-i="{i}"><title>{html.escape(title)}</title>'
            f'<path class="area" d="{area}" fill="{_rgba(first[i], scale)}"/>'
            f'<path class="edge" d="{edge}"/></g>'
        )
    seg = expl.metadata.get("segments") or {}
    mask = expl.metadata.get("masking") or {}
    legend = (
        f'<p class="legend">{view["width"]}×{view["height"]} image, {expl.n} {html.escape(str(seg.get("kind", "")))} '
        f'segments, masked by {html.escape(str(mask.get("masking", "")))}. Shading: first-order '
        f'{html.escape(expl.index)} value — <span style="background:{_rgba(1, 1)}">raises the output</span>'
        f'<span style="background:{_rgba(-1, 1)}">lowers it</span>. Hover or click an interaction below to '
        "outline its segments together.</p>"
    )
    svg = (
        f'<svg id="image-svg" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {dw} {dh}" width="{width}" '
        f'preserveAspectRatio="xMidYMid meet" role="img" aria-label="image segments">'
        f'<image href="data:image/png;base64,{view["png"]}" x="0" y="0" width="{dw}" height="{dh}"/>'
        + "".join(groups) + "</svg>"
    )
    return f'<style>{_CSS}</style>\n<h2>Input</h2>\n{legend}\n<div class="imgbox" id="image">{svg}</div>'


def _font(size: int) -> Any:
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1 has one bitmap size
        return ImageFont.load_default()


def _panel(base: np.ndarray, labels: np.ndarray, colours: np.ndarray, members: tuple[int, ...]) -> np.ndarray:
    """One panel: the image with the shading, white outlines and the members' outlines in yellow."""
    out = base.astype(np.float64)
    a = colours[labels, 3:4]
    out = out * (1 - a) + colours[labels, :3] * a
    edge = np.zeros(labels.shape, dtype=bool)
    edge[:, 1:] |= labels[:, 1:] != labels[:, :-1]
    edge[1:, :] |= labels[1:, :] != labels[:-1, :]
    out[edge] = 255.0
    if members:
        from scipy.ndimage import binary_erosion

        inside = np.isin(labels, members)
        width = max(2, min(labels.shape) // 96)
        thick = inside & ~binary_erosion(inside, iterations=width, border_value=0)
        out[~inside] *= 0.55  # dim what is not in the interaction
        out[thick] = _HL
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def render_png(expl: Explanation, path: str | PathLike[str] | None = None, *, k: int = 3, size: int = 256) -> bytes:
    """A PNG of the report's image view: the first-order shading, then the top ``k`` interactions
    (order >= 2; first-order terms when there are fewer), each with its segments outlined together.

    Returns the PNG bytes; also writes them to ``path`` when given.

    Examples
    --------
    >>> from interspect import explain_image
    >>> from interspect.applications.images.digits import digit_image
    >>> e = explain_image(digit_image(0)[0], grid=(2, 2), method="exact", n_test=0)
    >>> render_png(e)[:8] == b"\\x89PNG\\r\\n\\x1a\\n"
    True
    """
    from PIL import Image, ImageDraw

    view = expl.metadata.get("_image_view")
    if not view:
        raise ValueError("render_png needs an image explanation (metadata['_image_view'] is missing)")
    img = decode_png(view["png"])
    img = np.repeat(img, 3, axis=2) if img.shape[2] == 1 else img
    labels = display_labels(view)
    dh, dw = labels.shape
    f = max(1, int(np.ceil(size / max(dh, dw))))  # integer upscaling keeps small images sharp
    big = np.repeat(np.repeat(img, f, axis=0), f, axis=1)
    lab = np.repeat(np.repeat(labels, f, axis=0), f, axis=1)
    first = expl.first_order()
    scale = max([abs(v) for v in first] + [1e-12])
    colours = np.zeros((expl.n, 4))
    for i, v in enumerate(first):
        colours[i, :3] = _POS if v > 0 else _NEG
        colours[i, 3] = min(1.0, abs(v) / scale) * 0.6
    panels = [(_panel(big, lab, colours, ()), f"first-order {expl.index}")]
    tops = expl.top(k, min_order=2) or expl.top(k)
    for it in tops:
        name = " & ".join(it.labels)  # the default bitmap font has no "×"
        panels.append((_panel(big, lab, colours, it.features), f"{name}: {it.value:+.3g}"))
    ph, pw = big.shape[:2]
    gap, cap, head = 12, 34, 30
    canvas = Image.new("RGB", (len(panels) * (pw + gap) + gap, ph + cap + head + gap), "white")
    draw = ImageDraw.Draw(canvas)
    out = str(expl.metadata.get("output") or "the model's output")
    draw.text((gap, 8), f"interspect: {out}  (unmasked {expl.full_output:.4g})", fill=(20, 20, 20), font=_font(14))
    for j, (arr, caption) in enumerate(panels):
        x = gap + j * (pw + gap)
        canvas.paste(Image.fromarray(arr), (x, head))
        draw.text((x, head + ph + 6), caption[:48], fill=(20, 20, 20), font=_font(12))
    buf = io.BytesIO()
    canvas.save(buf, format="PNG")
    data = buf.getvalue()
    if path is not None:
        Path(path).write_bytes(data)
    return data
