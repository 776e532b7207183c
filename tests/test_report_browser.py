"""The HTML report in a real headless Chromium: loads without console errors, shows the top interaction.

Needs Debian's `chromium` (`apt-get install chromium`) and the `playwright` Python package (dev extra);
`.ci/run` installs the browser. A screenshot is kept in tests/artifacts/report.png.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from interspect import explain, games

ARTIFACTS = Path(__file__).parent / "artifacts"


def _browser() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    pytest.skip(
        "no Chromium found: install it with `apt-get install chromium` to run the browser test"
    )


def test_report_renders_in_chromium(tmp_path):
    executable = _browser()
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="pip install playwright (in the dev extra)"
    )
    words = "the plot never fails to bore me at all".split()
    g = games.HierarchicalGame(len(words), n_top=2, min_degree=2, max_degree=3, seed=5)
    e = explain(g, len(words), features=words, method="exact", metadata={"model": "synthetic"})
    e.text = " ".join(words)
    pos, spans = 0, []
    for w in words:
        spans.append((pos, pos + len(w)))
        pos += len(w) + 1
    e.spans = spans
    page_path = tmp_path / "report.html"
    e.to_html(page_path)
    top = e.top(1)[0]

    errors: list[str] = []
    requests: list[str] = []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=executable,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        page = browser.new_page(viewport={"width": 1000, "height": 1300})
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.on("request", lambda r: requests.append(r.url))
        page.goto(page_path.as_uri())
        page.wait_for_load_state("load")
        body = page.inner_text("body")
        # The first interaction row is selected on load: its segments carry the highlight.
        highlighted = page.eval_on_selector_all(".seg.hl", "els => els.map(e => +e.dataset.i)")
        page.hover("tr.inter >> nth=1")
        hovered = page.eval_on_selector_all(".seg.hl", "els => els.map(e => +e.dataset.i)")
        second = e.top(2)[1]
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "report.png"), full_page=True)
        browser.close()
    assert errors == []
    assert all(u.startswith("file:") for u in requests), requests
    for label in top.labels:
        assert label in body
    assert sorted(highlighted) == list(top.features)
    assert sorted(hovered) == list(second.features)
