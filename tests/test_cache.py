"""The SQLite query cache: resume after SIGKILL, identity invalidation, concurrent writers, NaN.

A small deterministic stand-in backend (`ArithmeticLM`, below) keeps these tests fast and exact;
the same code path runs the real model (see benchmarks/llm_throughput.py for the kill test on
SmolLM2). Each output is a fixed function of the prompt string, so a reference is computed
independently of the cache.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
import zlib
from pathlib import Path

import numpy as np
import pytest

from interspect.applications.text import TextValueFunction
from interspect.engines.exact import all_masks
from interspect.queries import QueryCache
from interspect.queries.layer import Queries

TEXT = "one two three four five six seven eight nine ten"
HERE = Path(__file__).resolve().parent


def prompt_value(prompt: str, continuation: str) -> float:
    """The stand-in model's log-probability: a deterministic function of the strings."""
    return -float(zlib.crc32((prompt + "|" + continuation).encode()) % 100_000) / 1000.0


class ArithmeticLM:
    """A causal-LM backend whose outputs are cheap functions of the prompt (for cache tests)."""

    kind = "causal"
    name = "arithmetic"
    mask_token = "<unk>"

    def __init__(self, delay: float = 0.0, nan_marker: str | None = None) -> None:
        self.delay = delay
        self.nan_marker = nan_marker
        self.prompts_seen: list[str] = []

    def identity(self) -> dict:
        return {"backend": "test", "model": "arithmetic"}

    def template_fingerprint(self) -> str:
        return "[user]{}"

    def render(self, message: str, answer_prefix: str = "") -> str:
        return f"[user]{message}[assistant]{answer_prefix}"

    def check_continuation(self, text: str, *, what: str = "target") -> list[int]:
        if not text:
            raise ValueError(f"{what} must be a non-empty string, got {text!r}")
        return [ord(c) for c in text]

    def generate(self, prompt: str, *, max_new_tokens: int = 32) -> str:
        return " answer"

    def continuation_logprobs(self, prompts, continuations):
        self.prompts_seen.extend(prompts)
        time.sleep(self.delay)
        out = np.array([[prompt_value(p, c) for c in continuations] for p in prompts])
        if self.nan_marker is not None:
            out[[self.nan_marker in p for p in prompts]] = np.nan
        return out


def reference(vf, X: np.ndarray) -> np.ndarray:
    a, b = vf.scorer.labels
    return np.array([prompt_value(vf.prompt(x), a) - prompt_value(vf.prompt(x), b) for x in X])


class Cached:
    """A text value function as ``explain`` runs it: through the query layer, with the cache."""

    def __init__(self, vf: TextValueFunction, cache) -> None:
        self.vf = vf
        self.queries = Queries(vf, vf.n, cache=cache, dedup=True)

    def __call__(self, X):
        return self.queries(X)

    @property
    def stats(self) -> dict:
        q = self.queries.stats
        return {"from_cache": q["from_cache"], "computed": q["computed"], "prompts": self.vf.stats["prompts"]}

    def __getattr__(self, name):  # identity, prompt, scorer, n: the value function's own
        return getattr(self.vf, name)


def make_vf(cache, lm=None, **kw) -> Cached:
    opts = {"labels": (" yes", " no"), "batch_size": 8}
    opts.update(kw)
    return Cached(TextValueFunction(lm or ArithmeticLM(), TEXT, **opts), cache)


def test_rows_reused_and_counted(tmp_path):
    path = tmp_path / "q.sqlite"
    X = all_masks(10)[::7]  # 147 masks
    vf = make_vf(path)
    y = vf(X)
    np.testing.assert_allclose(y, reference(vf, X))
    assert vf.stats["computed"] == len(X) and vf.stats["from_cache"] == 0
    lm2 = ArithmeticLM()
    vf2 = make_vf(path, lm2)
    Z = np.vstack([X[:50], all_masks(10)[1::7][:20]])
    y2 = vf2(Z)
    np.testing.assert_allclose(y2, reference(vf2, Z))
    assert vf2.stats == {"from_cache": 50, "computed": 20, "prompts": 20}
    assert len(lm2.prompts_seen) == 20
    with QueryCache(path) as c:
        assert c.count(vf.identity) == len(X) + 20


def test_duplicates_are_computed_once(tmp_path):
    lm = ArithmeticLM()
    vf = Cached(TextValueFunction(lm, "very very good", labels=(" a", " b")), None)
    X = np.array([[0, 1, 1], [1, 0, 1], [0, 1, 1], [1, 1, 1]])
    y = vf(X)
    # removing either "very" gives the same prompt: 2 distinct prompts for 3 distinct masks
    assert vf.stats == {"from_cache": 0, "computed": 3, "prompts": 2}
    assert y[0] == y[1] == y[2]
    np.testing.assert_allclose(y, reference(vf, X))


def test_identity_change_invalidates(tmp_path):
    path = tmp_path / "q.sqlite"
    X = all_masks(10)[:40]
    base = make_vf(path)
    base(X)
    for change in (
        {"question": "Is it?"},
        {"labels": (" no", " yes")},
        {"masking": "mask_token"},
        {"unit": [(0, 3), (4, 7), (8, 13)]},
        {"answer_prefix": "A:"},
    ):
        vf = make_vf(path, **change)
        assert vf.identity != base.identity
        Xc = all_masks(vf.n)[: min(40, 2**vf.n)]
        y = vf(Xc)
        assert vf.stats["from_cache"] == 0, change
        np.testing.assert_allclose(y, reference(vf, Xc))
    other_model = ArithmeticLM()
    other_model.identity = lambda: {"backend": "test", "model": "other"}
    assert make_vf(path, other_model).identity != base.identity
    same = make_vf(path)
    same(X)
    assert same.identity == base.identity and same.stats["computed"] == 0


def test_nan_keeps_finite_rows(tmp_path):
    path = tmp_path / "q.sqlite"
    lm = ArithmeticLM(nan_marker="one two three four five six seven eight nine ten")
    vf = make_vf(path, lm, batch_size=4)
    X = all_masks(10)[-12:]  # the all-ones mask is the last row: its prompt gives NaN
    with pytest.raises(FloatingPointError, match="non-finite score") as info:
        vf(X)
    assert "\n" not in str(info.value)
    with QueryCache(path) as c:
        assert c.count(vf.identity) == 11
    ok = make_vf(path)
    np.testing.assert_allclose(ok(X[:-1]), reference(ok, X[:-1]))
    assert ok.stats == {"from_cache": 11, "computed": 0, "prompts": 0}


def _script(path: Path, rows: str, delay: float, label: str = "") -> str:
    return textwrap.dedent(
        f"""
        import sys, json
        sys.path.insert(0, {str(HERE)!r})
        import numpy as np
        from interspect.engines.exact import all_masks
        from test_cache import ArithmeticLM, make_vf
        vf = make_vf({str(path)!r}, ArithmeticLM(delay={delay}), batch_size=8)
        X = all_masks(10)[{rows}]
        print("ready", flush=True)
        y = vf(X)
        print(json.dumps({{"stats": vf.stats, "sum": float(y.sum()), "label": {label!r}}}), flush=True)
        """
    )


def _run(code: str, **kw) -> subprocess.Popen:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=env, **kw,
    )


def test_resume_after_sigkill(tmp_path):
    path = tmp_path / "q.sqlite"
    proc = _run(_script(path, "::4", delay=0.05))  # 256 masks, 32 batches, ~1.6 s
    assert proc.stdout.readline().strip() == "ready"
    ident = make_vf(path).identity
    deadline = time.monotonic() + 30
    with QueryCache(path) as c:
        while c.count(ident) < 40 and time.monotonic() < deadline:
            time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    assert proc.returncode == -signal.SIGKILL
    with QueryCache(path) as c:
        done = c.count(ident)
    assert 40 <= done < 256, "the kill should land mid-run"
    vf = make_vf(path)
    X = all_masks(10)[::4]
    y = vf(X)
    assert vf.stats["from_cache"] == done and vf.stats["computed"] == 256 - done
    np.testing.assert_allclose(y, reference(vf, X))
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.close()


def test_two_writers_at_once(tmp_path):
    path = tmp_path / "q.sqlite"
    # overlapping halves, written concurrently by two processes; plus one with another identity
    a = _run(_script(path, ":600", delay=0.01, label="a"))
    b = _run(_script(path, "400:", delay=0.01, label="b"))
    outs = [p.communicate(timeout=60) for p in (a, b)]
    for p, (out, err), m in zip((a, b), outs, (600, 624)):
        assert p.returncode == 0, err[-2000:]
        stats = json.loads(out.strip().splitlines()[-1])["stats"]
        assert stats["from_cache"] + stats["computed"] == m
    vf = make_vf(path)
    X = all_masks(10)
    y = vf(X)
    assert vf.stats["from_cache"] == 1024 and vf.stats["computed"] == 0
    np.testing.assert_allclose(y, reference(vf, X))
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()


def test_memo_and_errors(tmp_path):
    with QueryCache(tmp_path / "sub" / "q.sqlite") as c:
        c.memo_put("k", "v")
        c.memo_put("k", "other")  # first write wins: a memo never changes under a reader
        assert c.memo_get("k") == "v" and c.memo_get("absent") is None
    with pytest.raises(IsADirectoryError, match="directory"):
        QueryCache(tmp_path)


def test_default_target_is_memoised(tmp_path):
    path = tmp_path / "q.sqlite"
    calls = []

    class Counting(ArithmeticLM):
        def generate(self, prompt, *, max_new_tokens=32):
            calls.append(prompt)
            return " the answer"

    vf = TextValueFunction(Counting(), TEXT, memo=path)
    vf2 = TextValueFunction(Counting(), TEXT, memo=path)
    assert vf.target == vf2.target == " the answer" and len(calls) == 1
    assert vf.identity == vf2.identity


@pytest.mark.parametrize("name", ["interspect.queries.cache", "interspect.applications.language.scorers"])
def test_docstring_examples(name):
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0


def test_none_options_keep_defaults():
    lm = ArithmeticLM()
    a = TextValueFunction.for_task("sentiment", lm, TEXT, question=None, masking=None, memo=None)
    assert a.question == "Is this review positive or negative?" and a.scorer.labels == (" positive", " negative")
    b = TextValueFunction(lm, TEXT, scorer=None, masking=None, unit=None, labels=(" a", " b"))
    assert b.scorer_name == "margin" and b.replacement is None and b.n == 10
