"""An OpenAI-compatible HTTP endpoint (OpenAI, vLLM, llama.cpp server, Ollama) as a backend.

Scores come from the log-probabilities the server returns:

- margin (SPEC §5, puzzles): one chat completion per prompt with ``max_tokens=1`` and
  ``top_logprobs``; the score of a label is the log-probability of the first answer token whose
  text equals the label (leading/trailing spaces ignored). A label that is not among the returned
  top tokens gets a **floor**: the smallest returned top log-probability, an upper bound on its
  true value (the token is less likely than every returned one). Floors are counted in
  ``backend.stats["floored"]``; a run never crashes on a missing log-probability.
- logprob (teacher forcing), **exact**: one ``/completions`` request per prompt with the answer
  appended, ``echo=True`` and ``logprobs``: the server returns the log-probability of every
  prompt token, and the answer's tokens' are summed — the whole answer, exactly, in one request
  (vLLM, llama.cpp servers). Used where the server supports it (``scoring="auto"``, the
  default): the answer must come back as the same tokens the server gives it alone, the
  response must say how many tokens it generated (``usage``), and a one-time probe per kind of
  prompt start checks that the echoed values belong to the right positions
  (llama-cpp-python's server shifts them by one when the prompt does not start with the BOS
  token). ``backend.stats["exact"]`` counts the prompts scored this way.
- logprob, **fallback** (``scoring="per_token"``, and any prompt the exact path cannot score):
  the raw prompt text, one request per target token (``max_tokens=1``, ``logprobs``), the
  target split into tokens by the server itself; a token outside the returned top
  log-probabilities gets the same floor, so this is an approximation
  (``backend.stats["fallback"]`` counts its prompts). Both need ``/completions`` (vLLM,
  llama.cpp, Ollama); OpenAI's chat models only support the margin scorer.

Requests run with bounded concurrency and are retried with exponential backoff on HTTP 429
(honouring ``Retry-After``), 5xx, timeouts and connection errors; every retry is reported to
``on_retry`` (``explain_text`` shows it on the progress line). An endpoint that stays down gives a
one-line ``ConnectionError``; a server that answers without log-probabilities, or not in JSON, a
one-line ``RuntimeError``. When some requests of a call fail, the answers that did arrive are not
thrown away: they travel on the error (:mod:`interspect.queries.partial`) to the query layer,
which keeps them in its cache. The API key is read from ``OPENAI_API_KEY`` (none is sent when
unset); sending it over plain ``http://`` to a host other than this machine warns once.
``httpx`` comes with the ``openai`` extra.
"""

from __future__ import annotations

import ipaddress
import math
import os
import random
import threading
import time
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import CancelledError, ThreadPoolExecutor, as_completed
from email.utils import parsedate_to_datetime
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

import numpy as np

from interspect.queries.partial import attach_partial

__all__ = ["OpenAIBackend", "SCORING"]

#: ``scoring=`` values of the teacher-forced (``logprob``) scorer; see the module docstring.
SCORING = ("auto", "echo", "per_token")

#: Longest wait between two tries, whatever a Retry-After header asks for.
MAX_RETRY_WAIT = 60.0

_KEY_WARNED: set[str] = set()  # base URLs already warned about (once per process)


def _public_url(url: str) -> str:
    """``url`` without user:password@ (for messages, identities and reports)."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"[{host}]" if ":" in host else host
    if parts.port is not None:
        netloc += f":{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def _is_loopback(host: str | None) -> bool:
    if not host:
        return False
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _retry_after(value: str | None) -> float | None:
    """Seconds a ``Retry-After`` header asks for (a number or an HTTP date), or None."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


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
        Retries of one request on 429/5xx/timeouts/connection errors (0: no retry).
    timeout : float
        Seconds per request (connect, send, wait for the answer).
    top_logprobs : int
        How many alternatives to ask for (OpenAI allows up to 20).
    backoff : float
        First retry delay in seconds (doubled each time, with jitter), unless the server sends
        ``Retry-After``.
    api_key : str, optional
        Sent as ``Authorization: Bearer``; default ``$OPENAI_API_KEY``.

    Attributes
    ----------
    stats : dict
        ``requests`` sent (tries included), ``retries``, ``scores`` label/token log-probabilities
        read, ``floored`` of them not among the returned top tokens (given the floor).
    on_retry : callable or None
        Called as ``on_retry(text)`` (from a worker thread) before each retry, e.g. with
        ``"HTTP 503: retry 1/4 in 0.5 s"``.

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
        self.url = _public_url(self.base_url)
        self.name = f"openai:{model}"
        self.concurrency = check_positive_int(concurrency, "concurrency")
        self.max_retries = check_positive_int(max_retries, "max_retries", minimum=0)
        self.top_logprobs = check_positive_int(top_logprobs, "top_logprobs")
        self.timeout = _check_seconds(timeout, "timeout", positive=True)
        self.backoff = _check_seconds(backoff, "backoff", positive=False)
        self.on_retry: Callable[[str], Any] | None = None
        key = api_key if api_key is not None else os.environ.get("OPENAI_API_KEY")
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        parts = urlsplit(self.base_url)
        if key and parts.scheme == "http" and not _is_loopback(parts.hostname):
            if self.url not in _KEY_WARNED:
                _KEY_WARNED.add(self.url)
                warnings.warn(
                    f"the API key is sent in clear text to {self.url} (plain http:// to another "
                    "machine); use https://, or unset OPENAI_API_KEY if the server needs none",
                    stacklevel=3,
                )
        self._client = httpx.Client(
            base_url=self.base_url,
            headers=headers,
            timeout=self.timeout,
            limits=httpx.Limits(max_connections=self.concurrency),
        )
        self._pool = ThreadPoolExecutor(max_workers=self.concurrency)
        self._lock = threading.Lock()
        self._tokens: dict[str, list[str]] = {}  # target text -> the server's tokens
        self._local = threading.local()  # per calling thread: floors of its latest scoring call
        self.stats = {"requests": 0, "retries": 0, "scores": 0, "floored": 0}

    #: How ``continuation_logprobs`` scores: ``"auto"`` (exact where the server can, see the
    #: module docstring), ``"echo"`` (exact or an error), ``"per_token"`` (the fallback only).
    scoring: Literal["auto", "echo", "per_token"] = "auto"

    @classmethod
    def from_spec(cls, spec: str, **options: Any) -> OpenAIBackend:
        scoring = options.pop("scoring", "auto")
        if scoring not in SCORING:
            raise ValueError(f"scoring={scoring!r} is not supported; accepted values: {', '.join(map(repr, SCORING))}")
        backend = cls._from_spec(spec, **options)
        backend.scoring = scoring
        return backend

    @classmethod
    def _from_spec(cls, spec: str, **options: Any) -> OpenAIBackend:
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
        # The scoring mode changes teacher-forced scores (exact vs floored), so it is part of
        # what the cache files outputs under.
        return {"backend": "openai", "model": self.model, "base_url": self.url, "scoring": self.scoring}

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
                last = f"no answer within {self.timeout:g} s"
                wait = None
            except httpx.TransportError as exc:
                last = f"{type(exc).__name__}: {' '.join(str(exc).split()) or 'connection failed'}"
                wait = None
            else:
                if r.status_code == 200:
                    try:
                        return r.json()
                    except ValueError:
                        raise RuntimeError(
                            f"{self.url}{path} answered HTTP 200 with something that is not JSON "
                            f"({' '.join(r.text[:120].split())!r}); is this an OpenAI-compatible API "
                            "(the URL usually ends in /v1)?"
                        ) from None
                if r.status_code != 429 and r.status_code < 500:
                    raise RuntimeError(
                        f"{self.url}{path} refused the request (HTTP {r.status_code}): "
                        f"{' '.join(r.text[:300].split())}"
                    )
                last = f"HTTP {r.status_code}"
                wait = _retry_after(r.headers.get("retry-after"))
            if attempt < self.max_retries:
                delay = wait if wait is not None else self.backoff * 2**attempt * (1 + 0.25 * random.random())
                delay = min(delay, MAX_RETRY_WAIT)
                hook = self.on_retry
                if hook is not None:
                    hook(f"{last}: retry {attempt + 1}/{self.max_retries} in {delay:.1f} s")
                time.sleep(delay)
        raise ConnectionError(
            f"OpenAI-compatible endpoint {self.url} failed after {self.max_retries + 1} "
            f"tries ({last}); is the server up and the URL right? (timeout and max_retries, on the "
            "command line --timeout and --retries, bound the wait)"
        )

    def _map(self, fn: Any, items: Sequence[Any]) -> tuple[list[Any], BaseException | None]:
        """``fn`` over ``items`` on the pool: ``(results, first error)``, ``None`` in place of the
        result of each item that failed or was not sent. After the first failure the requests not
        yet started are dropped (an endpoint that is down fails them all the same)."""
        results: list[Any] = [None] * len(items)
        if len(items) <= 1:
            for i, x in enumerate(items):
                try:
                    results[i] = fn(x)
                except Exception as exc:
                    return results, exc
            return results, None
        futures = {self._pool.submit(fn, x): i for i, x in enumerate(items)}
        error: BaseException | None = None
        try:
            for fut in as_completed(futures):
                try:
                    results[futures[fut]] = fut.result()
                except CancelledError:
                    pass
                except Exception as exc:
                    if error is None:
                        error = exc
                        for other in futures:
                            other.cancel()
        except BaseException as exc:  # Ctrl-C while waiting: keep what arrived
            for other in futures:
                other.cancel()
            for fut, i in futures.items():
                if fut.done() and not fut.cancelled() and fut.exception() is None:
                    results[i] = fut.result()
            error = exc
        return results, error

    def _count(self, scores: int, floored: int) -> None:
        with self._lock:
            self.stats["scores"] += scores
            self.stats["floored"] += floored

    @staticmethod
    def _floor_value(tops: dict[str, float]) -> float:
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

    def last_floored(self) -> np.ndarray | None:
        """For each prompt of this thread's latest scoring call (:meth:`label_logprobs` or
        :meth:`continuation_logprobs`): the share of its log-probabilities that were floored
        (1.0: none of its labels/tokens was among the returned top tokens); None before any call."""
        return getattr(self._local, "floored", None)

    def _finish(self, values: np.ndarray, floored: np.ndarray, error: BaseException | None) -> np.ndarray:
        self._local.floored = floored
        if error is not None:
            # NaN marks what did not arrive; the rest travels on the error to the query layer.
            raise attach_partial(error, values)
        return values

    # -- scorers ------------------------------------------------------------------------------
    def label_logprobs(self, prompts: Sequence[str], labels: Sequence[str]) -> np.ndarray:
        """First-answer-token log-probability of each label after each prompt (chat endpoint)."""

        def one(prompt: str) -> tuple[list[float], int]:
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
            except (KeyError, IndexError, TypeError, AttributeError):
                raise RuntimeError(
                    f"{self.url} answered without log-probabilities; the server must support "
                    "'logprobs' and 'top_logprobs' on /chat/completions"
                ) from None
            out, floored = [], 0
            for lab in labels:
                v = self._pick(tops, lab, exact=False)
                if v is None:
                    floored += 1
                    v = self._floor_value(tops)
                out.append(v)
            self._count(len(labels), floored)
            return out, floored

        prompts = list(prompts)
        results, error = self._map(one, prompts)
        k = len(labels)
        values = np.full((len(prompts), k), np.nan)
        floored = np.full(len(prompts), np.nan)
        for i, r in enumerate(results):
            if r is not None:
                values[i], floored[i] = r[0], r[1] / max(k, 1)
        return self._finish(values, floored, error)

    def _completion(self, prompt: str, **extra: Any) -> dict:
        body = self._post(
            "/completions",
            {"model": self.model, "prompt": prompt, "temperature": 0, "seed": 0, **extra},
        )
        try:
            return body["choices"][0]
        except (KeyError, IndexError, TypeError):
            raise RuntimeError(
                f"{self.url}/completions answered without choices: {' '.join(str(body)[:200].split())}"
            ) from None

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
                    f"target={target!r} could not be split into tokens by {self.url} "
                    "(the server must support echo with logprobs on /completions)"
                )
            self._tokens[target] = mine
        return self._tokens[target]

    def continuation_logprobs(self, prompts: Sequence[str], continuations: Sequence[str]) -> np.ndarray:
        """Teacher-forced ``log p(continuation | raw prompt)``: exact, one request per prompt and
        continuation, where the server allows (see the module docstring); else the per-token
        fallback."""
        if self.scoring == "per_token":
            return self._per_token_logprobs(prompts, continuations)
        prompts = list(prompts)
        out = self._exact_logprobs(prompts, continuations)
        missing = np.argwhere(np.isnan(out))
        if len(missing) and self.scoring == "echo":
            raise RuntimeError(
                f"{self.url} could not score {len(missing)} prompt(s) exactly with echo + "
                "logprobs on /completions (see backend.stats['exact_refused']); use scoring='auto' "
                "to fall back to one request per answer token"
            )
        floored = np.zeros(len(prompts))  # exact scores are never floored
        try:
            for i, j in missing:
                with self._lock:
                    self.stats["fallback"] = self.stats.get("fallback", 0) + 1
                out[i, j] = self._per_token_logprobs([prompts[i]], [continuations[j]])[0, 0]
                floored[i] = max(floored[i], float(self.last_floored()[0]))
        except Exception as exc:
            # What arrived (exactly or by the fallback) travels on to the query layer.
            self._local.floored = floored
            raise attach_partial(exc, out) from None
        self._local.floored = floored
        return out

    # -- exact teacher forcing: echo + logprobs ----------------------------------------------
    #: Largest gap (nats) between the probe's two readings of one next-token distribution that
    #: still counts as the same distribution (the server computes both in different batches).
    ALIGN_TOL = 0.02

    def _exact_logprobs(self, prompts: Sequence[str], continuations: Sequence[str]) -> np.ndarray:
        """``(len(prompts), len(continuations))`` exact log-probabilities; NaN where the server
        could not give one (the caller falls back)."""
        jobs = [(i, j) for j in range(len(continuations)) for i in range(len(prompts))]
        toks = {c: self._target_tokens(c) for c in continuations}

        def one(job: tuple[int, int]) -> float:
            i, j = job
            v = self._echo_score(self._raw(prompts[i]), continuations[j], toks[continuations[j]])
            with self._lock:
                key = "exact" if v is not None else "exact_refused"
                self.stats[key] = self.stats.get(key, 0) + 1
            return float("nan") if v is None else v

        results, error = self._map(one, jobs)
        out = np.full((len(prompts), len(continuations)), np.nan)
        for (i, j), v in zip(jobs, results):
            if v is not None:
                out[i, j] = v
        if error is not None:
            self._local.floored = np.zeros(len(prompts))
            raise attach_partial(error, out)
        return out

    def _echo_score(self, raw: str, target: str, target_tokens: list[str]) -> float | None:
        """Sum of the echoed log-probabilities of ``target``'s tokens after ``raw``, or None."""
        body = self._post(
            "/completions",
            {"model": self.model, "prompt": raw + target, "max_tokens": 1, "temperature": 0,
             "seed": 0, "logprobs": 1, "echo": True},
        )
        try:
            lp = body["choices"][0]["logprobs"]
            tokens, values, tops = list(lp["tokens"]), list(lp["token_logprobs"]), list(lp["top_logprobs"])
            generated = int(body["usage"]["completion_tokens"])
        except (KeyError, IndexError, TypeError, ValueError):
            return None  # no echo, no usage: this server cannot say which tokens are the answer
        end = len(tokens) - generated
        m = len(target_tokens)
        start = end - m
        # The answer must come back as the tokens it has alone (no merge across the boundary),
        # after at least one prompt token ...
        if start < 1 or end > len(values) or tokens[start:end] != target_tokens:
            return None
        # ... and the prompt as the tokens it has alone: "\n\n" + "The" comes back as
        # "\n", "\n", "The", a different context from the prompt's own final "\n\n".
        n_prompt = self._count_tokens(raw)
        joint = (body.get("usage") or {}).get("prompt_tokens")
        if n_prompt is None or not isinstance(joint, int) or joint != n_prompt + m:
            return None
        vals = values[start:end]
        if any(v is None or not math.isfinite(v) for v in vals):
            return None
        if not self._aligned(raw, tokens[0], tops[start]):
            return None
        return float(sum(vals))

    def _count_tokens(self, text: str) -> int | None:
        """How many tokens the server makes of ``text`` (its tokenize endpoint: vLLM's
        ``/tokenize``, llama-cpp-python's ``/extras/tokenize``; no forward pass), or None."""
        root = self.base_url[: -len("/v1")] if self.base_url.endswith("/v1") else self.base_url
        routes = {"/tokenize": {"model": self.model, "prompt": text},
                  "/extras/tokenize": {"model": self.model, "input": text}}  # fmt: skip
        known = self.__dict__.get("_tokenize_route")
        if known is False:
            return None
        for route in [known] if known else list(routes):
            try:
                body = self._post(root + route, routes[route])
            except RuntimeError:  # 404 and the like: not this server's endpoint
                continue
            toks = body.get("tokens") if isinstance(body, dict) else None
            if isinstance(toks, list):
                self._tokenize_route = route
                return len(toks)
        self._tokenize_route = False
        return None

    def _aligned(self, raw: str, first_token: str, top_at_answer: Any) -> bool:
        """Whether this server's echoed values at a position are that position's token's
        log-probability (not the next one's), for prompts that start like ``raw``: probed once
        per kind of start by asking for the next-token distribution after ``raw`` directly."""
        # llama-cpp-python's shift depends on whether the prompt's first token is BOS, which a
        # prompt shows by not starting with the first token the echo reports.
        key = (first_token, raw.startswith(first_token))
        probes = self.__dict__.setdefault("_alignment", {})
        if key not in probes:
            if not isinstance(top_at_answer, dict) or not top_at_answer:
                return False
            choice = self._completion(raw, max_tokens=1, logprobs=1)
            direct = ((choice.get("logprobs") or {}).get("top_logprobs") or [None])[0]
            ok = False
            if isinstance(direct, dict) and direct:
                # The best next-token log-probability after `raw`, read two ways: at the
                # answer's first position in the echo, and from a plain completion of `raw`.
                gap = abs(max(top_at_answer.values()) - max(direct.values()))
                ok = gap <= self.ALIGN_TOL
            probes[key] = ok
        return probes[key]

    def _per_token_logprobs(self, prompts: Sequence[str], continuations: Sequence[str]) -> np.ndarray:
        """Teacher-forced log p(continuation | raw prompt), one ``/completions`` call per token
        (the fallback: a token outside the top log-probabilities gets a floor)."""
        prompts = list(prompts)
        jobs = [
            (i, j, q, self._raw(p) + "".join(toks[:q]), toks[q])
            for j, c in enumerate(continuations)
            for toks in [self._target_tokens(c)]
            for i, p in enumerate(prompts)
            for q in range(len(toks))
        ]

        def one(job: tuple) -> tuple[float, bool]:
            _, _, _, prefix, token = job
            choice = self._completion(prefix, max_tokens=1, logprobs=self.top_logprobs)
            lp = choice.get("logprobs") or {}
            tops_list = lp.get("top_logprobs") or [{}]
            tops = dict(tops_list[0] or {})
            toks, vals = lp.get("tokens") or [], lp.get("token_logprobs") or []
            if toks and vals and vals[0] is not None:
                tops.setdefault(toks[0], vals[0])
            v = self._pick(tops, token, exact=True)
            self._count(1, v is None)
            return (v, False) if v is not None else (self._floor_value(tops), True)

        results, error = self._map(one, jobs)
        out = np.zeros((len(prompts), len(continuations)))
        n_floored = np.zeros(len(prompts))
        n_jobs = np.zeros(len(prompts))
        for (i, j, *_), r in zip(jobs, results):
            n_jobs[i] += 1
            if r is None:
                out[i, j] = np.nan  # a token that did not arrive leaves the whole sum unknown
            else:
                out[i, j] += r[0]
                n_floored[i] += r[1]
        return self._finish(out, n_floored / np.maximum(n_jobs, 1), error)

    def close(self) -> None:
        self._pool.shutdown(wait=False)
        self._client.close()


def _check_seconds(value: Any, name: str, *, positive: bool) -> float:
    """A finite number of seconds (> 0, or >= 0), or one clear error naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise TypeError(f"{name} must be a finite number of seconds, got {value!r}")
    if value < 0 or (positive and value == 0):
        raise ValueError(f"{name} must be {'> 0' if positive else '>= 0'} seconds, got {value!r}")
    return float(value)
