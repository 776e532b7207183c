"""explain(), Explanation round trips, the HTML report and the CLI's friendly failures (no LLM needed)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from interspect import exact, explain, games
from interspect.interface.cli import main
from interspect.interface.explain import choose_method
from interspect.interface.explanation import Explanation
from interspect.interface.report import format_table, render_html


@pytest.fixture(scope="module")
def expl():
    g = games.HierarchicalGame(8, n_top=2, min_degree=2, max_degree=3, seed=4)
    words = ["the", "plot", "never", "fails", "to", "bore", "me", "."]
    text = " ".join(words)
    spans, pos = [], 0
    for w in words:
        spans.append((pos, pos + len(w)))
        pos += len(w) + 1
    e = explain(
        g, 8, features=words, method="exact", index="FBII", order=2, metadata={"model": "synthetic"}
    )
    e.text, e.spans = text, spans
    return e, g


def test_explain_exact_matches_brute_force(expl):
    e, g = expl
    ref = exact(g, 8)
    assert e.spectrum.fourier.keys() == ref.fourier.keys()
    assert e.metadata["faithfulness_r2"] == pytest.approx(1.0)
    assert e.metadata["method"] == "exact"
    assert e.full_output == pytest.approx(g(np.ones((1, 8)))[0])
    fb = ref.interactions("FBII", 2)
    top = e.top(3)
    best = max((k for k in fb if k), key=lambda k: abs(fb[k]))
    assert top[0].features == best and top[0].value == pytest.approx(fb[best])
    assert top[0].labels == tuple(e.features[i] for i in best)


def test_explanation_json_round_trip(expl, tmp_path):
    e, _ = expl
    e.to_json(tmp_path / "e.json")
    back = Explanation.from_json(tmp_path / "e.json")
    assert back == e
    assert back.spectrum == e.spectrum and back.spans == e.spans and back.text == e.text
    data = json.loads((tmp_path / "e.json").read_text())
    for key in (
        "features",
        "model",
        "method",
        "budget",
        "n_queries",
        "n_model_calls",
        "faithfulness_r2",
        "index",
        "order",
        "interactions",
        "seconds",
    ):
        assert key in data
    values = [abs(i["value"]) for i in data["interactions"]]
    assert values == sorted(values, reverse=True)


def test_report_is_self_contained_and_names_top_interaction(expl):
    e, _ = expl
    html = render_html(e)
    assert (
        "http://" not in html.replace("http://www.w3.org/2000/svg", "") and "https://" not in html
    )
    assert "<svg" in html and "interactions" in html
    for label in e.top(1)[0].labels:
        assert label in html
    table = format_table(e, 3)
    assert table.count("\n") == 3


def test_plots(expl, tmp_path):
    e, _ = expl
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    ax = e.plot_bar(5)
    ax.figure.savefig(tmp_path / "bar.png")
    ax = e.plot_network(5)
    ax.figure.savefig(tmp_path / "net.png")
    assert (tmp_path / "bar.png").stat().st_size > 1000


def test_choose_method():
    assert choose_method(8, 1000)[0] == "exact"
    assert choose_method(20, 1000)[0] == "proxyspex"
    assert choose_method(8, 100)[0] == "proxyspex"


def test_explain_validates_up_front():
    g = games.DummyGame(4)
    with pytest.raises(ValueError, match="method='magic' is not supported"):
        explain(g, 4, method="magic")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="index='shap' is not supported"):
        explain(g, 4, index="shap")
    with pytest.raises(ValueError, match="budget must be an integer >= 1"):
        explain(g, 4, budget=0)
    with pytest.raises(ValueError, match="features has 2 labels"):
        explain(g, 4, features=["a", "b"])


def test_cli_friendly_failures(capsys):
    assert main(["explain", "--text", "   ", "--no-cache"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("interspect: error:") and "empty" in err and "Traceback" not in err
    assert main(["explain", "--text", "hi there", "--index", "nope", "--no-cache"]) == 2
    assert "index='nope' is not supported" in capsys.readouterr().err
    assert main(["explain", "--text", "hi there", "--budget", "-3", "--no-cache"]) == 2
    assert "budget must be an integer >= 1" in capsys.readouterr().err
    assert main([]) == 2


def test_explanation_values_follow_index_and_order_changes() -> None:
    from interspect import Explanation, Spectrum

    s = Spectrum({(): 1.0, (0,): 0.5, (0, 1): -0.25, (0, 1, 2): 0.125}, 3)
    e = Explanation(["a", "b", "c"], s, index="Moebius", order=3)
    assert e.values == {k: v for k, v in s.mobius().items() if k}
    e.index, e.order = "FBII", 1
    assert set(e.values) <= {(0,), (1,), (2,)} and (0,) in e.values  # order 1 now: no pairs
    # A new spectrum is picked up: f = (−1)^{x_2} = 1 − 2·x_2, whose best linear fit moves f by −2 via feature 2.
    e.spectrum = Spectrum({(): 0.0, (2,): 1.0}, 3)
    assert abs(e.values[(2,)] + 2.0) < 1e-12 and abs(e.values.get((0,), 0.0)) < 1e-12
