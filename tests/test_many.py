"""Many inputs in one run: explain_many and `interspect explain --file inputs.jsonl|csv`.

References: brute-force Möbius coefficients of synthetic games (the top interaction each folder
must report) and the query cache's counts (a rerun computes nothing).
"""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from interspect import explain_many, games
from interspect.interface.cli import main
from interspect.interface.explanation import Explanation
from interspect.interface.many import read_inputs


def _games():
    out = []
    for active in [(0, 3), (1, 2, 4)]:
        g = games.DummyGame(6, active=active)
        g.identity = f"dummy6-{active}"
        out.append(g)
    return out


def test_explain_many_writes_a_folder_per_input_and_resumes(tmp_path):
    rows = explain_many(_games(), out=tmp_path, method="exact", index="Moebius", order=3, n_test=10)
    assert [(r["n"], r["top_interaction"], r["model_calls"]) for r in rows] == [
        (6, "x0 × x3", 64), (6, "x1 × x2 × x4", 64)]
    for r in rows:
        e = Explanation.from_json(tmp_path / r["folder"] / "explanation.json")
        assert e.top(1)[0].value == pytest.approx(1.0)
        assert (tmp_path / r["folder"] / "report.html").is_file()
    with open(tmp_path / "summary.csv", newline="") as f:
        table = list(csv.DictReader(f))
    assert [t["top_interaction"] for t in table] == ["x0 × x3", "x1 × x2 × x4"]
    assert "| 1 | 1 | 6 | exact | 64 | 64 | 1.000 | x1 × x2 × x4 (+1) |" in (tmp_path / "summary.md").read_text()
    again = explain_many(_games(), out=tmp_path, method="exact", index="Moebius", order=3, n_test=10)
    assert [r["model_calls"] for r in again] == [0, 0] and [r["from_cache"] for r in again] == [64, 64]


def test_explain_many_records_or_raises_per_input(tmp_path):
    class Broken:
        n = 3
        identity = "broken"

        def __call__(self, X):
            return np.full(len(X), np.nan)

    fns = [Broken(), *_games()[:1]]
    rows = explain_many(fns, out=tmp_path, method="exact", n_test=0, on_error="record", report=False)
    assert "non-finite" in rows[0]["error"] and rows[1]["error"] == "" and rows[1]["n"] == 6
    with pytest.raises(ValueError, match="non-finite"):
        explain_many(fns, out=tmp_path / "b", method="exact", n_test=0, cache=False)


def test_bad_inputs_are_one_clear_error(tmp_path):
    with pytest.raises(TypeError, match="single text"):
        explain_many("just one text", out=tmp_path)
    with pytest.raises(ValueError, match="unknown keys \\['txt'\\]"):
        explain_many([{"txt": "a b"}], out=tmp_path)
    with pytest.raises(ValueError, match="on_error"):
        explain_many(_games(), out=tmp_path, on_error="ignore")
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "fine"}\n{oops\n')
    with pytest.raises(ValueError, match="line 2 is not valid JSON"):
        read_inputs(bad)
    nocol = tmp_path / "in.csv"
    nocol.write_text("id,review\n1,good\n")
    with pytest.raises(ValueError, match="'text' column"):
        read_inputs(nocol)
    ok = tmp_path / "ok.csv"
    ok.write_text('id,text,labels\na,"Good, fun."," yes, no"\nb,Dull.,\n')
    assert read_inputs(ok) == [{"id": "a", "text": "Good, fun.", "labels": (" yes", " no")},
                               {"id": "b", "text": "Dull."}]


@pytest.mark.llm
def test_cli_explain_file_three_texts_then_rerun_computes_nothing(tmp_path, capsys):
    from llm_required import require_embedded_model

    require_embedded_model()
    inputs = tmp_path / "inputs.jsonl"
    texts = [{"id": "good", "text": "Witty and moving."}, "Dull, long.", {"text": "Not bad."}]
    inputs.write_text("\n".join(json.dumps(t) for t in texts) + "\n")
    out = tmp_path / "out"
    argv = ["explain", "--file", str(inputs), "--task", "sentiment", "--n-test", "4", "--out", str(out),
            "--cache", str(tmp_path / "q.sqlite"), "--no-progress"]
    assert main(argv) == 0
    first = capsys.readouterr().out
    folders = sorted(p.name for p in out.iterdir() if p.is_dir())
    assert folders == ["000-good", "001-dull-long", "002-not-bad"]
    for name in folders:
        assert {p.name for p in (out / name).iterdir()} == {"explanation.json", "spectrum.json", "report.html"}
    with open(out / "summary.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["n"]) for r in rows] == [3, 2, 2] and all(int(r["model_calls"]) > 0 for r in rows)
    assert "3 inputs:" in first and "| good |" in first
    assert main(argv) == 0
    second = capsys.readouterr().out
    with open(out / "summary.csv", newline="") as f:
        again = list(csv.DictReader(f))
    assert [int(r["model_calls"]) for r in again] == [0, 0, 0]
    assert [r["top_interaction"] for r in again] == [r["top_interaction"] for r in rows]
    assert "3 inputs: 0 model calls" in second


def test_cli_ray_options_build_a_ray_executor():
    from interspect.interface.cli import _executor, build_parser
    from interspect.queries.ray_executor import RayExecutor

    parse = build_parser().parse_args
    assert _executor(parse(["explain", "--text", "a b"])) is None
    ex = _executor(parse(["explain", "--text", "a b", "--ray", "--actors", "3"]))
    assert isinstance(ex, RayExecutor) and ex.address is None and ex.num_actors == 3
    ex = _executor(parse(["explain", "--text", "a b", "--ray", "ray://head:10001", "--gpus-per-actor", "1"]))
    assert ex.address == "ray://head:10001" and ex.num_gpus == 1.0
    with pytest.raises(ValueError, match="num_actors must be"):
        _executor(parse(["explain", "--text", "a b", "--ray", "--actors", "0"]))
