"""The HTML report in a real headless Chromium: loads without console errors, shows the top interaction.

Needs Debian's `chromium` (`apt-get install chromium`) and the `playwright` Python package (dev extra);
`.ci/run` installs the browser. Screenshots are kept in tests/artifacts/ (report.png, report_1000.png,
inline.png).
"""

from __future__ import annotations

import contextlib
import shutil
from pathlib import Path

import numpy as np
import pytest

from interspect import explain, games
from interspect.interface.explanation import Explanation

ARTIFACTS = Path(__file__).parent / "artifacts"
_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def _browser() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    pytest.skip(
        "no Chromium found: install it with `apt-get install chromium` to run the browser test"
    )


@contextlib.contextmanager
def _page(viewport=(1000, 1300)):
    """A fresh Chromium page; yields (page, console errors, requested URLs)."""
    executable = _browser()
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="pip install playwright (in the dev extra)"
    )
    errors: list[str] = []
    requests: list[str] = []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, args=_ARGS)
        page = browser.new_page(viewport={"width": viewport[0], "height": viewport[1]})
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.on("request", lambda r: requests.append(r.url))
        try:
            yield page, errors, requests
        finally:
            browser.close()


def _with_text(e: Explanation, words: list[str]) -> Explanation:
    e.text = " ".join(words)
    starts = np.cumsum([0] + [len(w) + 1 for w in words[:-1]])
    e.spans = [(int(a), int(a) + len(w)) for a, w in zip(starts, words)]
    return e


def _highlighted(page, scope: str = "") -> list[int]:
    return sorted(page.eval_on_selector_all(f"{scope} .seg.hl", "els => els.map(e => +e.dataset.i)"))


def test_report_renders_in_chromium(tmp_path):
    words = "the plot never fails to bore me at all".split()
    g = games.HierarchicalGame(len(words), n_top=2, min_degree=2, max_degree=3, seed=5)
    e = explain(g, len(words), features=words, method="exact", metadata={"model": "synthetic"})
    _with_text(e, words)
    page_path = tmp_path / "report.html"
    e.to_html(page_path)
    top = e.top(1)[0]

    with _page() as (page, errors, requests):
        page.goto(page_path.as_uri())
        page.wait_for_load_state("load")
        body = page.inner_text("body")
        # The first interaction row is selected on load: its segments carry the highlight.
        highlighted = _highlighted(page)
        page.hover("tr.inter >> nth=1")
        hovered = _highlighted(page)
        second = e.top(2)[1]
        # Hovering a segment of the force bar highlights that term's features.
        page.hover("rect.fseg >> nth=0")
        force_hover = _highlighted(page)
        first_term = page.get_attribute("rect.fseg >> nth=0", "data-features")
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "report.png"), full_page=True)
    assert errors == []
    assert all(u.startswith("file:") for u in requests), requests
    for label in top.labels:
        assert label in body
    assert "How the output adds up" in body
    assert highlighted == list(top.features)
    assert hovered == list(second.features)
    assert force_hover == sorted(int(i) for i in first_term.split(","))


def test_a_thousand_feature_report_opens_and_stays_usable(tmp_path):
    n = 1000
    vocab = "film plot actor scene story music ending camera script moment".split()
    words = [f"{vocab[i % len(vocab)]}{i}" for i in range(n)]
    g = games.SparseFourierGame(n, n_terms=60, max_degree=3, seed=3)
    e = Explanation(words, g.spectrum, index="FBII", order=2, full_output=float(g(np.ones((1, n)))[0]),
                    metadata={"model": "synthetic", "method": "exact"})
    _with_text(e, words)
    page_path = tmp_path / "report_1000.html"
    e.to_html(page_path)
    rows = e.top(15)
    # The row (not the first, which is selected on load) whose words lie deepest in the text.
    far = max(range(1, len(rows)), key=lambda j: max(rows[j].features))

    with _page(viewport=(1100, 900)) as (page, errors, requests):
        page.goto(page_path.as_uri())
        page.wait_for_load_state("load")
        n_rows = page.eval_on_selector_all("tr.inter", "els => els.length")
        n_nodes = page.eval_on_selector_all("#network-svg .node", "els => els.length")
        box = page.eval_on_selector(".text", "b => [b.clientHeight, b.scrollHeight]")
        page_height = page.evaluate("document.documentElement.scrollHeight")
        page.click(f"tr.inter >> nth={far}")
        selected = _highlighted(page)
        # The selected words are scrolled into the text box's visible part.
        visible = page.evaluate(
            """() => { const b = document.querySelector('.text').getBoundingClientRect();
                       const s = document.querySelector('.seg.hl').getBoundingClientRect();
                       return s.top >= b.top && s.bottom <= b.bottom; }"""
        )
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "report_1000.png"), full_page=True)
    assert errors == []
    assert all(u.startswith("file:") for u in requests), requests
    assert n_rows == 15 and 2 <= n_nodes <= 30
    # 1,000 words scroll inside a box instead of stretching the page.
    assert box[0] < 600 < box[1]
    assert page_height < 5000
    assert selected == list(rows[far].features) and max(selected) > 300
    assert visible


def test_inline_reports_in_one_page_do_not_interfere(tmp_path):
    words_a = "a witty and moving film".split()
    words_b = "the plot never fails to bore me".split()
    reports = []
    for words, seed in ((words_a, 1), (words_b, 2)):
        g = games.HierarchicalGame(len(words), n_top=2, min_degree=2, max_degree=3, seed=seed)
        reports.append(_with_text(explain(g, len(words), features=words, method="exact", n_test=0), words))
    html = "".join(f"<div class='cell'>{e._repr_html_()}</div>" for e in reports)
    assert "<html" not in html and "<body" not in html and "\nbody{" not in html
    page_path = tmp_path / "notebook.html"
    page_path.write_text(f"<!DOCTYPE html><html><head><meta charset='utf-8'></head><body>{html}</body></html>", encoding="utf-8")

    with _page() as (page, errors, _):
        page.goto(page_path.as_uri())
        page.wait_for_load_state("load")
        first_a = _highlighted(page, ".cell:nth-child(1)")
        first_b = _highlighted(page, ".cell:nth-child(2)")
        page.hover(".cell:nth-child(2) tr.inter >> nth=1")
        after_a = _highlighted(page, ".cell:nth-child(1)")
        after_b = _highlighted(page, ".cell:nth-child(2)")
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "inline.png"), full_page=True)
    assert errors == []
    # Each report selected its own top row on load; hovering in the second leaves the first alone.
    assert first_a == list(reports[0].top(1)[0].features)
    assert first_b == list(reports[1].top(1)[0].features)
    assert after_a == first_a
    assert after_b == list(reports[1].top(2)[1].features)
