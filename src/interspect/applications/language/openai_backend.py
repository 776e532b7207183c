"""An OpenAI-compatible HTTP endpoint (OpenAI, vLLM, llama.cpp server, Ollama) as a backend.

Scores come from the log-probabilities the server returns:

- margin (SPEC §5, puzzles): one chat completion per prompt with ``max_tokens=1`` and
  ``top_logprobs``; the score of a label is the log-probability of the first answer token whose
  text equals the label (leading/trailing spaces ignored). A label that is not among the returned
  top tokens gets a **floor**: the smallest returned top log-probability, an upper bound on its
  true value (the token is less likely than every returned one). Floors are counted in
  ``backend.stats["floored"]``; a run never crashes on a missing log-probability.
- logprob (teacher forcing): the legacy ``/completions`` endpoint on the raw prompt text, one
  request per target token (``max_tokens=1``, ``logprobs``), the target split into tokens by the
  server itself; missing tokens get the same floor. Needs a server with ``/completions``
  (vLLM, llama.cpp, Ollama); OpenAI's chat models only support the margin scorer.

Requests run with bounded concurrency and are retried with exponential backoff on HTTP 429,
5xx, timeouts and connection errors; an endpoint that stays down gives a one-line
``ConnectionError``. The API key is read from ``OPENAI_API_KEY`` (none is sent when unset).
``httpx`` comes with the ``openai`` extra.
"""

from __future__ import annotations

import math
import os
import random
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Literal

import numpy as np

__all__ = ["OpenAIBackend"]


class OpenAIBackend:
    """Client for ``openai:MODEL@BASE_URL``; create it with :func:`interspect.applications.language.load`.

    Parameters
    ----------
    model : str
        Model name the server knows.
    base_url : str
        E.g. ``"https://api.openai.com/v1"`` or ``"http://127.0.0.1:8000/v1"``.
    concurrency : int
        Requests in flight at once.
    max_retries : int
        Retries of one request on 429/5xx/timeouts/connection errors.
    timeout : float
        Seconds per request.
    top_logprobs : int
        How many alternatives to ask for (OpenAI allows up to 20).
    backoff : float
        First retry delay in seconds (doubled each time, with jitter).

    Examples
    --------
    >>> from interspect.applications.language import load
    >>> lm = load("openai:gpt-4o-mini@https://api.openai.com/v1")  # doctest: +SKIP
    """

    kind: Literal["causal"] = "causal"
    mask_token = None
    has_chat_template = True

    def __init__(
        self,
        model: str,
        base_url: str,
        *,
        concurrency: int = 8,
        max_retries: int = 4,
        timeout: float = 60.0,
        top_logprobs: int = 20,
        backoff: float = 0.5,
        api_key: str | None = None,
    ) -> None:
        try:
            import httpx
        except ImportError:
            raise ImportError(
                "OpenAI-compatible endpoints need the 'openai' extra (httpx is missing); install "
                "with `pip install 'interspect[openai]'`"
            ) from None
        from interspect.core.validation import check_positive_int

        self._httpx = httpx
        self.model = model
        self.base_url = base_url.rstrip("/")
        self.name = f"openai:{model}"
        self.concurrency = check_positive_int(concurrency, "concurrency")
        self.max_retries = check_positive_int(max_retries, "max_retries", minimum=0)
        self.top_logprobs = check_positive_int(top_logprobs, "top_logprobs")
        self.timeout = float(timeout)
        self.backoff = float(backoff)
        key = api_key if api_key is not None else os.environ.get("OPENAI_API_KEY")
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        self._client = httpx.Client(
            base_url=self.base_url,
            headers=headers,
            timeout=self.timeout,
            limits=httpx.Limits(max_connections=self.concurrency),
        )
        self._pool = ThreadPoolExecutor(max_workers=self.concurrency)
        self._lock = threading.Lock()
        self._tokens: dict[str, list[str]] = {}  # target text -> the server's tokens
        self.stats = {"requests": 0, "retries": 0, "floored": 0}

    @classmethod
    def from_spec(cls, spec: str, **options: Any) -> OpenAIBackend:
        body = spec[len("openai:") :]
        model, sep, url = body.partition("@")
        if not model or not sep or not url.startswith(("http://", "https://")):
            raise ValueError(
                f"spec={spec!r} must look like 'openai:MODEL@BASE_URL', e.g. "
                "'openai:gpt-4o-mini@https://api.openai.com/v1'"
            )
        return cls(model, url, **options)

    # -- prompts -----------------------------------------------------------------------------
    def identity(self) -> dict:
        return {"backend": "openai", "model": self.model, "base_url": self.base_url}

    def template_fingerprint(self) -> str:
        return "server-side chat template"

    def render(self, message: str, answer_prefix: str = "") -> str:
        """The user message itself: the server applies its chat template."""
        if answer_prefix:
            raise ValueError(
                "answer_prefix is not supported by OpenAI-compatible chat endpoints; put the "
                "instruction in question= and use single-token labels"
            )
        return message

    def check_continuation(self, text: str, *, what: str = "target") -> list[str]:
        if not isinstance(text, str) or not text.strip():
            raise ValueError(f"{what} must be a non-empty string, got {text!r}")
        return [text]

    # -- HTTP ----------------------------------------------------------------------------------
    def _post(self, path: str, payload: dict) -> dict:
        httpx = self._httpx
        last = ""
        for attempt in range(self.max_retries + 1):
            if attempt:
                with self._lock:
                    self.stats["retries"] += 1
            try:
                with self._lock:
                    self.stats["requests"] += 1
                r = self._client.post(path, json=payload)
            except httpx.TimeoutException:
                last = f"timed out after {self.timeout:.0f} s"
                wait = None
            except httpx.TransportError as exc:
                last = f"{type(exc).__name__}: {exc}"
                wait = None
            else:
                if r.status_code == 200:
                    try:
                        return r.json()
                    except ValueError:
                        raise RuntimeError(
                            f"{self.base_url}{path} returned a non-JSON answer: {r.text[:200]!r}"
                        ) from None
                if r.status_code != 429 and r.status_code < 500:
                    raise RuntimeError(
                        f"{self.base_url}{path} refused the request (HTTP {r.status_code}): "
                        f"{' '.join(r.text[:300].split())}"
                    )
                last = f"HTTP {r.status_code}"
                try:
                    wait = float(r.headers.get("retry-after", ""))
                except ValueError:
                    wait = None
            if attempt < self.max_retries:
                delay = wait if wait is not None else self.backoff * 2**attempt
                time.sleep(min(delay, 60.0) * (1 + 0.25 * random.random()))
        raise ConnectionError(
            f"OpenAI-compatible endpoint {self.base_url} failed after {self.max_retries + 1} "
            f"tries ({last}); is the server up and the URL right?"
        )

    def _map(self, fn: Any, items: Sequence[Any]) -> list[Any]:
        if len(items) <= 1:
            return [fn(x) for x in items]
        return list(self._pool.map(fn, items))

    def _floor(self, tops: dict[str, float]) -> float:
        with self._lock:
            self.stats["floored"] += 1
        finite = [v for v in tops.values() if v is not None and math.isfinite(v)]
        # With no alternatives at all there is no information; a very low log-prob stands in.
        return min(finite) if finite else -100.0

    @staticmethod
    def _pick(tops: dict[str, float], token: str, exact: bool) -> float | None:
        if exact:
            v = tops.get(token)
            return v if v is not None and math.isfinite(v) else None
        want = token.strip()
        vals = [v for t, v in tops.items() if t.strip() == want and v is not None and math.isfinite(v)]
        return max(vals) if vals else None

    # -- scorers ------------------------------------------------------------------------------
    def label_logprobs(self, prompts: Sequence[str], labels: Sequence[str]) -> np.ndarray:
        """First-answer-token log-probability of each label after each prompt (chat endpoint)."""

        def one(prompt: str) -> list[float]:
            body = self._post(
                "/chat/completions",
                {
                    "model": self.model,
                    "messages": [{"role": "user", "content": prompt}],
                    "max_tokens": 1,
                    "temperature": 0,
                    "seed": 0,
                    "logprobs": True,
                    "top_logprobs": self.top_logprobs,
                },
            )
            try:
                first = body["choices"][0]["logprobs"]["content"][0]
                tops = {d["token"]: d["logprob"] for d in first.get("top_logprobs") or []}
                tops.setdefault(first["token"], first["logprob"])
            except (KeyError, IndexError, TypeError):
                raise RuntimeError(
                    f"{self.base_url} returned no log-probabilities; it must support "
                    "'logprobs'/'top_logprobs' on /chat/completions"
                ) from None
            out = []
            for lab in labels:
                v = self._pick(tops, lab, exact=False)
                out.append(v if v is not None else self._floor(tops))
            return out

        return np.array(self._map(one, list(prompts)), dtype=float).reshape(len(prompts), len(labels))

    def _completion(self, prompt: str, **extra: Any) -> dict:
        body = self._post(
            "/completions",
            {"model": self.model, "prompt": prompt, "temperature": 0, "seed": 0, **extra},
        )
        try:
            return body["choices"][0]
        except (KeyError, IndexError, TypeError):
            raise RuntimeError(f"{self.base_url}/completions returned no choices: {str(body)[:200]}") from None

    def _raw(self, prompt: str) -> str:
        return prompt + "\n"

    def generate(self, prompt: str, *, max_new_tokens: int = 32) -> str:
        """Greedy answer on the raw prompt (``/completions``); remembers the server's tokens."""
        choice = self._completion(self._raw(prompt), max_tokens=max_new_tokens, logprobs=1)
        text = choice.get("text") or ""
        tokens = (choice.get("logprobs") or {}).get("tokens")
        if tokens and "".join(tokens) == text:
            self._tokens[text] = list(tokens)
        return text

    def _target_tokens(self, target: str) -> list[str]:
        if target not in self._tokens:
            # Let the server split the target: echo it back with its tokens.
            choice = self._completion(target, max_tokens=1, logprobs=1, echo=True)
            lp = choice.get("logprobs") or {}
            toks, offs = lp.get("tokens") or [], lp.get("text_offset") or []
            mine = [t for t, o in zip(toks, offs) if o < len(target)]
            if "".join(mine) != target:
                raise ValueError(
                    f"target={target!r} could not be split into tokens by {self.base_url} "
                    "(the server must support echo with logprobs on /completions)"
                )
            self._tokens[target] = mine
        return self._tokens[target]

    def continuation_logprobs(self, prompts: Sequence[str], continuations: Sequence[str]) -> np.ndarray:
        """Teacher-forced log p(continuation | raw prompt), one ``/completions`` call per token."""
        jobs = [
            (i, j, q, self._raw(p) + "".join(toks[:q]), toks[q])
            for j, c in enumerate(continuations)
            for toks in [self._target_tokens(c)]
            for i, p in enumerate(prompts)
            for q in range(len(toks))
        ]

        def one(job: tuple) -> float:
            _, _, _, prefix, token = job
            choice = self._completion(prefix, max_tokens=1, logprobs=self.top_logprobs)
            lp = choice.get("logprobs") or {}
            tops_list = lp.get("top_logprobs") or [{}]
            tops = dict(tops_list[0] or {})
            toks, vals = lp.get("tokens") or [], lp.get("token_logprobs") or []
            if toks and vals and vals[0] is not None:
                tops.setdefault(toks[0], vals[0])
            v = self._pick(tops, token, exact=True)
            return v if v is not None else self._floor(tops)

        vals = self._map(one, jobs)
        out = np.zeros((len(prompts), len(continuations)))
        for (i, j, *_), v in zip(jobs, vals):
            out[i, j] += v
        return out

    def close(self) -> None:
        self._pool.shutdown(wait=False)
        self._client.close()
