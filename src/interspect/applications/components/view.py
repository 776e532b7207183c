"""The report's input section for component explanations: a layer × head heatmap of first-order
values, and the top interactions within one layer and across layers."""

from __future__ import annotations

import html
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from interspect.interface.explanation import Explanation

__all__ = ["components_view", "split_interactions"]


def split_interactions(expl: Explanation, k: int = 8) -> tuple[list, list]:
    """The top-``k`` interactions (order >= 2) whose components share one layer, and those that
    span layers, from ``metadata["grid"]``."""
    grid = expl.metadata.get("grid") or []
    if len(grid) != expl.n:
        return [], []
    within, across = [], []
    for it in expl.top(max(4 * k, 40), min_order=2):
        layers = {grid[i][0] for i in it.features}
        (within if len(layers) == 1 else across).append(it)
    return within[:k], across[:k]


def _rows(items: list) -> str:
    if not items:
        return '<tr><td colspan="3">none found</td></tr>'
    return "".join(
        f'<tr class="inter" data-features="{",".join(map(str, it.features))}"><td>'
        f"{' × '.join(html.escape(lab) for lab in it.labels)}</td><td>{it.order}</td><td>{it.value:.4g}</td></tr>"
        for it in items
    )


def components_view(expl: Explanation) -> str:
    """HTML: the heatmap (cells are ``class="seg" data-i=<feature>``, so hovering an interaction
    highlights its components) and the within-layer / across-layer tables."""
    from interspect.interface.report import _rgba

    meta = expl.metadata
    grid = meta.get("grid") or []
    if len(grid) != expl.n:
        return "<h2>Components</h2><p>(no layer/head layout recorded)</p>"
    n_heads = int(meta.get("n_heads") or (max(h for _, h in grid) + 1))
    first = expl.first_order()
    scale = max([abs(v) for v in first] + [1e-12])
    where = {(int(l), int(h)): i for i, (l, h) in enumerate(grid)}
    layers = sorted({int(l) for l, _ in grid})
    has_mlp = any(h < 0 for _, h in grid)
    cols = list(range(n_heads)) + ([-1] if has_mlp else [])
    head = "".join(f"<th>{'MLP' if h < 0 else f'H{h}'}</th>" for h in cols)
    body = []
    for l in layers:
        cells = []
        for h in cols:
            i = where.get((l, h))
            if i is None:
                cells.append('<td class="off" title="not explained (always active)"></td>')
                continue
            title = f"{expl.features[i]} — first-order {expl.index}: {first[i]:.4g}"
            cells.append(
                f'<td class="seg cell" data-i="{i}" style="background:{_rgba(first[i], scale)}" '
                f'title="{html.escape(title)}">{first[i]:.2g}</td>'
            )
        body.append(f"<tr><th>L{l}</th>{''.join(cells)}</tr>")
    within, across = split_interactions(expl)
    acc = meta.get("unablated_accuracy")
    facts = [
        f"task <b>{html.escape(str(meta.get('task')))}</b> ({meta.get('n_items')} items)",
        f"ablation <b>{html.escape(str(meta.get('ablation')))}</b>",
        f"score <b>{html.escape(str(meta.get('score')))}</b>",
    ]
    if acc is not None:
        facts.append(f"unablated accuracy <b>{100 * float(acc):.1f}%</b>")
    hidden = "" if len(layers) == meta.get("n_layers", len(layers)) else " Layers not shown are always active."
    return f"""<h2>Components</h2>
<style>.heat td,.heat th{{padding:1px 4px;font-size:.75em;text-align:center;border:1px solid #f0f0f0}}
.heat td.cell{{min-width:34px}} .heat td.off{{background:#eee}} .pair td{{font-size:.9em}}</style>
<p>{' · '.join(facts)}. Cells: first-order {html.escape(expl.index)} value of each component
(<span style="background:{_rgba(1, 1)}">the score needs it</span>
<span style="background:{_rgba(-1, 1)}">the score is better without it</span>).{hidden}
Hover or click an interaction to outline its components.</p>
<table class="heat" id="heatmap"><thead><tr><th></th>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>
<h2>Top interactions within a layer</h2>
<table class="pair" id="within"><thead><tr><th>components</th><th>order</th><th>value</th></tr></thead><tbody>{_rows(within)}</tbody></table>
<h2>Top interactions across layers</h2>
<table class="pair" id="across"><thead><tr><th>components</th><th>order</th><th>value</th></tr></thead><tbody>{_rows(across)}</tbody></table>"""
