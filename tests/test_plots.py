"""Plots: the numbers they draw against brute force, and every plot on small and 1,000-feature results."""

from __future__ import annotations

import numpy as np
import pytest

from interspect import explain, games
from interspect.engines.exact import all_masks
from interspect.interface import plots
from interspect.interface.explanation import Explanation

matplotlib = pytest.importorskip("matplotlib", reason="pip install 'interspect[plot]'")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

WORDS = "the plot never fails to bore me at all".split()


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def small(index: str = "k-SII", order: int = 2) -> tuple[Explanation, games.Game]:
    g = games.HierarchicalGame(len(WORDS), n_top=3, min_degree=2, max_degree=3, seed=5)
    e = explain(g, len(WORDS), features=WORDS, method="exact", index=index, order=order, n_test=0)
    e.text = " ".join(WORDS)
    starts = np.cumsum([0] + [len(w) + 1 for w in WORDS[:-1]])
    e.spans = [(int(a), int(a) + len(w)) for a, w in zip(starts, WORDS)]
    return e, g


def large() -> Explanation:
    g = games.SparseFourierGame(1000, n_terms=40, max_degree=3, seed=2)
    return Explanation([f"word{i}" for i in range(1000)], g.spectrum, index="FBII", order=2)


@pytest.mark.parametrize("index,order", [("k-SII", 2), ("STII", 3), ("FSII", 2), ("Moebius", 9), ("SV", 1), ("Fourier", 9)])
def test_efficient_decompositions_add_up_to_the_real_output(index, order):
    e, g = small(index, order)
    n = len(WORDS)
    f1, f0 = g(np.ones((1, n)))[0], g(np.zeros((1, n)))[0]
    d = plots.decomposition(e, k=3)
    assert len(d.terms) == 3 and d.n_others == len(e.values) - 3
    assert d.others == pytest.approx(sum(v for key, v in _contributions(e).items()) - sum(v for _, v in d.terms))
    assert d.output == pytest.approx(f1) and d.total == pytest.approx(f1) and d.unattributed == pytest.approx(0, abs=1e-9)
    if index != "Fourier":
        assert d.baseline == pytest.approx(f0)
    else:
        assert d.baseline == pytest.approx(g(all_masks(n)).mean())
    assert [abs(v) for _, v in d.terms] == sorted((abs(v) for _, v in d.terms), reverse=True)


def _contributions(e):
    return {k: v * (-1.0) ** len(k) if e.index == "Fourier" else v for k, v in e.values.items()}


def test_an_index_that_does_not_add_up_says_how_much_is_left():
    e, g = small("BII", 2)
    d = plots.decomposition(e, k=20)
    n = len(WORDS)
    assert d.baseline == pytest.approx(g(np.zeros((1, n)))[0]) and d.output == pytest.approx(g(np.ones((1, n)))[0])
    assert d.total == pytest.approx(d.baseline + sum(e.values.values()))
    assert abs(d.unattributed) > 1e-6
    ax = plots.plot_waterfall(e, k=5)
    assert "not attributed by BII" in [t.get_text() for t in ax.get_yticklabels()]


def test_waterfall_bars_run_from_the_baseline_to_the_output():
    e, _ = small()
    ax = plots.plot_waterfall(e, k=4)
    bars = ax.patches
    d = plots.decomposition(e, k=4)
    assert len(bars) == 5  # four terms and "others"
    assert bars[0].get_x() == pytest.approx(d.baseline)
    last = bars[-1]
    assert last.get_x() + last.get_width() == pytest.approx(d.output)
    for a, b in zip(bars[:-1], bars[1:]):  # each bar starts where the previous one ended
        assert b.get_x() == pytest.approx(a.get_x() + a.get_width())


def test_force_segments_cover_baseline_to_output():
    e, _ = small()
    d = plots.decomposition(e, k=4)
    ax = plots.plot_force(e, k=4)
    widths = [p.get_width() for p in ax.patches]
    assert len(widths) == 5
    assert -sum(widths) == pytest.approx(d.output - d.baseline)
    assert any("output" in t.get_text() for t in ax.texts)


def test_text_arcs_join_the_members_of_each_interaction():
    e, _ = small("k-SII", 3)
    ax = plots.plot_text(e, k=5)
    words = [t.get_text() for t in ax.texts]
    assert words == WORDS  # 9 words <= max_words: all shown, in text order
    top = e.top(5, min_order=2)
    assert len(ax.lines) == sum(it.order - 1 for it in top)


def test_upset_has_a_column_per_interaction_and_a_row_per_member():
    e, _ = small("k-SII", 3)
    fig = plots.plot_upset(e, k=6)
    bars, dots = fig.axes
    top = e.top(6)
    assert [p.get_height() for p in bars.patches] == pytest.approx([it.value for it in top])
    members = sorted({i for it in top for i in it.features})
    assert [t.get_text() for t in dots.get_yticklabels()] == [WORDS[i] for i in members]


def test_every_plot_stays_readable_with_a_thousand_features(tmp_path):
    e = large()
    for name in ("plot_waterfall", "plot_force", "plot_bar", "plot_network"):
        ax = getattr(e, name)(k=10)
        ax.figure.savefig(tmp_path / f"{name}.png")
        labels = [t.get_text() for t in ax.get_yticklabels()]
        assert len(labels) <= 12
    ax = e.plot_text(k=10, max_words=30)
    ax.figure.savefig(tmp_path / "text.png")
    shown = [t.get_text() for t in ax.texts if t.get_text() != "…"]
    assert 2 <= len(shown) <= 30 and all(w.startswith("word") for w in shown)
    assert ax.figure.get_size_inches()[0] < 30
    fig = e.plot_upset(k=10)
    fig.savefig(tmp_path / "upset.png")
    assert len(fig.axes[0].patches) == 10


def test_plot_arguments_are_checked():
    e, _ = small()
    with pytest.raises((TypeError, ValueError), match="k"):
        plots.plot_waterfall(e, k=0)
    with pytest.raises((TypeError, ValueError), match="max_words"):
        plots.plot_text(e, max_words=0)
