"""Component explanations on tiny random-initialised Llama (GQA), GPT-2 and Qwen2 models.

The models are built from configs inside the test (no download) with a word-level tokenizer.
References are independent of the hooks: a copy of the model whose attention output projection
has the ablated heads' input columns set to zero (or an MLP whose output projection is zeroed),
run one prompt at a time with plain full-logit forwards; and brute force over all 2^n masks.
"""

from __future__ import annotations

import copy
import itertools
import json
import math
import pickle

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
tokenizers = pytest.importorskip("tokenizers")

from interspect.applications.components import (  # noqa: E402
    ComponentValueFunction,
    explain_components,
    prune_mask,
    pruning_curve,
    resolve_task,
)
from interspect.applications.components.view import split_interactions  # noqa: E402
from interspect.applications.language.backends import HFCausalLM  # noqa: E402
from interspect.engines.exact import all_masks  # noqa: E402
from interspect.queries.cache import QueryCache  # noqa: E402
from interspect.queries.layer import Queries  # noqa: E402

WORDS = (
    "the capital of france germany italy spain is paris berlin rome madrid new york city "
    "when mary and john went to store gave a drink"
).split()
TASK = [
    ("the capital of france is", " paris", [" berlin", " rome"]),
    ("the capital of germany is", " berlin", [" paris"]),
    ("when mary and john went to the store john gave a drink to", " mary", [" john"]),
    ("the capital of italy is", " rome", [" new york city"]),  # a 3-token wrong choice
    ("the capital of spain is", " madrid city", [" paris"]),  # a 2-token answer
]


def _tokenizer():
    vocab = {"[PAD]": 0, "[UNK]": 1, **{w: i + 2 for i, w in enumerate(WORDS)}}
    tk = tokenizers.Tokenizer(tokenizers.models.WordLevel(vocab, unk_token="[UNK]"))
    tk.pre_tokenizer = tokenizers.pre_tokenizers.Whitespace()
    tk.decoder = tokenizers.decoders.WordPiece()
    return transformers.PreTrainedTokenizerFast(tokenizer_object=tk, unk_token="[UNK]", pad_token="[PAD]")


def _model(arch: str, layers: int = 2, heads: int = 4):
    torch.manual_seed({"llama": 0, "gpt2": 1, "qwen2": 2}[arch])
    V = len(WORDS) + 2
    hidden, kv = 8 * heads, 2 if heads % 2 == 0 else 1  # head_dim 8; grouped-query attention
    if arch == "llama":
        cfg = transformers.LlamaConfig(vocab_size=V, hidden_size=hidden, intermediate_size=48, num_hidden_layers=layers,
                                       num_attention_heads=heads, num_key_value_heads=kv, max_position_embeddings=64)
        model = transformers.LlamaForCausalLM(cfg)
    elif arch == "qwen2":
        cfg = transformers.Qwen2Config(vocab_size=V, hidden_size=hidden, intermediate_size=48, num_hidden_layers=layers,
                                       num_attention_heads=heads, num_key_value_heads=kv, max_position_embeddings=64)
        model = transformers.Qwen2ForCausalLM(cfg)
    else:
        cfg = transformers.GPT2Config(vocab_size=V, n_embd=hidden, n_layer=layers, n_head=heads, n_positions=64,
                                      resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0)
        model = transformers.GPT2LMHeadModel(cfg)
    # Random init gives nearly uniform next-token distributions; larger weights make heads matter.
    with torch.no_grad():
        for p in model.parameters():
            if p.ndim == 2:
                p.mul_(4.0)
    return HFCausalLM(model.eval(), _tokenizer(), name=f"tiny-{arch}", identity={"model": f"tiny-{arch}"}, device="cpu")


ARCHS = ["llama", "gpt2", "qwen2"]


@pytest.fixture(scope="module", params=ARCHS)
def lm(request):
    return _model(request.param)


@pytest.fixture(scope="module")
def llama():
    """For tests where the architecture is not the point."""
    return _model("llama")


# ------------------------------------------------------------------------- independent reference
def _layers(model):
    return model.model.layers if hasattr(model, "model") else model.transformer.h


def _ablated_copy(lm, mask, comps, *, kind="zero", means=None):
    """A deep copy of the model with the components where ``mask`` is 0 removed from the weights."""
    model = copy.deepcopy(lm.model)
    layers = _layers(model)
    cfg = model.config
    H = cfg.num_attention_heads
    d = cfg.hidden_size // H
    with torch.no_grad():
        for keep, (layer, head) in zip(mask, comps):
            if keep:
                continue
            block = layers[layer]
            if head is None:  # MLP block: zero its output projection
                out = block.mlp.down_proj if hasattr(block.mlp, "down_proj") else block.mlp.c_proj
                out.weight.zero_()
                if getattr(out, "bias", None) is not None:
                    out.bias.zero_()
                continue
            if hasattr(block, "self_attn"):
                proj = block.self_attn.o_proj
                cols = proj.weight[:, head * d : (head + 1) * d]  # Linear: (out, in)
            else:
                proj = block.attn.c_proj
                cols = proj.weight[head * d : (head + 1) * d, :].T  # Conv1D: (in, out)
            if kind == "mean":
                shift = cols @ means[layer][head]
                if getattr(proj, "bias", None) is None:
                    new = torch.nn.Linear(proj.in_features, proj.out_features, bias=True)
                    new.weight.copy_(proj.weight)
                    new.bias.zero_()
                    block.self_attn.o_proj = proj = new
                proj.bias.add_(shift)
            if hasattr(block, "self_attn"):
                proj.weight[:, head * d : (head + 1) * d] = 0.0
            else:
                proj.weight[head * d : (head + 1) * d, :] = 0.0
    return model


def _logp(model, ids):
    with torch.no_grad():
        return model(input_ids=torch.tensor([ids])).logits[0].float().log_softmax(-1)


def _ref_score(model, tok, task, score="margin"):
    """One prompt at a time, full logits, teacher forcing by hand."""
    vals = []
    for item in resolve_task(task).items:
        p = tok(item.prompt)["input_ids"]
        lps = []
        greedy = []
        for c in item.choices:
            cid = tok(c, add_special_tokens=False)["input_ids"]
            lp = _logp(model, p + cid)
            lps.append(sum(float(lp[len(p) - 1 + j, t]) for j, t in enumerate(cid)))
            greedy.append(all(int(lp[len(p) - 1 + j].argmax()) == t for j, t in enumerate(cid)))
        if score == "margin":
            vals.append(lps[0] - max(lps[1:]))
        elif score == "logprob":
            vals.append(lps[0])
        else:
            vals.append(float(lps[0] > max(lps[1:])) if len(lps) > 1 else float(greedy[0]))
    return float(np.mean(vals))


def _comps(vf):
    return [(c.layer, c.head) for c in vf.components]


# -------------------------------------------------------------------------------------- tests
def test_all_kept_is_the_unablated_model(lm):
    for score in ("margin", "logprob", "accuracy"):
        vf = ComponentValueFunction(lm, TASK, score=score)
        assert vf.n == 8 and vf.names[:5] == ["L0.H0", "L0.H1", "L0.H2", "L0.H3", "L1.H0"]
        got = vf(np.ones((1, vf.n), np.uint8))[0]
        assert abs(got - _ref_score(lm.model, lm.tokenizer, TASK, score)) < 1e-5


def test_zeroing_a_head_equals_zeroing_its_output_projection_columns(lm):
    vf = ComponentValueFunction(lm, TASK, score="margin", batch_size=64)
    rng = np.random.default_rng(0)
    # One mask per size 0..n (all sizes) plus single-head ablations.
    X = np.ones((vf.n + 1, vf.n), np.uint8)
    for r in range(vf.n + 1):
        X[r, rng.permutation(vf.n)[:r]] = 0
    X = np.vstack([X, 1 - np.eye(vf.n, dtype=np.uint8)])
    y = vf(X)
    for r in [0, 1, 3, 5, 8, 9, 12]:
        ref = _ref_score(_ablated_copy(lm, X[r], _comps(vf)), lm.tokenizer, TASK)
        assert abs(y[r] - ref) < 1e-5, (r, y[r], ref)
    # the heads do matter in these models: the scores are not all equal
    assert np.ptp(y) > 1e-2


def test_batch_rows_with_different_masks_equal_one_at_a_time(lm):
    X = all_masks(8)[::7]  # 37 masks of every size
    big = ComponentValueFunction(lm, TASK, score="logprob", batch_size=64)(X)
    one = ComponentValueFunction(lm, TASK, score="logprob", batch_size=1)(X)
    odd = ComponentValueFunction(lm, TASK, score="logprob", batch_size=5)(X)
    np.testing.assert_allclose(big, one, atol=1e-5)
    np.testing.assert_allclose(odd, one, atol=1e-5)


def test_shared_prefix_once_per_mask_gives_the_same_scores(lm):
    caps = [TASK[i] for i in (0, 1, 3, 4)]  # every prompt starts with "the capital of"
    shared = ComponentValueFunction(lm, caps, batch_size=7)
    plain = ComponentValueFunction(lm, caps, share_prefix=False)
    assert shared.mode == "prefix" and shared._prefix_len == 3 and plain.mode == "plain"
    assert shared.identity == plain.identity
    X = all_masks(8)[::9]
    y = shared(X)
    np.testing.assert_allclose(y, plain(X), atol=1e-5)
    for r in (0, 13, len(X) - 1):
        assert abs(y[r] - _ref_score(_ablated_copy(lm, X[r], _comps(shared)), lm.tokenizer, caps)) < 1e-5
    allc = ComponentValueFunction(lm, caps, components="all", ablation="mean")
    np.testing.assert_allclose(allc(all_masks(10)[::50]), ComponentValueFunction(lm, caps, components="all", ablation="mean", share_prefix=False)(all_masks(10)[::50]), atol=1e-5)


def test_upper_layers_only_start_from_cached_hidden_states(lm):
    vf_all = ComponentValueFunction(lm, TASK)
    vf_top = ComponentValueFunction(lm, TASK, layers=[1])
    assert vf_top.n == 4 and vf_top.first_layer == 1 and vf_top.names[0] == "L1.H0" and vf_top.mode == "skip"
    X = all_masks(4)
    full = np.hstack([np.ones((16, 4), np.uint8), X])
    calls = []
    handle = _layers(lm.model)[0].register_forward_hook(lambda *a: calls.append(1))
    try:
        y_top = vf_top(X)
    finally:
        handle.remove()
    assert calls == [], "layer 0 must not run again once its output is cached"
    assert _layers(lm.model)[0].__class__.__name__ != "PassThrough"  # restored
    np.testing.assert_allclose(y_top, vf_all(full), atol=1e-5)


def test_mlp_blocks_and_mean_ablation(lm):
    tok = lm.tokenizer
    # MLP blocks: zeroing the block's output equals zeroing its output projection.
    vf = ComponentValueFunction(lm, TASK, components="all")
    assert vf.n == 10 and vf.names[4] == "L0.MLP" and vf.names[-1] == "L1.MLP"
    masks = np.ones((3, 10), np.uint8)
    masks[0, 4] = 0
    masks[1, [1, 9]] = 0
    masks[2, [4, 5, 9]] = 0
    y = vf(masks)
    for r in range(3):
        assert abs(y[r] - _ref_score(_ablated_copy(lm, masks[r], _comps(vf)), tok, TASK)) < 1e-5
    # Mean ablation: the head's output replaced by its mean over the task's tokens equals zeroed
    # columns plus a bias equal to the projection of that mean (means computed here, by hand).
    single = [(p, a, w) for p, a, w in TASK if len(tok(a, add_special_tokens=False)["input_ids"]) == 1]
    wrong1 = [(p, a, [x for x in w if len(tok(x, add_special_tokens=False)["input_ids"]) == 1]) for p, a, w in single]
    wrong1 = [it for it in wrong1 if it[2]]
    vfm = ComponentValueFunction(lm, wrong1, ablation="mean")
    H = lm.model.config.num_attention_heads
    d = lm.model.config.hidden_size // H
    means = {}
    for layer in range(2):
        block = _layers(lm.model)[layer]
        proj = block.self_attn.o_proj if hasattr(block, "self_attn") else block.attn.c_proj
        seen = []
        h = proj.register_forward_pre_hook(lambda mod, args, seen=seen: seen.append(args[0][0].detach().clone()))
        try:
            for p, _, _ in wrong1:
                _logp(lm.model, tok(p)["input_ids"])
        finally:
            h.remove()
        means[layer] = torch.cat(seen).mean(0).view(H, d)
    mask = np.array([1, 0, 1, 1, 0, 1, 1, 0], np.uint8)
    got = vfm(mask[None])[0]
    ref = _ref_score(_ablated_copy(lm, mask, _comps(vfm), kind="mean", means=means), tok, wrong1)
    assert abs(got - ref) < 1e-5
    assert vfm.identity != ComponentValueFunction(lm, wrong1).identity


def test_callable_score_gets_next_token_logits(llama):
    tok = llama.tokenizer
    target = tok(" paris", add_special_tokens=False)["input_ids"][0]
    vf = ComponentValueFunction(llama, TASK, score=lambda logits: float(logits[:, target].mean()))
    mask = np.array([0, 1, 1, 0, 1, 1, 1, 0], np.uint8)
    model = _ablated_copy(llama, mask, _comps(vf))
    with torch.no_grad():
        ref = np.mean([float(model(input_ids=torch.tensor([tok(p)["input_ids"]])).logits[0, -1, target]) for p, _, _ in TASK])
    assert abs(vf(mask[None])[0] - ref) < 1e-4


@pytest.mark.slow
def test_exact_spectrum_agrees_with_brute_force(tmp_path):
    lm = _model("llama", layers=2, heads=5)  # n = 10 heads: all 1024 masks
    vf = ComponentValueFunction(lm, TASK[:3], batch_size=128)
    X = all_masks(10)
    # Brute force: every mask on a weight-zeroed copy would take 1024 model copies; check a
    # spread of them that way and use the batched outputs (checked equal above) for the rest.
    y = vf(X)
    for r in [0, 5, 77, 300, 512, 1000, 1023]:
        assert abs(y[r] - _ref_score(_ablated_copy(lm, X[r], _comps(vf)), lm.tokenizer, TASK[:3])) < 1e-5
    e = explain_components(lm, TASK[:3], method="exact", n_test=0, index="SV", batch_size=128,
                           cache=tmp_path / "c.sqlite", accuracy=False)
    assert e.metadata["application"] == "components" and e.features == vf.names
    np.testing.assert_allclose(e.spectrum.predict(X), y, atol=1e-6)
    # Shapley values by the definition, over the brute-force table
    f = dict(zip(map(tuple, X.tolist()), y))
    n = 10
    for i in (0, 7):
        phi = 0.0
        for S in itertools.product([0, 1], repeat=n):
            if S[i]:
                continue
            s = sum(S)
            w = math.factorial(s) * math.factorial(n - s - 1) / math.factorial(n)
            with_i = list(S)
            with_i[i] = 1
            phi += w * (f[tuple(with_i)] - f[S])
        assert abs(e.first_order()[i] - phi) < 1e-6
    # Resumable: a second run reads every output from the cache.
    again = explain_components(lm, TASK[:3], method="exact", n_test=0, batch_size=128,
                               cache=tmp_path / "c.sqlite", accuracy=False)
    assert again.metadata["n_model_calls"] == 0 and again.metadata["n_from_cache"] == 1024


@pytest.mark.slow
def test_pruning_by_an_exact_surrogate_finds_the_best_mask(llama, tmp_path):
    vf = ComponentValueFunction(llama, TASK, batch_size=64)
    X = all_masks(8)
    y = vf(X)
    # the explanation's 256 model outputs come from this cache, filled here by the same masks
    store = QueryCache(tmp_path / "c.sqlite")
    Queries(vf, 8, cache=store)(X)
    e = explain_components(llama, TASK, method="exact", n_test=0, accuracy=False, cache=store, batch_size=64)
    banzhaf = [e.spectrum.interactions("BV")[(i,)] for i in range(8)]
    acc = ComponentValueFunction(llama, TASK, score="accuracy")
    rows = pruning_curve(e.spectrum, vf, [2, 4], marginals={"banzhaf": banzhaf}, extra={"accuracy": acc})
    assert [(r.k, r.method) for r in rows] == [(2, "surrogate"), (2, "banzhaf"), (4, "surrogate"), (4, "banzhaf")]
    for r in rows:
        assert len(r.removed) == r.k
        assert abs(r.real["score"] - vf(np.array([r.mask], np.uint8))[0]) < 1e-5
        assert abs(r.predicted - r.real["score"]) < 1e-6  # the exact surrogate predicts exactly
        assert 0.0 <= r.real["accuracy"] <= 1.0
        if r.method == "surrogate":  # the binary program's optimum is the best real mask with k zeros
            best = y[(X == 0).sum(axis=1) == r.k].max()
            assert abs(r.real["score"] - best) < 1e-6
        else:
            assert sorted(r.removed) == sorted(np.argsort(banzhaf, kind="stable")[: r.k].tolist())
    assert prune_mask(0, scores=banzhaf).tolist() == [1] * 8


def test_report_view_and_json_round_trip(llama, tmp_path):
    e = explain_components(llama, TASK, components=["L0", "L1.H2", "L1.MLP"], method="exact", n_test=0, order=2)
    assert e.features == ["L0.H0", "L0.H1", "L0.H2", "L0.H3", "L1.H2", "L1.MLP"]
    assert e.metadata["grid"][-1] == [1, -1] and 0.0 <= e.metadata["unablated_accuracy"] <= 1.0
    html = e.to_html()
    assert 'id="heatmap"' in html and 'id="within"' in html and 'id="across"' in html
    for i in range(e.n):
        assert f'data-i="{i}"' in html
    within, across = split_interactions(e)
    grid = e.metadata["grid"]
    assert all(len({grid[i][0] for i in it.features}) == 1 for it in within)
    assert all(len({grid[i][0] for i in it.features}) > 1 for it in across)
    assert within or across
    e.to_json(tmp_path / "e.json")
    back = type(e).from_json(tmp_path / "e.json")
    assert back.features == e.features and back.metadata["grid"] == grid
    json.loads((tmp_path / "e.json").read_text())


def test_identity_covers_model_task_ablation_components_and_pickles(llama):
    a = ComponentValueFunction(llama, TASK)
    assert a.identity == ComponentValueFunction(llama, TASK).identity
    assert a.identity != ComponentValueFunction(llama, TASK[:2]).identity
    assert a.identity != ComponentValueFunction(llama, TASK, ablation="mean").identity
    assert a.identity != ComponentValueFunction(llama, TASK, layers=[1]).identity
    assert a.identity != ComponentValueFunction(llama, TASK, score="logprob").identity
    b = pickle.loads(pickle.dumps(a))
    X = all_masks(8)[::31]
    np.testing.assert_allclose(b(X), a(X), atol=1e-6)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"components": ["L2.H0"]}, "L2.H0 does not exist; the model has layers 0..1"),
        ({"components": ["L1.H4"]}, "L1.H4 does not exist; each layer has heads 0..3"),
        ({"components": [8]}, "head index 8 does not exist"),
        ({"components": ["head3"]}, "'head3' is not a component name"),
        ({"components": ["L0.H1", "L0.H1"]}, "L0.H1 given more than once"),
        ({"layers": [5]}, "layers=[5]"),
        ({"task": []}, "the task set is empty"),
        ({"task": [("the capital of france is", " paris")]}, "score='margin' needs wrong choices"),
        ({"task": "no-such-task"}, "neither a shipped task"),
        ({"ablation": "resample"}, "ablation"),
        ({"score": "f1"}, "score"),
    ],
)
def test_bad_input_is_one_clear_error(llama, kwargs, message):
    opts = {"task": TASK, **kwargs}
    with pytest.raises((ValueError, TypeError)) as info:
        ComponentValueFunction(llama, **opts)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_an_architecture_it_cannot_hook_names_what_is_supported():
    cfg = transformers.GPTNeoXConfig(vocab_size=40, hidden_size=32, num_hidden_layers=1, num_attention_heads=4,
                                     intermediate_size=48, max_position_embeddings=64)
    neox = HFCausalLM(transformers.GPTNeoXForCausalLM(cfg), _tokenizer(), name="neox", identity={}, device="cpu")
    with pytest.raises(ValueError, match="supported are Llama-family .* and GPT-2") as info:
        ComponentValueFunction(neox, TASK)
    assert "gpt_neox" in str(info.value) and "\n" not in str(info.value)


def test_cli_explain_components_and_its_errors(tmp_path, capsys):
    from interspect.interface.cli import main

    lm = _model("gpt2")
    d = tmp_path / "tiny"
    lm.model.save_pretrained(d)
    lm.tokenizer.save_pretrained(d)
    task = tmp_path / "task.json"
    task.write_text(json.dumps([{"prompt": p, "answer": a, "wrong": w} for p, a, w in TASK]))
    out = tmp_path / "out"
    rc = main(["explain-components", "--model", str(d), "--task", str(task), "--layers", "1", "--method", "exact",
               "--n-test", "0", "--no-cache", "--no-progress", "--out", str(out), "--prune", "25,50"])
    text = capsys.readouterr().out
    assert rc == 0, text
    assert "n = 4 components" in text and "unablated accuracy" in text and "surrogate: score" in text
    assert (out / "report.html").is_file() and 'id="heatmap"' in (out / "report.html").read_text()
    rc = main(["explain-components", "--model", str(d), "--task", str(task), "--components", "L7.H0", "--no-cache"])
    err = capsys.readouterr().err
    assert rc == 2 and "L7.H0 does not exist" in err and err.count("\n") == 1
    rc = main(["explain-components", "--model", str(d), "--task", str(tmp_path / "none.json"), "--no-cache"])
    assert rc == 2 and "neither a shipped task" in capsys.readouterr().err
