"""Exact teacher-forced scores from a model server (echo + logprobs on /completions).

The server is llama-cpp-python's on loopback serving the embedded SmolLM2 GGUF (CI installs it
in .ci/run; without it the tests skip and say so). The independent reference is the same
weights in transformers, in this process. The two engines differ in arithmetic (llama.cpp
quantises activations for its Q4_1 matrix products), so the stated tolerance is 0.5 nat per
answer and 0.25 nat on average (the largest gap measured on these pairs: about 0.3); the
per-token fallback, which floors tokens outside the top log-probabilities, misses by several nats.
"""

from __future__ import annotations

import numpy as np
import pytest

from interspect.applications.language import load
from test_models_openai import server  # noqa: F401 - the fixture

pytestmark = pytest.mark.llm

MESSAGES = ["The capital of France is?", "Is this review positive or negative? A gorgeous film."]
TARGETS = [" Paris is in France.", " positive"]


@pytest.fixture(scope="module")
def hf():
    from llm_required import require_embedded_model

    require_embedded_model()
    return load("smollm2")


def test_exact_scores_equal_the_in_process_model(server, hf):  # noqa: F811
    lm = load(f"openai:smollm2@{server}", concurrency=1)  # one at a time: exact request counts
    assert lm.scoring == "auto" and lm.identity()["scoring"] == "auto"
    # chat-formatted prompts start with SmolLM2's BOS token, where llama-cpp-python's echoed
    # values sit at the right positions
    prompts = [hf.render(m) for m in MESSAGES]
    for t in TARGETS:
        lm._target_tokens(t)  # split once per answer, before counting
    before = lm.stats["requests"]
    got = lm.continuation_logprobs(prompts, TARGETS)
    pairs = len(prompts) * len(TARGETS)
    assert lm.stats["exact"] == pairs and lm.stats.get("fallback", 0) == 0
    # per pair one scoring request and one tokenize (no forward pass); once: an alignment
    # probe, and a 404 from vLLM's tokenize route before llama-cpp-python's
    assert lm.stats["requests"] - before == 2 * pairs + 2
    ref = hf.continuation_logprobs([p + "\n" for p in prompts], TARGETS)
    gap = np.abs(got - ref)
    assert gap.max() <= 0.5 and gap.mean() <= 0.25, gap
    approx = load(f"openai:smollm2@{server}", concurrency=2, scoring="per_token")
    fallback = approx.continuation_logprobs(prompts, TARGETS)
    assert approx.stats["floored"] > 0 and np.abs(fallback - ref).max() > 2.0
    assert approx.identity() != lm.identity()  # cached under their own identities
    lm.close()
    approx.close()


def test_misaligned_prompts_fall_back_and_say_so(server, hf):  # noqa: F811
    # A raw prompt without BOS: llama-cpp-python shifts the echoed values by one position; the
    # probe sees it and the per-token path scores these prompts instead.
    lm = load(f"openai:smollm2@{server}", concurrency=1)
    got = lm.continuation_logprobs(["Where is Paris?"], [" Paris is in France."])
    assert lm.stats.get("exact", 0) == 0 and lm.stats["fallback"] == 1 and lm.stats["exact_refused"] == 1
    assert np.isfinite(got).all()
    strict = load(f"openai:smollm2@{server}", concurrency=1, scoring="echo")
    with pytest.raises(RuntimeError, match="could not score 1 prompt.*scoring='auto'"):
        strict.continuation_logprobs(["Where is Paris?"], [" Paris is in France."])
    with pytest.raises(ValueError, match="scoring='exact'.*accepted values"):
        load(f"openai:smollm2@{server}", scoring="exact")
    lm.close()
    strict.close()
