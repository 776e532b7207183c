"""The report's input section for a training-data explanation: the test point and the training
data as cards — thumbnails (image data) or class make-up (tabular data) with each feature's value —
and the strongest interactions drawn with their members' thumbnails.

Cards carry ``class="seg" data-i="<feature>"``, so hovering an interaction in the report's table
outlines its groups. Images are inline PNGs made here (no external resources).
"""

from __future__ import annotations

import base64
import html
import struct
import zlib
from collections.abc import Sequence
from typing import Any

__all__ = ["training_data_view", "png_data_uri"]

#: Cards shown at most (the features with the largest first-order values, plus every feature of
#: the interactions drawn).
MAX_CARDS = 64
INTERACTIONS_DRAWN = 6


def png_data_uri(pixels: Sequence[int], shape: Sequence[int], *, invert: bool = True) -> str:
    """A ``data:image/png`` URI of a grey image (``pixels``: 0..255, row-major, ``shape`` = (h, w)).

    ``invert`` draws high values dark (ink on paper, as for the digits).

    Examples
    --------
    >>> png_data_uri([0, 255, 255, 0], (2, 2))[:22]
    'data:image/png;base64,'
    """
    h, w = int(shape[0]), int(shape[1])
    vals = [255 - int(v) if invert else int(v) for v in pixels]
    if len(vals) != h * w:
        raise ValueError(f"pixels has {len(vals)} values for an image of shape {h}x{w}")
    raw = b"".join(b"\x00" + bytes(vals[r * w : (r + 1) * w]) for r in range(h))

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    png = (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(raw, 9))
        + chunk(b"IEND", b"")
    )
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _rgba(v: float, scale: float) -> str:
    from interspect.interface.report import _rgba as rgba

    return rgba(v, scale)


def _img(pixels: Sequence[int], shape: Sequence[int], size: int, title: str = "") -> str:
    t = f' title="{html.escape(title)}"' if title else ""
    return f'<img class="td-img" src="{png_data_uri(pixels, shape)}" width="{size}" height="{size}" alt="{html.escape(title)}"{t}>'


def _class_bar(classes: dict[str, int]) -> str:
    total = max(sum(classes.values()), 1)
    parts = sorted(classes.items(), key=lambda kv: -kv[1])[:3]
    return " · ".join(f"{html.escape(k)} {100 * v / total:.0f}%" for k, v in parts)


_STYLE = """<style>
.td-test{display:flex;gap:14px;align-items:center;border:1px solid #e3e3e3;border-radius:6px;padding:10px}
.td-img{image-rendering:pixelated;border:1px solid #ccc;background:#fff;margin:1px}
.td-grid{display:flex;flex-wrap:wrap;gap:8px}
.td-card{display:inline-block;width:150px;border:3px solid #ddd;border-radius:6px;padding:4px;font-size:.8em;vertical-align:top}
.td-card.hl{outline:3px solid #111}
.td-val{font-weight:bold}
.td-inter{display:flex;flex-wrap:wrap;gap:10px;align-items:center;margin:6px 0}
.td-inter .td-group{border:1px solid #ddd;border-radius:4px;padding:2px}
.td-vals{column-count:3;column-gap:18px;font-size:.85em;margin-top:4px}
.td-note{margin-top:6px;color:#555;font-size:.85em}
.td-why{color:#555;font-size:.9em}
</style>"""


def training_data_view(expl: Any) -> str:
    """HTML of the "Input" section of a training-data explanation (see the module docstring)."""
    meta = expl.metadata.get("training_data") or {}
    groups: list[dict] = meta.get("groups") or [{"label": f, "size": 1, "classes": {}} for f in expl.features]
    shape = meta.get("image_shape")
    test = meta.get("test_point") or {}
    first = expl.first_order()
    scale = max([abs(v) for v in first] + [1e-12])
    parts = [_STYLE, "<h2>Test point</h2>"]
    desc = [f"label <b>{html.escape(str(test.get('label', '?')))}</b>"]
    if "predicted" in test:
        desc.append(f"the model trained on all the data predicts <b>{html.escape(str(test['predicted']))}</b>")
    if "margin" in test:
        desc.append(f"true-class margin {float(test['margin']):.3g}")
    if "index" in test:
        desc.append(f"test point #{test['index']} ({html.escape(str(test.get('how', '')))})")
    picture = _img(test["pixels"], shape, 96, "test point") if shape and "pixels" in test else ""
    values = ""
    if "values" in test:
        items = "".join(f"<div>{html.escape(k)} = <b>{v:.3g}</b></div>" for k, v in list(test["values"].items())[:60])
        note = html.escape(str(test.get("values_note", "inputs")))
        values = f'<div class="td-note">{note}:</div><div class="td-vals">{items}</div>'
    parts.append(f'<div class="td-test">{picture}<div>{"; ".join(desc)}.{values}</div></div>')

    tops = [it for it in expl.top(INTERACTIONS_DRAWN * 3) if it.order >= 2][:INTERACTIONS_DRAWN]
    chosen = sorted(range(expl.n), key=lambda i: -abs(first[i]))[:MAX_CARDS]
    chosen = sorted(set(chosen) | {i for it in tops for i in it.features}, key=lambda i: -abs(first[i]))
    parts.append("<h2>Training data</h2>")
    shown = "" if len(chosen) == expl.n else f" Showing the {len(chosen)} of {expl.n} features with the largest values."
    parts.append(
        f'<p class="legend">Each card is one feature (a group of training examples); its border shows the '
        f"first-order {html.escape(expl.index)} value, the effect of having the group in the training set: "
        f'<span style="background:{_rgba(1, 1)}">raises the output</span>'
        f'<span style="background:{_rgba(-1, 1)}">lowers it</span>.{shown} '
        "Hover or click an interaction in the table below to outline its groups.</p>"
    )
    cards = []
    for i in chosen:
        g = groups[i]
        thumbs = "".join(_img(t, shape, 32) for t in g.get("thumbnails", [])) if shape else ""
        cards.append(
            f'<div class="seg td-card" data-i="{i}" style="border-color:{_rgba(first[i], scale)}" '
            f'title="{html.escape(expl.features[i])}">{thumbs}<div>{html.escape(expl.features[i])}</div>'
            f'{"" if "class" in expl.features[i] else "<div>" + _class_bar(g.get("classes", {})) + "</div>"}'
            f'<div class="td-val">{html.escape(expl.index)} {first[i]:+.3g}</div></div>'
        )
    parts.append(f'<div class="td-grid">{"".join(cards)}</div>')
    if tops:
        parts.append("<h3>Strongest interactions among training groups</h3>")
        for it in tops:
            members = []
            for i in it.features:
                pic = _img(groups[i]["mean"], shape, 40, "mean image") if shape and "mean" in groups[i] else ""
                members.append(f'<span class="td-group">{pic} {html.escape(expl.features[i])}</span>')
            signs = {first[i] > 0 for i in it.features}
            word = "keeping them together " + ("adds more" if it.value > 0 else "adds less") + " than their separate effects"
            if signs == {True}:
                word += ": they work together" if it.value > 0 else ": substitutes, either one does the job"
            elif signs == {False} and it.value > 0:
                word += ": redundant, either one does the harm"
            parts.append(
                f'<div class="td-inter"><span class="td-val">{html.escape(expl.index)} {it.value:+.3g}</span> '
                f'{" × ".join(members)} <span class="td-why">{word}</span></div>'
            )
    return "\n".join(parts)
