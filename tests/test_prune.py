"""`interspect prune` end to end on a tiny random-weight causal LM (fast), with an exact spectrum:
the surrogate then equals the model on every mask, so prediction and real output must agree, and
the kept segments must be the brute-force best r-subset."""

from __future__ import annotations

import json
from itertools import combinations

import numpy as np
import pytest

from interspect import explain, games
from interspect.interface.cli import main
from llm_required import require_embedded_model

pytestmark = pytest.mark.llm

require_embedded_model()

TEXT = "red green blue cyan magenta"
LABELS = (" yes", " no")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A tiny random-weight Llama with SmolLM2's tokenizer, saved as a local model folder."""
    import torch
    import transformers

    from interspect.applications.language import load

    tok = load("smollm2").tokenizer
    cfg = transformers.LlamaConfig(
        vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, pad_token_id=tok.pad_token_id,
    )
    torch.manual_seed(0)
    out = tmp_path_factory.mktemp("tiny") / "model"
    transformers.LlamaForCausalLM(cfg).save_pretrained(out)
    tok.save_pretrained(out)
    return str(out)


@pytest.fixture(scope="module")
def explained(tiny, tmp_path_factory):
    from interspect import explain_text

    e = explain_text(TEXT, model=tiny, labels=LABELS, method="exact", n_test=0)
    path = tmp_path_factory.mktemp("expl") / "explanation.json"
    e.to_json(path)
    return e, path


@pytest.mark.parametrize("mode,r", [("keep", 2), ("remove", 2), ("keep", 4)])
def test_prune_writes_the_best_pruned_text_and_checks_the_model(tiny, explained, tmp_path, capsys, mode, r):
    from interspect.applications.language import load
    from interspect.applications.text import TextValueFunction, masked_text, segment
    from interspect.queries.layer import as_queries

    e, path = explained
    out = tmp_path / "out"
    # The explanation names a local model by its folder only (no local paths in shared files).
    assert main(["prune", str(path), f"--{mode}", str(r), "--no-cache", "--out", str(out)]) == 2
    assert "pass model= (CLI: --model PATH)" in capsys.readouterr().err
    assert main(["prune", str(path), f"--{mode}", str(r), "--model", tiny, "--no-cache", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    data = json.loads((out / "prune.json").read_text())
    mask = np.array(data["mask"], dtype=np.uint8)
    # Brute force over every r-subset of the real model's outputs (independent of the surrogate).
    vf = TextValueFunction(load(tiny), TEXT, labels=LABELS)
    n = vf.n
    subsets = list(combinations(range(n), r))
    masks = []
    for sub in subsets:
        m = np.zeros(n, dtype=np.uint8) if mode == "keep" else np.ones(n, dtype=np.uint8)
        m[list(sub)] = 1 if mode == "keep" else 0
        masks.append(m)
    y = as_queries(vf, n)(np.array(masks))
    full = float(as_queries(vf, n)(np.ones((1, n), dtype=np.uint8))[0])
    if mode == "keep":  # default direction "up": the r segments that keep the output highest
        assert data["direction"] == "up"
        assert data["actual"] == pytest.approx(y.max(), abs=1e-5)
    else:  # default "auto": the removal that moves the output furthest
        assert data["actual"] == pytest.approx(y[np.argmax(np.abs(y - full))], abs=1e-5)
    # An exact surrogate predicts the real model: prediction, actual and a fresh query agree.
    fresh = float(as_queries(vf, n)(mask[None, :])[0])
    assert data["actual"] == pytest.approx(fresh, abs=1e-5)
    assert data["predicted"] == pytest.approx(fresh, abs=1e-4)
    assert data["actual_full"] == pytest.approx(e.full_output, abs=1e-5)
    assert (out / "pruned.txt").read_text() == masked_text(TEXT, segment(TEXT), mask)
    assert int(mask.sum()) == (r if mode == "keep" else n - r)
    assert "pruned input: predicted" in printed and "pruned text:" in printed


def test_prune_refuses_what_it_cannot_do(explained, tmp_path, capsys):
    _, path = explained
    g = games.DummyGame(4, active=(0, 1))
    synthetic = tmp_path / "synthetic.json"
    explain(g, 4, method="exact", n_test=0).to_json(synthetic)
    cases = [
        (["prune", str(synthetic), "--keep", "2"], "prune needs an explanation of a text"),
        (["prune", str(path), "--keep", "9"], "--keep must be between 0 and 5"),
        (["prune", str(tmp_path / "absent.json"), "--keep", "1"], "cannot read"),
        (["prune", str(path), "--keep", "1", "--remove", "1"], "not allowed with argument"),
        (["prune", str(path)], "one of the arguments --keep --remove is required"),
    ]
    for argv, message in cases:
        try:
            status = main([*argv, "--no-cache", "--out", str(tmp_path / "o")])
        except SystemExit as exc:  # argparse's usage errors exit from the parser
            status = exc.code
        assert status == 2
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1, err


def test_prune_refuses_another_model(explained, tmp_path, capsys):
    _, path = explained
    assert main(["prune", str(path), "--keep", "2", "--model", "smollm2", "--no-cache", "--out", str(tmp_path)]) == 2
    assert "is not the value function that was explained" in capsys.readouterr().err
