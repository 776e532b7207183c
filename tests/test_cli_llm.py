"""`interspect explain` end to end with the embedded model on a short sentence (small budget)."""

from __future__ import annotations

import json

import pytest

from interspect import Spectrum
from interspect.interface.cli import main
from llm_required import require_embedded_model

pytestmark = pytest.mark.llm

require_embedded_model()

SCHEMA = {
    "features": list,
    "model": str,
    "method": str,
    "budget": int,
    "n_queries": int,
    "n_model_calls": int,
    "faithfulness_r2": float,
    "index": str,
    "order": int,
    "interactions": list,
    "seconds": float,
}


def test_cli_explain_end_to_end(tmp_path, capsys):
    out = tmp_path / "out"
    cache = tmp_path / "cache.sqlite"
    text = "Not bad at all, a fun film."
    args = [
        "explain",
        "--text",
        text,
        "--task",
        "sentiment",
        "--method",
        "proxyspex",
        "--budget",
        "48",
        "--n-test",
        "16",
        "--top",
        "5",
        "--cache",
        str(cache),
        "--out",
        str(out),
        "--no-progress",
    ]
    assert main(args) == 0
    printed = capsys.readouterr().out
    data = json.loads((out / "explanation.json").read_text())
    for key, typ in SCHEMA.items():
        assert isinstance(data[key], typ), (key, data[key])
    assert data["features"] == ["Not", "bad", "at", "all,", "a", "fun", "film."]
    assert data["model"] == "smollm2" and data["method"] == "proxyspex" and data["budget"] == 48
    assert data["n_queries"] == 48 and 0 < data["n_model_calls"] <= 48 + 16 + 1
    for inter in data["interactions"]:
        assert set(inter) == {"features", "labels", "value"}
        assert inter["labels"] == [data["features"][i] for i in inter["features"]]
    # The reported top interaction is the spectrum's own top FBII entry.
    spectrum = Spectrum.from_json(out / "spectrum.json")
    ((key, value),) = spectrum.top(1, index="FBII", order=2)
    assert data["interactions"][0]["features"] == list(key)
    assert data["interactions"][0]["value"] == pytest.approx(value)
    assert (
        "faithfulness R²" in printed
        and " × ".join(repr(w) for w in data["interactions"][0]["labels"]) in printed
    )
    html = (out / "report.html").read_text()
    assert all(label in html for label in data["interactions"][0]["labels"])

    # A rerun with the same cache computes nothing new.
    assert main(args) == 0
    again = json.loads((out / "explanation.json").read_text())
    assert again["n_model_calls"] == 0
    assert again["interactions"] == data["interactions"]


def test_cli_unknown_model_is_one_line(capsys):
    assert (
        main(["explain", "--text", "fine film", "--model", "/nonexistent/model-dir", "--no-cache"])
        == 2
    )
    err = capsys.readouterr().err
    assert err.startswith("interspect: error:") and err.count("\n") == 1


def test_bench_keeps_model_outputs_in_a_cache_that_a_later_run_reuses(tmp_path, capsys):
    # A review CSV of our own, so the test does not depend on ../shared/data.
    data = tmp_path / "reviews.csv"
    data.write_text('review,label\n"A fun, warm and clever film.",1\n')
    common = ["bench", "--task", "sentiment", "--data", str(data), "--methods", "banzhaf", "--budget", "24", "--n-test", "8", "--no-removal"]
    assert main([*common, "--out", str(tmp_path / "first")]) == 0
    first = capsys.readouterr().err
    assert (tmp_path / "first" / "cache.sqlite").is_file()  # the default cache: OUT/cache.sqlite
    assert "0 rows computed" not in first
    # A second run elsewhere, pointed at the first run's cache, computes nothing.
    assert main([*common, "--out", str(tmp_path / "second"), "--cache", str(tmp_path / "first" / "cache.sqlite")]) == 0
    assert "model: 0 rows computed" in capsys.readouterr().err
    # --cache none turns it off.
    assert main([*common, "--out", str(tmp_path / "third"), "--cache", "none"]) == 0
    assert not (tmp_path / "third" / "cache.sqlite").exists()
