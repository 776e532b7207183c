"""The OpenAI-compatible backend against a real server on loopback.

The server is llama-cpp-python's, running the embedded SmolLM2 GGUF; the test skips (with the
install line) when ``llama_cpp`` is missing. The independent reference is the same weights run
by transformers (a different engine: llama.cpp quantises activations, so log-probabilities agree
to a few tenths of a nat, not to 1e-4). Retry/backoff is exercised with a tiny local HTTP server
that fails on purpose before answering.
"""

from __future__ import annotations

import importlib.util
import json
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

from interspect.applications.language import embedded_model_path, load
from interspect.applications.text import TextValueFunction
from interspect.engines.exact import all_masks
from interspect.queries.layer import Queries

pytestmark = pytest.mark.llm

if importlib.util.find_spec("httpx") is None:
    pytest.skip("needs the 'openai' extra (httpx)", allow_module_level=True)

HAVE_LLAMA = importlib.util.find_spec("llama_cpp") is not None
LLAMA_REASON = (
    "llama-cpp-python[server] is not installed (CI: pip install 'llama-cpp-python[server]==0.3.36'); "
    "it serves the embedded model on loopback for this test"
)
QUESTION = "Is this review positive or negative? Answer with one word."


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    if not HAVE_LLAMA:
        pytest.skip(LLAMA_REASON)
    try:
        gguf = embedded_model_path()
    except ModuleNotFoundError as exc:
        pytest.skip(str(exc))
    import httpx

    port = _free_port()
    # llama.cpp logs a lot: a file, not a pipe nobody reads (a full pipe would block the server)
    log = open(tmp_path_factory.mktemp("llama") / "server.log", "w+")  # noqa: SIM115
    proc = subprocess.Popen(
        [sys.executable, "-m", "llama_cpp.server", "--model", str(gguf), "--host", "127.0.0.1",
         "--port", str(port), "--n_ctx", "2048", "--model_alias", "smollm2", "--n_threads", "2",
         "--logits_all", "true"],
        stdout=log, stderr=subprocess.STDOUT, text=True,
    )
    url = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + 60
    try:
        while True:
            if proc.poll() is not None:
                log.seek(0)
                pytest.fail(f"llama.cpp server exited: {log.read()[-1000:]}")
            try:
                if httpx.get(f"{url}/models", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("llama.cpp server did not come up within 60 s")
            time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@pytest.fixture(scope="module")
def api(server):
    lm = load(f"openai:smollm2@{server}", concurrency=2, top_logprobs=20)
    yield lm
    lm.close()


def test_margin_batched_equals_one_at_a_time_and_matches_transformers(api, tmp_path):
    text = "A gorgeous, witty film."  # 4 words, 16 masks
    vf = TextValueFunction(api, text, question=QUESTION, labels=("positive", "negative"), batch_size=8)
    cached = Queries(vf, vf.n, cache=tmp_path / "q.sqlite")
    X = all_masks(vf.n)
    y = cached(X)
    assert cached.stats["computed"] == 16 and np.all(np.isfinite(y))
    one = load(f"openai:smollm2@{api.base_url}", concurrency=1)
    vf1 = TextValueFunction(one, text, question=QUESTION, labels=("positive", "negative"), batch_size=1)
    rows = [0, 7, 15]
    np.testing.assert_allclose(vf1(X[rows]), y[rows], atol=1e-4)  # the server is deterministic
    one.close()
    # rerun: all from the cache, no request
    before = api.stats["requests"]
    again = TextValueFunction(api, text, question=QUESTION, labels=("positive", "negative"))
    cached_again = Queries(again, again.n, cache=tmp_path / "q.sqlite")
    np.testing.assert_array_equal(cached_again(X), y)
    assert cached_again.stats["from_cache"] == 16 and api.stats["requests"] == before
    # the same weights in transformers (another engine) tell the same story
    hf = load("smollm2")
    ref = TextValueFunction(hf, text, question=QUESTION, labels=("positive", "negative"))(X)
    assert np.corrcoef(y, ref)[0, 1] > 0.8  # measured here: 0.96
    assert np.max(np.abs(y - ref)) < 1.0


def test_missing_label_gets_a_floor(api):
    lm = load(f"openai:smollm2@{api.base_url}", concurrency=1, top_logprobs=3)
    vf = TextValueFunction(lm, "Great fun.", question=QUESTION, labels=("This", "zzzqqq"))
    y = vf(all_masks(2))
    assert np.all(np.isfinite(y)) and np.all(y >= 0)  # floor = smallest returned top-logprob
    assert lm.stats["floored"] >= 4
    lm.close()


def test_teacher_forced_logprob_via_completions(api):
    vf = TextValueFunction(api, "Paris is in France. Berlin is in Germany.", question="Where is Paris?",
                           unit="sentence", target=" Paris is in France.")
    y = vf(all_masks(2))
    assert np.all(np.isfinite(y)) and np.all(y < 0)
    assert y[1] > y[2]  # the sentence stating the answer makes it more likely
    assert api._tokens[" Paris is in France."][0] == " Paris"


def test_endpoint_down_is_one_line(tmp_path):
    lm = load(f"openai:m@http://127.0.0.1:{_free_port()}/v1", max_retries=1, backoff=0.01, timeout=2)
    with pytest.raises(ConnectionError, match="failed after 2 tries") as info:
        TextValueFunction(lm, "good fun", labels=("yes", "no"))(np.ones((1, 2)))
    assert "\n" not in str(info.value)
    with pytest.raises(ValueError, match="openai:MODEL@BASE_URL"):
        load("openai:no-url")


class _Flaky(BaseHTTPRequestHandler):
    failures = 2
    seen = 0

    def do_POST(self):  # noqa: N802 - http.server API
        self.rfile.read(int(self.headers.get("content-length", 0)))
        cls = type(self)
        cls.seen += 1
        cls.auth = self.headers.get("authorization")
        if cls.seen <= cls.failures:
            self.send_response(429 if cls.seen == 1 else 503)
            self.send_header("content-length", "0")
            self.end_headers()
            return
        body = json.dumps({"choices": [{"logprobs": {"content": [{
            "token": "yes", "logprob": -0.5,
            "top_logprobs": [{"token": "yes", "logprob": -0.5}, {"token": " no", "logprob": -1.25}],
        }]}}]}).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_retries_with_backoff_on_429_and_5xx(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-key")
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Flaky)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:
        lm = load(f"openai:m@http://127.0.0.1:{srv.server_port}/v1", backoff=0.01, concurrency=1)
        out = lm.label_logprobs(["hi"], ["yes", "no", "maybe"])
        np.testing.assert_allclose(out, [[-0.5, -1.25, -1.25]])  # "maybe" is floored
        assert lm.stats["retries"] == 2 and lm.stats["floored"] == 1
        assert _Flaky.auth == "Bearer sk-test-key"
        lm.close()
    finally:
        srv.shutdown()
