"""`Explanation._repr_html_`: the report's content inline, styled and scripted for its own cell only."""

from __future__ import annotations

import re

from interspect import explain, games


def test_repr_html_is_the_report_content_scoped_to_one_cell():
    words = "a witty and moving film".split()
    g = games.HierarchicalGame(len(words), n_top=2, min_degree=2, max_degree=2, seed=1)
    e = explain(g, len(words), features=words, method="exact", n_test=0)
    first, second = e._repr_html_(), e._repr_html_()
    for tag in ("<html", "<head", "<body", "<!DOCTYPE"):
        assert tag not in first
    uid = re.match(r'<div class="interspect-report" id="([\w-]+)">', first).group(1)
    assert uid not in second  # each output cell gets its own id
    css = re.search(r"<style>(.*?)</style>", first, re.S).group(1)
    rules = [r for r in css.split("}") if "{" in r]
    assert rules and all(sel.strip().startswith(f"#{uid}") for r in rules for sel in r.split("{")[0].split(","))
    # The same sections as the full report: every top row, the network and the settings.
    page = e.to_html()
    assert first.count('<tr class="inter"') == page.count('<tr class="inter"') == min(15, len(e.values))
    for label in e.top(1)[0].labels:
        assert label in first
    assert 'id="network-svg"' in first and 'id="settings"' in first and "<script>" in first
