"""Matplotlib plots of an :class:`~interspect.interface.explanation.Explanation`.

- :func:`plot_waterfall` — one output built up from the baseline through the top terms.
- :func:`plot_force` — the same sum as one bar: terms that raise the output push from the left,
  terms that lower it from the right.
- :func:`plot_text` — the input's words shaded by first-order value, interactions drawn as arcs.
- :func:`plot_upset` — higher-order interactions as columns: a bar for the value, dots for the
  members.
- :func:`plot_bar`, :func:`plot_network` — the top interactions as bars and as a network.

Every plot takes ``k``, the number of terms drawn; the rest are summed into one "others" entry
(waterfall, force) or left out, so a result with 1,000 features stays readable. Each returns the
Axes it drew on (:func:`plot_upset`: its Figure), so it can be placed in a larger figure.

Examples
--------
>>> from interspect import explain, games
>>> from interspect.interface import plots
>>> g = games.HierarchicalGame(8, n_top=2, min_degree=2, max_degree=3, seed=5)
>>> e = explain(g, 8, method="exact", index="k-SII", order=2, n_test=0)
>>> d = plots.decomposition(e, k=3)
>>> abs(d.total - d.output) < 1e-9  # k-SII is efficient: baseline + terms = the output
True
>>> ax = plots.plot_waterfall(e, k=3)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from interspect.core.validation import check_positive_int
from interspect.interface.report import _hex, _pyplot, plot_bar, plot_network

if TYPE_CHECKING:
    from interspect.interface.explanation import Explanation

__all__ = [
    "Decomposition",
    "decomposition",
    "plot_waterfall",
    "plot_force",
    "plot_text",
    "plot_upset",
    "plot_bar",
    "plot_network",
]

#: Indices whose ``()`` entry is the baseline the other values add up from.
_BASELINE_INDICES = ("Moebius", "k-SII", "STII", "FSII", "FBII")


def _num(x: float, scale: float) -> str:
    """``x`` to 4 significant digits, rounding-error residues (relative to ``scale``) shown as 0."""
    return "0" if abs(x) < 1e-12 * max(scale, 1e-300) else f"{x:.4g}"


def _short(label: str, width: int = 28) -> str:
    label = " ".join(label.split())
    return label if len(label) <= width else label[: width - 1] + "…"


def _term_label(expl: Explanation, key: tuple[int, ...], width: int = 28) -> str:
    return " × ".join(_short(expl.features[i], max(8, width // max(len(key), 1))) for i in key)


@dataclass(frozen=True)
class Decomposition:
    """The explained output as ``baseline + Σ terms (+ others) (+ unattributed)``.

    Attributes
    ----------
    baseline : float
        Where the sum starts: the index's empty-set value (Moebius, k-SII, STII, FSII, FBII: the
        surrogate on the empty input, FBII: its fitted intercept), the mean output for Fourier,
        else the surrogate on the empty input.
    terms : list of (tuple of int, float)
        The ``k`` largest contributions, largest first.
    others : float
        The sum of all remaining contributions; ``n_others`` how many there are.
    output : float
        The surrogate on the whole input (the output explained).
    total : float
        ``baseline + Σ terms + others``; equal to ``output`` for efficient indices (Moebius up to
        the full degree, SV, k-SII, STII, FSII). :attr:`unattributed` is the difference.
    """

    baseline: float
    terms: list[tuple[tuple[int, ...], float]]
    others: float
    n_others: int
    output: float
    total: float

    @property
    def unattributed(self) -> float:
        return self.output - self.total


def decomposition(expl: Explanation, k: int = 10) -> Decomposition:
    """How the explanation's index splits the output on the whole input (see :class:`Decomposition`).

    For ``Fourier`` each term contributes ``F(S)·(−1)^{|S|}`` (its sign on the all-ones mask).
    """
    k = check_positive_int(k, "k")
    spectrum = expl.spectrum
    n = spectrum.n
    ends = spectrum.predict(np.vstack([np.ones(n, dtype=np.uint8), np.zeros(n, dtype=np.uint8)]))
    output, empty = float(ends[0]), float(ends[1])
    values = expl.values
    if expl.index == "Fourier":
        contrib = {key: v * (-1.0) ** len(key) for key, v in values.items()}
        baseline = float(spectrum.fourier.get((), 0.0))
    else:
        contrib = dict(values)
        baseline = empty
        if expl.index in _BASELINE_INDICES:
            full = spectrum.interactions(expl.index, expl._order_arg())
            baseline = float(full.get((), 0.0))
    items = sorted(contrib.items(), key=lambda kv: (-abs(kv[1]), len(kv[0]), kv[0]))
    terms = [(key, float(v)) for key, v in items[:k]]
    rest = [v for _, v in items[k:]]
    others = float(np.sum(rest)) if rest else 0.0
    total = baseline + sum(v for _, v in terms) + others
    return Decomposition(baseline, terms, others, len(rest), output, total)


def _rows(expl: Explanation, d: Decomposition) -> list[tuple[str, float]]:
    rows = [(_term_label(expl, key), v) for key, v in d.terms]
    if d.n_others:
        rows.append((f"{d.n_others} other terms", d.others))
    if abs(d.unattributed) > 1e-9 * max(1.0, abs(d.output)):
        rows.append((f"not attributed by {expl.index}", d.unattributed))
    return rows


def plot_waterfall(expl: Explanation, k: int = 10, *, ax: Any = None) -> Any:
    """A waterfall of the output: from the baseline, one bar per top term, to the output.

    Bars run from the running sum before a term to the sum after it (red: the term raises the
    output, blue: lowers it); the largest term is at the top. The remaining terms form one
    "others" bar, and for an index whose values do not add up to the output (BV, BII, SII, or a
    degree-capped Moebius) a last bar shows what it leaves unattributed.
    """
    plt = _pyplot()
    d = decomposition(expl, k)
    rows = _rows(expl, d)
    if ax is None:
        _, ax = plt.subplots(figsize=(7.5, 0.42 * len(rows) + 1.6))
    running = d.baseline
    spans = []
    for _, v in rows:
        spans.append((running, v))
        running += v
    y = np.arange(len(rows))[::-1]
    scale = max([abs(v) for _, v in rows] + [abs(d.output - d.baseline), 1e-12])
    for yi, (_, v), (left, width) in zip(y, rows, spans):
        ax.barh(yi, width, left=left, color=_hex(v > 0), height=0.7)
        ax.text(left + width + (0.01 * scale if v >= 0 else -0.01 * scale), yi, f"{v:+.3g}",
                va="center", ha="left" if v >= 0 else "right", fontsize=8)
    for i in range(len(rows) - 1):  # connector: where one bar ends, the next starts
        x = spans[i][0] + spans[i][1]
        ax.plot([x, x], [y[i] - 0.35, y[i + 1] + 0.35], color="#777", lw=0.6)
    ax.set_yticks(y, [label for label, _ in rows])
    ax.axvline(d.baseline, color="#555", lw=0.8, ls=":")
    ax.axvline(d.output, color="#111", lw=0.9, ls="--")
    # Bars pin autoscaling at their bases: set the limits so the value labels fit.
    xs = [d.baseline, d.output] + [a for a, _ in spans] + [a + w for a, w in spans]
    lo, hi = min(xs), max(xs)
    pad = 0.18 * (hi - lo or 1.0)
    ax.set_xlim(lo - pad, hi + pad)
    ax.set_ylim(-0.8, len(rows) - 0.2)
    ax.set_xlabel(
        f"baseline {_num(d.baseline, scale)} (dotted) → output {_num(d.output, scale)} (dashed); "
        f"{expl.index} terms, order ≤ {expl.order}"
    )
    ax.set_title("How the output adds up")
    return ax


def plot_force(expl: Explanation, k: int = 10, *, ax: Any = None) -> Any:
    """A force-style bar: the output as one bar of the terms that push it up and down.

    Terms that raise the output are stacked in red up to it from the left, terms that lower it in
    blue from the right, largest next to the output; beyond ``k`` terms they are summed into one
    "others" segment per side. Labels are drawn on segments wide enough to hold them.
    """
    plt = _pyplot()
    d = decomposition(expl, k)
    rows = _rows(expl, d)
    if ax is None:
        _, ax = plt.subplots(figsize=(10, 2.4))
    pos = sorted([r for r in rows if r[1] > 0], key=lambda r: -r[1])
    neg = sorted([r for r in rows if r[1] < 0], key=lambda r: r[1])
    end = d.baseline + sum(v for _, v in rows)  # = the output
    span = sum(abs(v) for _, v in rows) or 1.0
    x = end
    for label, v in pos:  # from the output leftwards
        ax.barh(0, -v, left=x, color=_hex(True), edgecolor="white", height=0.5)
        if v / span > 0.06:
            ax.text(x - v / 2, -0.45, label, ha="center", va="top", fontsize=8, rotation=20)
        x -= v
    x = end
    for label, v in neg:  # from the output rightwards
        ax.barh(0, -v, left=x, color=_hex(False), edgecolor="white", height=0.5)
        if -v / span > 0.06:
            ax.text(x - v / 2, -0.45, label, ha="center", va="top", fontsize=8, rotation=20)
        x -= v
    ax.axvline(end, color="#111", lw=1.0)
    ax.text(end, 0.42, f"output {_num(d.output, span)}", ha="center", va="bottom", fontsize=9, weight="bold")
    ax.axvline(d.baseline, color="#555", lw=0.8, ls=":")
    ax.text(d.baseline, 0.62, f"baseline {_num(d.baseline, span)}", ha="center", fontsize=8, color="#555")
    ax.set_ylim(-1.4, 1.0)
    ax.set_yticks([])
    ax.set_xlabel(f"{expl.index} contributions (order ≤ {expl.order}); red raises the output, blue lowers it")
    for side in ("left", "right", "top"):
        ax.spines[side].set_visible(False)
    return ax


def _shown_words(expl: Explanation, features: set[int], max_words: int, context: int) -> list[int | None]:
    """Features to draw, in text order; ``None`` stands for an elided run."""
    order = list(range(expl.n))
    if expl.spans is not None:
        order.sort(key=lambda i: expl.spans[i][0])  # type: ignore[index]
    if expl.n <= max_words:
        return list(order)
    pos = {f: j for j, f in enumerate(order)}
    keep: set[int] = set()
    for f in features:
        j = pos[f]
        keep.update(range(max(0, j - context), min(len(order), j + context + 1)))
    out: list[int | None] = []
    for j, f in enumerate(order):
        if j in keep:
            out.append(f)
        elif not out or out[-1] is not None:
            out.append(None)  # one "…" per elided run
    return out


def _layout_words(expl: Explanation, words: list[int | None]) -> tuple[list[tuple[float, str, int | None]], float]:
    """Word positions in character units (monospace), and the line's width."""
    placed: list[tuple[float, str, int | None]] = []
    x = 0.0
    for f in words:
        text = "…" if f is None else _short(expl.features[f], 18)
        placed.append((x + len(text) / 2, text, f))
        x += len(text) + 1
    return placed, max(x, 1.0)


def plot_text(
    expl: Explanation, k: int = 10, *, max_words: int = 30, context: int = 2, ax: Any = None
) -> Any:
    """The input's words on one line, shaded by first-order value, with the top ``k``
    interactions of order >= 2 as arcs between their words.

    Arc width follows ``|value|``, colour its sign; an interaction of three or more words is a
    chain of arcs through its members. With more than ``max_words`` features only the words of
    the drawn interactions and up to ``context`` neighbours each side are shown (fewer, and then
    fewer interactions, until at most ``max_words`` words remain), the rest as "…".
    """
    plt = _pyplot()
    from matplotlib.colors import to_rgba

    check_positive_int(max_words, "max_words")
    check_positive_int(context, "context", minimum=0)
    inter = expl.top(k, min_order=2)
    first = expl.first_order()

    def shown(items: list[Any], ctx: int) -> list[int | None]:
        members = {i for it in items for i in it.features} or {it.features[0] for it in expl.top(k)}
        return _shown_words(expl, members, max_words, ctx)

    words = shown(inter, context)
    for ctx in range(context - 1, -1, -1):
        if sum(w is not None for w in words) <= max_words:
            break
        words = shown(inter, ctx)
    while len(inter) > 1 and sum(w is not None for w in words) > max_words:
        inter = inter[:-1]
        words = shown(inter, 0)
    placed, width = _layout_words(expl, words)
    xs = {f: x for x, _, f in placed if f is not None}
    if ax is None:
        # ~0.09 in per character (9-pt monospace is ~0.075 in wide): words keep their spacing.
        _, ax = plt.subplots(figsize=(max(5.0, 0.09 * width + 0.6), 3.0))
    scale = max([abs(v) for v in first] + [1e-12])
    for x0, text, f in placed:
        color: Any = "none"
        if f is not None and first[f] != 0:
            color = to_rgba(_hex(first[f] > 0), min(1.0, abs(first[f]) / scale) * 0.7)
        ax.text(x0, 0, text, family="monospace", fontsize=9, va="center", ha="center",
                bbox={"boxstyle": "round,pad=0.15", "fc": color, "ec": "none"})
    vmax = max([abs(it.value) for it in inter] + [1e-12])
    theta = np.linspace(0, np.pi, 40)
    for it in inter:
        pts = sorted(xs[i] for i in it.features if i in xs)
        for a, b in zip(pts[:-1], pts[1:]):
            h = 0.25 + 0.35 * np.log1p((b - a) / 6)
            ax.plot((a + b) / 2 - (b - a) / 2 * np.cos(theta), 0.35 + h * np.sin(theta),
                    color=_hex(it.value > 0), lw=0.8 + 3.5 * abs(it.value) / vmax, alpha=0.75)
    ax.set_xlim(-1, width)
    ax.set_ylim(-0.6, 2.2)
    ax.axis("off")
    ax.set_title(f"Text with its top {len(inter)} interactions ({expl.index}, order ≤ {expl.order})", fontsize=10)
    return ax


def plot_upset(expl: Explanation, k: int = 10, *, min_order: int = 1, fig: Any = None) -> Any:
    """An upset-style plot of the top ``k`` interactions (order >= ``min_order``).

    One column per interaction, largest first: a bar for its value on top, and below a dot
    matrix with one row per feature involved, the members' dots joined by a line. Returns the
    Figure (two Axes).
    """
    plt = _pyplot()
    top = expl.top(k, min_order=min_order)
    feats = sorted({i for it in top for i in it.features})
    if fig is None:
        fig = plt.figure(figsize=(max(4.0, 0.55 * len(top) + 2.5), 2.2 + 0.28 * max(len(feats), 1)))
    grid = fig.add_gridspec(2, 1, height_ratios=[1.4, max(0.6, 0.22 * len(feats))], hspace=0.05)
    ax_bar = fig.add_subplot(grid[0])
    ax_dot = fig.add_subplot(grid[1], sharex=ax_bar)
    cols = np.arange(len(top))
    ax_bar.bar(cols, [it.value for it in top], color=[_hex(it.value > 0) for it in top], width=0.6)
    ax_bar.axhline(0, color="#333", lw=0.8)
    ax_bar.set_ylabel(f"{expl.index} value")
    ax_bar.set_title(f"Top {len(top)} interactions (order ≤ {expl.order})")
    ax_bar.tick_params(axis="x", labelbottom=False)
    row = {f: j for j, f in enumerate(feats)}
    for c, it in zip(cols, top):
        ax_dot.scatter([c] * len(feats), range(len(feats)), color="#ddd", s=30, zorder=1)
        ys = sorted(row[i] for i in it.features)
        ax_dot.plot([c, c], [ys[0], ys[-1]], color="#222", lw=2, zorder=2)
        ax_dot.scatter([c] * len(ys), ys, color="#222", s=36, zorder=3)
    ax_dot.set_yticks(range(len(feats)), [_short(expl.features[f], 24) for f in feats])
    ax_dot.invert_yaxis()
    ax_dot.set_xticks(cols, [str(it.order) for it in top])
    ax_dot.set_xlabel("interaction order")
    for side in ("top", "right"):
        ax_dot.spines[side].set_visible(False)
        ax_bar.spines[side].set_visible(False)
    return fig
