"""A small OpenAI-compatible chat server of our own, on 127.0.0.1 only, that misbehaves on request.

It answers ``POST /v1/chat/completions`` with first-token log-probabilities computed from the
prompt by :func:`margin` (a known polynomial of which review words are present), so what a run
should find is known exactly. A ``script(i, prompt)`` decides, per request, what to do instead:
answer (``"ok"``), answer without the labels among the top tokens (``"nolabels"``, or
``"noneg"``: only the second label missing), answer HTTP 500/503/429 (``("status", code,
retry_after)``), stall past the client's timeout (``"stall"``), send non-JSON (``"nonjson"``),
leave out the log-probabilities (``"nologprobs"``), or die (``"die"``: drop the connection and
stop listening, so later requests are refused).

It runs in a daemon thread, answers at most ``max_requests`` requests and stops itself after
``lifetime`` seconds, so a test that goes wrong cannot leave it behind.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

WORDS = ("great", "fun", "not", "dull", "plot", "cast")
TEXT = "great fun not dull plot cast"
LABELS = ("positive", "negative")


def margin_of_words(present: set[str]) -> float:
    """logp(positive) − logp(negative) the server reports, as a polynomial of the words present."""
    x = {w: float(w in present) for w in WORDS}
    return (
        0.5
        + 2.0 * x["great"]
        + 1.0 * x["fun"]
        - 1.5 * x["dull"]
        + 2.5 * x["not"] * x["dull"]  # "not dull" is praise
        - 3.0 * x["not"] * x["great"]
        + 0.25 * x["plot"] * x["cast"]
    )


def words_in(prompt: str) -> set[str]:
    # The review sits before the fixed question; its words are the only ones from WORDS.
    return {w.strip(".,!?").lower() for w in prompt.split()} & set(WORDS)


def margin(prompt: str) -> float:
    return margin_of_words(words_in(prompt))


def _logprobs(prompt: str, *, drop: tuple[str, ...] = ()) -> dict:
    m = margin(prompt)
    # Two log-probabilities whose difference is the margin (their values are otherwise arbitrary).
    pos, neg = -1.0 + m / 2, -1.0 - m / 2
    tops = [
        {"token": "positive", "logprob": pos},
        {"token": "negative", "logprob": neg},
        {"token": "neutral", "logprob": -9.0},
    ]
    tops = [t for t in tops if t["token"] not in drop]
    first = max(tops, key=lambda t: t["logprob"])
    return {"token": first["token"], "logprob": first["logprob"], "top_logprobs": tops}


Action = Any  # "ok" | "nolabels" | "noneg" | "stall" | "nonjson" | "nologprobs" | "die" | ("status", code, retry_after)


class FakeOpenAI:
    """The server; use as a context manager. ``url`` is the base URL (``http://127.0.0.1:PORT/v1``);
    ``port=`` reopens an earlier server's URL (the URL is part of a run's cache identity).

    Attributes
    ----------
    answered : list of str
        Prompts answered with a full, valid answer (what a client may keep).
    log : list of (float, str, Action)
        Every request: arrival time, prompt, what was done.
    """

    def __init__(
        self,
        script: Callable[[int, str], Action] | None = None,
        *,
        max_requests: int = 400,
        lifetime: float = 30.0,
        stall: float = 1.5,
        port: int = 0,
    ) -> None:
        self.script = script or (lambda i, prompt: "ok")
        self.max_requests = max_requests
        self.lifetime = lifetime
        self.stall = stall
        self.answered: list[str] = []
        self.log: list[tuple[float, str, Action]] = []
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._dead = False  # after "die", requests already on their way are dropped too
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server API
                owner._handle(self)

            def log_message(self, *args: Any) -> None:
                pass

        # port=: the same URL as an earlier server (the URL is part of the cache identity).
        self._server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.port = self._server.server_port
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_port}/v1"
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._timer = threading.Timer(lifetime, self.stop)
        self._timer.daemon = True

    # -- life cycle -------------------------------------------------------------------------
    def __enter__(self) -> FakeOpenAI:
        self._thread.start()
        self._timer.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def stop(self) -> None:
        """Stop listening (later connections are refused); idempotent, callable from any thread."""
        if self._stopped.is_set():
            return
        self._stopped.set()
        self._timer.cancel()
        self._server.shutdown()
        self._server.server_close()

    # -- requests ---------------------------------------------------------------------------
    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        body = json.loads(h.rfile.read(int(h.headers.get("content-length", 0))) or b"{}")
        prompt = body.get("messages", [{}])[-1].get("content", "")
        with self._lock:
            i = len(self.log)
            dead = i >= self.max_requests or self._dead
            action = "refuse" if dead else self.script(i, prompt)
            self._dead = self._dead or action == "die"
            self.log.append((time.monotonic(), prompt, action))
        if action in ("die", "refuse"):
            # Drop this connection unanswered and stop listening (from another thread: shutdown
            # waits for the serving loop, which is not this handler's thread).
            h.close_connection = True
            threading.Thread(target=self.stop, daemon=True).start()
            return
        stalled = action == "stall"
        if stalled:
            # The client has given up by now: whatever is sent does not count as answered.
            time.sleep(self.stall)
            action = "ok"
        if isinstance(action, tuple) and action[0] == "status":
            _, code, retry_after = action
            headers = {"retry-after": str(retry_after)} if retry_after is not None else {}
            return self._send(h, code, b'{"error": {"message": "try again"}}', headers)
        if action == "nonjson":
            return self._send(h, 200, b"<html><body>502 Bad Gateway</body></html>", {"content-type": "text/html"})
        if action == "nologprobs":
            answer = {"choices": [{"message": {"role": "assistant", "content": "positive"}}]}
        else:
            drop = LABELS if action == "nolabels" else ("negative",) if action == "noneg" else ()
            answer = {"choices": [{"logprobs": {"content": [_logprobs(prompt, drop=drop)]}}]}
        sent = self._send(h, 200, json.dumps(answer).encode(), {"content-type": "application/json"})
        if sent and not stalled and action != "nologprobs":
            with self._lock:
                self.answered.append(prompt)

    @staticmethod
    def _send(h: BaseHTTPRequestHandler, code: int, data: bytes, headers: dict[str, str]) -> bool:
        try:
            h.send_response(code)
            for k, v in headers.items():
                h.send_header(k, v)
            h.send_header("content-length", str(len(data)))
            h.end_headers()
            h.wfile.write(data)
            h.wfile.flush()
            return True
        except OSError:  # the client gave up (a stalled request past its timeout)
            return False


def first_tries(action: Action, k: int, then: Action = "ok") -> Callable[[int, str], Action]:
    """A script: ``action`` on the first try of the first ``k`` distinct prompts, else ``then``."""
    seen: dict[str, int] = {}

    def script(i: int, prompt: str) -> Action:
        seen[prompt] = seen.get(prompt, 0) + 1
        first = seen[prompt] == 1 and len(seen) <= k
        return (action(len(seen)) if callable(action) else action) if first else then

    return script
