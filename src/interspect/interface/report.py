"""Presenting an `Explanation`: a self-contained HTML report, a terminal table, matplotlib plots."""

from __future__ import annotations

import html
import itertools
import json
import math
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from interspect.interface.explanation import Explanation, Interaction

__all__ = ["render_html", "render_inline", "format_table", "format_r2", "network_layout", "plot_bar", "plot_network"]

_POS = (214, 39, 40)  # red: raises the output
_NEG = (31, 119, 180)  # blue: lowers it


def _rgba(value: float, scale: float, alpha_max: float = 0.75) -> str:
    if scale <= 0 or value == 0:
        return "transparent"
    r, g, b = _POS if value > 0 else _NEG
    return f"rgba({r},{g},{b},{min(1.0, abs(value) / scale) * alpha_max:.3f})"


def _hex(positive: bool) -> str:
    """Matplotlib colour of a positive (red) or negative (blue) value."""
    return "#%02x%02x%02x" % (_POS if positive else _NEG)


def _fmt(x: Any, digits: int = 4) -> str:
    if isinstance(x, float):
        return "n/a" if math.isnan(x) else f"{x:.{digits}g}"
    return "n/a" if x is None else str(x)


def format_r2(meta: dict[str, Any]) -> str:
    """The faithfulness R² of a run's metadata as shown to people: the number, the reason it has
    none (``faithfulness_note``, e.g. "undefined (constant output)"), or "not measured".

    Examples
    --------
    >>> format_r2({"faithfulness_r2": 0.91234}), format_r2({"faithfulness_r2": None})
    ('0.912', 'not measured')
    >>> format_r2({"faithfulness_r2": None, "faithfulness_note": "undefined (constant output)"})
    'undefined (constant output)'
    """
    r2 = meta.get("faithfulness_r2")
    if r2 is not None:
        return f"{float(r2):.3f}"
    return str(meta.get("faithfulness_note") or "not measured")


def _floored_card(meta: dict[str, Any]) -> tuple[str, str] | None:
    floors = meta.get("floored")
    if not isinstance(floors, dict):
        return None
    if not floors.get("scored"):
        return ("floored scores", "not measured")
    return ("floored scores", f"{100 * floors['share']:.1f}% ({floors['floored']} of {floors['scored']})")


def format_table(expl: Explanation, k: int = 10) -> str:
    """Plain-text table of the top ``k`` interactions (rank, order, value, labels)."""
    rows = expl.top(k)
    lines = [f"{'#':>3}  {'order':>5}  {expl.index + ' value':>12}  features"]
    for rank, it in enumerate(rows, 1):
        lines.append(
            f"{rank:>3}  {it.order:>5}  {it.value:>12.4g}  {' × '.join(repr(lab) for lab in it.labels)}"
        )
    if not rows:
        lines.append("  (no interactions: the surrogate is constant)")
    return "\n".join(lines)


def network_layout(expl: Explanation, k: int = 15) -> dict[str, Any]:
    """Nodes on a circle for the features in the top ``k`` interactions; edges for pairs and
    a hub per higher-order interaction. Shared by the SVG and the matplotlib network."""
    top = expl.top(k)
    feats = sorted({i for it in top for i in it.features})
    first = expl.first_order()
    m = max(len(feats), 1)
    pos = {
        f: (
            math.cos(2 * math.pi * j / m - math.pi / 2),
            math.sin(2 * math.pi * j / m - math.pi / 2),
        )
        for j, f in enumerate(feats)
    }
    edges, hubs = [], []
    for it in top:
        if it.order == 2:
            edges.append((pos[it.features[0]], pos[it.features[1]], it.value))
        elif it.order > 2:
            cx = sum(pos[i][0] for i in it.features) / it.order * 0.6
            cy = sum(pos[i][1] for i in it.features) / it.order * 0.6
            hubs.append(((cx, cy), it.value))
            edges.extend(((cx, cy), pos[i], it.value) for i in it.features)
    return {
        "nodes": [(f, pos[f], expl.features[f], first[f]) for f in feats],
        "edges": edges,
        "hubs": hubs,
        "scale": max([abs(it.value) for it in top] + [abs(first[f]) for f in feats] + [1e-12]),
    }


def _network_svg(expl: Explanation, k: int = 15, size: int = 460) -> str:
    lay = network_layout(expl, k)
    if not lay["nodes"]:
        return "<p>No interactions to draw.</p>"
    c, rad = size / 2, size / 2 - 70
    scale = lay["scale"]

    def xy(p: tuple[float, float]) -> tuple[float, float]:
        return c + rad * p[0], c + rad * p[1]

    parts = [
        f'<svg id="network-svg" xmlns="http://www.w3.org/2000/svg" width="{size}" height="{size}" viewBox="0 0 {size} {size}" role="img" aria-label="interaction network">'
    ]
    for a, b, v in lay["edges"]:
        (x1, y1), (x2, y2) = xy(a), xy(b)
        w = 1 + 7 * abs(v) / scale
        parts.append(
            f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" stroke="{_rgba(v, scale, 0.9)}" stroke-width="{w:.1f}"/>'
        )
    for p, v in lay["hubs"]:
        x, y = xy(p)
        parts.append(
            f'<rect x="{x - 5:.1f}" y="{y - 5:.1f}" width="10" height="10" fill="{_rgba(v, scale, 1.0)}" stroke="#333"/>'
        )
    for f, p, label, v in lay["nodes"]:
        x, y = xy(p)
        r = 7 + 14 * abs(v) / scale
        lab = html.escape(label if len(label) <= 24 else label[:22] + "…")
        parts.append(
            f'<g class="node" data-features="{f}"><circle cx="{x:.1f}" cy="{y:.1f}" r="{r:.1f}" fill="{_rgba(v, scale, 0.9)}" stroke="#333"/>'
            f'<text x="{x:.1f}" y="{y - r - 4:.1f}" text-anchor="middle" font-size="12">{lab}</text></g>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _force_section(expl: Explanation, k: int = 10, width: int = 940) -> str:
    """The output as one bar of its top ``k`` terms (SVG): red segments raise it, blue lower it.

    Hovering a segment highlights its features in the input, as the table rows do."""
    from interspect.interface.plots import decomposition

    d = decomposition(expl, k)
    rows = [(",".join(map(str, key)), " × ".join(expl.features[i] for i in key), v) for key, v in d.terms]
    if d.n_others:
        rows.append(("", f"{d.n_others} other terms", d.others))
    if abs(d.unattributed) > 1e-9 * max(1.0, abs(d.output)):
        rows.append(("", f"not attributed by {expl.index}", d.unattributed))
    if not rows:
        return ""
    pos = sorted([r for r in rows if r[2] > 0], key=lambda r: -r[2])
    neg = sorted([r for r in rows if r[2] < 0], key=lambda r: r[2])
    lo = min(d.output - sum(r[2] for r in pos), d.baseline)
    hi = max(d.output - sum(r[2] for r in neg), d.baseline)
    span = (hi - lo) or 1.0
    pad = 20

    def X(v: float) -> float:
        return pad + (v - lo) / span * (width - 2 * pad)

    parts = [
        f'<svg id="force-svg" xmlns="http://www.w3.org/2000/svg" width="{width}" height="96" '
        f'viewBox="0 0 {width} 96" role="img" aria-label="how the output adds up">'
    ]
    for group, sign in ((pos, 1), (neg, -1)):
        x = d.output
        for feats, label, v in group:
            a, b = sorted((X(x), X(x - v)))
            r, g, bl = _POS if sign > 0 else _NEG
            tip = html.escape(f"{label}: {v:+.4g}")
            parts.append(
                f'<rect class="fseg" data-features="{feats}" x="{a:.1f}" y="30" width="{max(b - a, 0.5):.1f}" '
                f'height="26" fill="rgb({r},{g},{bl})" stroke="#fff"><title>{tip}</title></rect>'
            )
            if b - a > 7.2 * min(len(label), 24) + 6:
                short = html.escape(label if len(label) <= 24 else label[:23] + "…")
                parts.append(
                    f'<text x="{(a + b) / 2:.1f}" y="47" text-anchor="middle" font-size="11" fill="#fff" '
                    f'pointer-events="none">{short}</text>'
                )
            x -= v
    for value, name, y in ((d.output, "output", 20), (d.baseline, "baseline", 80)):
        x = X(value)
        style = 'stroke-width="2"' if name == "output" else 'stroke-width="1" stroke-dasharray="3,3"'
        parts.append(
            f'<line x1="{x:.1f}" y1="24" x2="{x:.1f}" y2="62" stroke="#111" {style}/>'
            f'<text x="{x:.1f}" y="{y}" text-anchor="middle" font-size="12">{name} {_fmt(float(value))}</text>'
        )
    parts.append("</svg>")
    return (
        f"<h2>How the output adds up ({html.escape(expl.index)}, top {len(d.terms)} terms)</h2>\n"
        "<p>From the baseline to the output explained: red terms raise it, blue terms lower it "
        "(hover a segment to see it and highlight its features).</p>\n" + "".join(parts)
    )


_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:980px;margin:24px auto;padding:0 16px;color:#222}
h1{font-size:1.5em;margin-bottom:4px} h2{font-size:1.15em;margin-top:28px;border-bottom:1px solid #ddd}
.summary{display:flex;flex-wrap:wrap;gap:10px;margin:10px 0}
.card{background:#f5f5f7;border-radius:6px;padding:6px 12px}.card b{display:block;font-size:1.15em}
.text{line-height:2.0;font-size:1.05em;white-space:pre-wrap;border:1px solid #e3e3e3;border-radius:6px;padding:10px}
.seg{border-radius:3px;padding:1px 0;cursor:default}
.seg.hl{outline:3px solid #111;outline-offset:1px}
.question{margin-top:8px;color:#444}
table{border-collapse:collapse;width:100%}td,th{padding:4px 8px;border-bottom:1px solid #eee;text-align:left}
tr.inter{cursor:pointer}tr.inter:hover,tr.inter.sel{background:#fff4c2}
.bar{display:inline-block;height:10px;border-radius:2px;vertical-align:middle}
.legend span{padding:1px 6px;border-radius:3px;margin-right:8px}
code{background:#f1f1f1;padding:1px 4px;border-radius:3px}
.text.long{max-height:22em;overflow-y:auto}
.fseg{cursor:pointer}.fseg:hover{stroke:#111;stroke-width:2}
"""

_JS = """
(function(){
  // Scoped to its own report, so several reports inline in one notebook do not interfere.
  var me=document.currentScript, root=(me&&me.closest&&me.closest('.interspect-report'))||document;
  var segs=root.querySelectorAll('.seg'), box=root.querySelector('.text');
  function reveal(){
    // A long text scrolls in its box: bring the first highlighted segment into view.
    var s=root.querySelector('.seg.hl');
    if(!s||!box||box.scrollHeight<=box.clientHeight){return;}
    var r=s.getBoundingClientRect(), b=box.getBoundingClientRect();
    if(r.top<b.top||r.bottom>b.bottom){box.scrollTop+=r.top-b.top-b.height/3;}
  }
  function mark(ids){segs.forEach(function(s){s.classList.toggle('hl',ids.indexOf(+s.dataset.i)>=0);});reveal();}
  var selected=null;
  root.querySelectorAll('.fseg').forEach(function(el){
    var ids=el.dataset.features?el.dataset.features.split(',').map(Number):[];
    el.addEventListener('mouseenter',function(){mark(ids);});
    el.addEventListener('mouseleave',function(){mark(selected||[]);});
  });
  root.querySelectorAll('tr.inter').forEach(function(row){
    var ids=row.dataset.features.split(',').map(Number);
    row.addEventListener('mouseenter',function(){mark(ids);});
    row.addEventListener('mouseleave',function(){mark(selected||[]);});
    row.addEventListener('click',function(){
      root.querySelectorAll('tr.inter').forEach(function(r){r.classList.remove('sel');});
      if(selected&&selected.join()===ids.join()){selected=null;}else{selected=ids;row.classList.add('sel');}
      mark(selected||[]);
    });
  });
  var first=root.querySelector('tr.inter');
  if(first){first.click();}
})();
"""


def _text_html(expl: Explanation) -> str:
    first = expl.first_order()
    scale = max([abs(v) for v in first] + [1e-12])

    def seg(i: int, content: str) -> str:
        title = f"{expl.features[i]} — first-order {expl.index}: {first[i]:.4g}"
        return f'<span class="seg" data-i="{i}" style="background:{_rgba(first[i], scale)}" title="{html.escape(title)}">{html.escape(content)}</span>'

    if expl.text is not None and expl.spans is not None:
        out, pos = [], 0
        for i, (a, b) in sorted(enumerate(expl.spans), key=lambda t: t[1][0]):
            out.append(html.escape(expl.text[pos:a]))
            out.append(seg(i, expl.text[a:b]))
            pos = b
        out.append(html.escape(expl.text[pos:]))
        return "".join(out)
    return " ".join(seg(i, f) for i, f in enumerate(expl.features))


#: Texts with more features than this scroll in a box of their own in the report.
_LONG_TEXT = 150


def _text_view(expl: Explanation) -> str:
    """The "Input" section of a text explanation: the text shaded by first-order value."""
    legend = (
        f'<p class="legend">Shading: first-order {html.escape(expl.index)} value —'
        f'<span style="background:{_rgba(1, 1)}">raises the output</span>'
        f'<span style="background:{_rgba(-1, 1)}">lowers it</span>.'
        " Hover or click an interaction below to highlight its features together.</p>"
    )
    long = " long" if expl.n > _LONG_TEXT else ""
    return f'<h2>Input</h2>\n{legend}\n<div class="text{long}" id="text">{_text_html(expl)}</div>'


#: The report's input section per application (``metadata["application"]``, default ``"text"``):
#: ``"module:function"``, a function of the Explanation returning HTML. Feature elements that carry
#: ``class="seg" data-i="<feature index>"`` are highlighted by the report's interaction hover.
#: An application adds one entry here and its view function in its own folder.
VIEWS: dict[str, str] = {
    "text": "interspect.interface.report:_text_view",
    "images": "interspect.applications.images.view:image_view",
    "training_data": "interspect.applications.training_data.view:training_data_view",
    "components": "interspect.applications.components.view:components_view",
}


def input_view(expl: Explanation) -> str:
    """HTML of the report's input section for ``expl``'s application."""
    name = str(expl.metadata.get("application") or "text")
    target = VIEWS.get(name, VIEWS["text"])
    module, func = target.split(":")
    from importlib import import_module

    return getattr(import_module(module), func)(expl)


def _interaction_rows(rows: list[Interaction]) -> str:
    scale = max([abs(it.value) for it in rows] + [1e-12])
    out = []
    for rank, it in enumerate(rows, 1):
        width = 80 * abs(it.value) / scale
        labels = " × ".join(f"<b>{html.escape(lab)}</b>" for lab in it.labels)
        out.append(
            f'<tr class="inter" data-features="{",".join(map(str, it.features))}"><td>{rank}</td><td>{labels}</td>'
            f"<td>{it.order}</td><td>{it.value:.4g}</td>"
            f'<td><span class="bar" style="width:{width:.0f}px;background:{_rgba(it.value, scale, 1.0)}"></span></td></tr>'
        )
    return "".join(out)


def render_html(expl: Explanation, *, k: int = 15) -> str:
    """The whole report as one HTML string: no external resources, no network access."""
    meta = expl.metadata
    cards = [
        ("faithfulness R²", format_r2(meta)),
        *([("estimated R² (cross-validated)", _fmt(meta["r2_estimate"], 3))] if meta.get("r2_estimate") is not None else []),
        ("model", meta.get("model")),
        ("method", meta.get("method")),
        ("features", expl.n),
        ("model queries", meta.get("n_queries", expl.spectrum.n_queries)),
        ("unmasked output", _fmt(float(expl.full_output))),
        ("seconds", _fmt(meta.get("seconds"), 3)),
    ]
    floored = _floored_card(meta)
    if floored is not None:
        cards.insert(1, floored)
    cards_html = "".join(
        f'<div class="card">{html.escape(str(a))}<b>{html.escape(str(b))}</b></div>'
        for a, b in cards
    )
    question = meta.get("question")
    target = meta.get("target")
    # Keys starting with "_" hold data for an application's view (e.g. an image), not settings.
    settings = {k2: v for k2, v in meta.items() if k2 not in ("question",) and not k2.startswith("_")}
    settings.update({"index": expl.index, "order": expl.order})
    settings_rows = "".join(
        f"<tr><th>{html.escape(str(k2))}</th><td><code>{html.escape(json.dumps(v) if not isinstance(v, str) else v)}</code></td></tr>"
        for k2, v in sorted(settings.items())
    )
    extra = ""
    if question:
        extra += f'<div class="question"><b>Question (kept fixed):</b> {html.escape(str(question))}</div>'
    if meta.get("output"):
        extra += f'<div class="question"><b>Output explained:</b> {html.escape(str(meta["output"]))}</div>'
    elif target:
        extra += f'<div class="question"><b>Scored answer:</b> {html.escape(str(target))}</div>'
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>interspect report</title><style>{_CSS}</style></head>
<body>
<h1>interspect explanation</h1>
<div class="summary">{cards_html}</div>
{input_view(expl)}{extra}
{_force_section(expl)}
<h2>Top interactions ({html.escape(expl.index)}, order ≤ {expl.order})</h2>
<table id="interactions"><thead><tr><th>#</th><th>features</th><th>order</th><th>value</th><th></th></tr></thead>
<tbody>{_interaction_rows(expl.top(k))}</tbody></table>
<h2>Interaction network</h2>
<p>Circles: features (size and colour: first-order value); lines: pairwise interactions; squares: hubs of
higher-order interactions, joined to their members.</p>
{_network_svg(expl, k)}
<h2>Run settings</h2>
<table id="settings">{settings_rows}</table>
<p style="color:#888;font-size:.85em">Generated by interspect. Faithfulness R² is measured on fresh random masks
not used for fitting.</p>
<script>{_JS}</script>
</body></html>
"""


_INLINE_IDS = itertools.count(1)


def _scope_css(css: str, scope: str) -> str:
    """Prefix every selector of ``css`` (flat rules only) with ``scope``; ``body`` becomes it."""
    out = []
    for rule in css.split("}"):
        if "{" not in rule:
            continue
        selectors, body = rule.split("{", 1)
        scoped = [scope if sel.strip() == "body" else f"{scope} {sel.strip()}" for sel in selectors.split(",")]
        out.append(",".join(scoped) + "{" + body + "}")
    return "".join(out)


def render_inline(expl: Explanation, *, k: int = 15) -> str:
    """The report's content as one ``<div>`` for a notebook cell: its styles and script apply to
    that ``<div>`` only, so several explanations can be shown on one page."""
    page = render_html(expl, k=k)
    body = page.split("<body>", 1)[1].rsplit("</body>", 1)[0]
    uid = f"interspect-report-{next(_INLINE_IDS)}"
    return (
        f'<div class="interspect-report" id="{uid}"><style>{_scope_css(_CSS, "#" + uid)}</style>'
        f"{body}</div>"
    )


def _pyplot() -> Any:
    try:
        import matplotlib

        matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("plots need matplotlib: pip install 'interspect[plot]'") from exc
    return plt


def plot_bar(expl: Explanation, k: int = 10, *, ax: Any = None) -> Any:
    plt = _pyplot()
    rows = expl.top(k)[::-1]
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 0.4 * max(len(rows), 1) + 1.2))
    labels = [" × ".join(it.labels) for it in rows]
    colors = [_hex(it.value > 0) for it in rows]
    ax.barh(range(len(rows)), [it.value for it in rows], color=colors)
    ax.set_yticks(range(len(rows)), labels)
    ax.axvline(0, color="#333", lw=0.8)
    ax.set_xlabel(f"{expl.index} value (order ≤ {expl.order})")
    ax.set_title("Top interactions")
    return ax


def plot_network(expl: Explanation, k: int = 15, *, ax: Any = None) -> Any:
    plt = _pyplot()
    lay = network_layout(expl, k)
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 6))
    scale = lay["scale"]
    for a, b, v in lay["edges"]:
        ax.plot(
            [a[0], b[0]],
            [a[1], b[1]],
            color=_hex(v > 0),
            lw=1 + 6 * abs(v) / scale,
            alpha=0.7,
            zorder=1,
        )
    for p, v in lay["hubs"]:
        ax.scatter(
            [p[0]],
            [p[1]],
            marker="s",
            s=60,
            color=_hex(v > 0),
            zorder=2,
        )
    for _, p, label, v in lay["nodes"]:
        ax.scatter(
            [p[0]],
            [p[1]],
            s=150 + 900 * abs(v) / scale,
            color=_hex(v >= 0),
            edgecolors="#333",
            zorder=3,
        )
        ax.annotate(
            label[:24], p, textcoords="offset points", xytext=(0, 14), ha="center", fontsize=9
        )
    ax.set_aspect("equal")
    ax.axis("off")
    ax.set_title("Interaction network")
    return ax
