"""GPU-ready local backend, tested on the CPU (this machine has no GPU): device="auto", half
precision, the batch that halves on out-of-memory, and pickling a model as a reference.

References: the same tiny random model in float32 (half precision must agree to its rounding),
and the unsplit batch (a split batch must give the same scores).
"""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from llm_required import require_embedded_model

require_embedded_model()

import torch  # noqa: E402
import transformers  # noqa: E402

from interspect.applications.language import load  # noqa: E402
from interspect.applications.language.backends import check_dtype, resolve_device  # noqa: E402

pytestmark = pytest.mark.llm

PROMPTS = ["red green blue", "a b", "one two three four five six", "yes", "the cat sat", "go", "x y z w"]


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    tok = load("smollm2").tokenizer
    cfg = transformers.LlamaConfig(
        vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, pad_token_id=tok.pad_token_id,
    )
    torch.manual_seed(0)
    out = tmp_path_factory.mktemp("tiny") / "causal"
    transformers.LlamaForCausalLM(cfg).save_pretrained(out)
    tok.save_pretrained(out)
    return str(out)


def test_device_auto_is_cuda_only_when_torch_sees_one(tiny_dir):
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto") == expected and resolve_device("cpu") == "cpu"
    lm = load(tiny_dir)  # the default device is "auto"
    assert lm.device == expected
    assert load(tiny_dir, device=expected) is lm  # one load per resolved device


@pytest.mark.parametrize("dtype, name, tol", [("bf16", "bfloat16", 0.1), ("fp16", "float16", 0.02)])
def test_half_precision_scores_agree_with_float32(tiny_dir, dtype, name, tol):
    full = load(tiny_dir, device="cpu")
    half = load(tiny_dir, device="cpu", dtype=dtype)
    assert half is not full and half.identity()["dtype"] == name
    assert next(half.model.parameters()).dtype == getattr(torch, name)
    assert load(tiny_dir, device="cpu", dtype=name) is half  # the alias and the full name share a load
    ref = full.continuation_logprobs(PROMPTS, [" yes", " no thanks"])
    got = half.continuation_logprobs(PROMPTS, [" yes", " no thanks"])
    assert got.dtype == np.float64 and np.all(np.isfinite(got))
    np.testing.assert_allclose(got, ref, atol=tol)
    assert not np.array_equal(got, ref)  # it really ran in half precision


def test_dtype_is_validated_up_front():
    with pytest.raises(ValueError, match="dtype='float8'.*accepted values.*'bf16'"):
        check_dtype("float8")
    with pytest.raises(ValueError, match="dtype="):
        load("smollm2", dtype="int4")


def test_batch_halves_on_out_of_memory_and_remembers(tiny_dir, monkeypatch):
    lm = load(tiny_dir, device="cpu")
    ref = lm.continuation_logprobs(PROMPTS, [" yes"])
    assert lm.max_rows is None
    real = type(lm)._logprob_rows
    sizes = []

    def limited(self, seqs, wanted):
        sizes.append(len(seqs))
        if len(seqs) > 3:  # a device that fits three rows at a time
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return real(self, seqs, wanted)

    monkeypatch.setattr(type(lm), "_logprob_rows", limited)
    got = lm.continuation_logprobs(PROMPTS, [" yes"])
    np.testing.assert_allclose(got, ref, atol=1e-5)
    assert sizes == [7, 3, 3, 1] and lm.max_rows == 3 and lm.stats["oom_splits"] == 1
    sizes.clear()
    lm.continuation_logprobs(PROMPTS, [" yes"])
    assert sizes == [3, 3, 1]  # the smaller size is kept: no second out-of-memory

    def broken(self, seqs, wanted):
        raise RuntimeError("shape mismatch")

    monkeypatch.setattr(type(lm), "_logprob_rows", broken)
    with pytest.raises(RuntimeError, match="shape mismatch"):  # other errors are not swallowed
        lm.continuation_logprobs(PROMPTS, [" yes"])
    lm.max_rows = None


def test_one_row_that_does_not_fit_is_an_error(tiny_dir, monkeypatch):
    lm = load(tiny_dir, device="cpu")

    def never(self, seqs, wanted):
        raise torch.OutOfMemoryError("CUDA out of memory")

    monkeypatch.setattr(type(lm), "_logprob_rows", never)
    with pytest.raises(torch.OutOfMemoryError):
        lm.continuation_logprobs(PROMPTS[:2], [" yes"])
    lm.max_rows = None


def test_a_loaded_model_pickles_as_a_reference(tiny_dir):
    lm = load(tiny_dir, device="cpu")
    blob = pickle.dumps(lm)
    assert len(blob) < 2000  # the call that loads it, not the weights
    assert pickle.loads(blob) is lm  # in this process: the model already loaded
