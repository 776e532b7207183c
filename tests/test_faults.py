"""Fault injection: ``interspect explain`` against a misbehaving OpenAI-compatible server.

The server (``fake_openai.FakeOpenAI``) is our own, on 127.0.0.1, in a thread that stops itself.
Its scores are a known polynomial of the review words present, so a run that finishes is checked
against the brute-force spectrum of that polynomial; a run that fails must end with exit status
2 and one line on stderr, and every row the server did answer must be in the cache with its
right value (a paid API would otherwise bill it again on resume). Timeouts are short (0.3 s, one
retry), so the whole file takes a few seconds.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("httpx", reason="needs the 'openai' extra (httpx)")

from fake_openai import TEXT, WORDS, FakeOpenAI, first_tries, margin_of_words, words_in  # noqa: E402
from interspect import Spectrum, exact  # noqa: E402
from interspect.interface import cli  # noqa: E402

N = len(WORDS)
SRC = Path(__file__).resolve().parents[1] / "src"


@pytest.fixture(autouse=True)
def _no_api_key(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)


def args_for(url: str, tmp: Path, *extra: str, progress: bool = False) -> list[str]:
    return [
        "explain", "--text", TEXT, "--task", "sentiment", "--model", f"openai:fake@{url}",
        "--method", "exact", "--n-test", "8", "--cache", str(tmp / "cache.sqlite"),
        "--out", str(tmp / "out"), "--timeout", "0.3", "--retries", "1",
        *([] if progress else ["--no-progress"]), *extra,
    ]  # fmt: skip


def run(argv: list[str], capsys) -> tuple[int, str, str]:
    rc = cli.main(argv)
    captured = capsys.readouterr()
    return rc, captured.out, captured.err


def cached_rows(path: Path) -> dict[frozenset, float]:
    """The cache's rows as {words kept: value} (masks decoded independently of interspect)."""
    if not path.exists():
        return {}
    con = sqlite3.connect(path)
    try:
        rows = con.execute("SELECT mask, value FROM queries").fetchall()
    finally:
        con.close()
    out = {}
    for mask, value in rows:
        bits = np.unpackbits(np.frombuffer(mask, dtype=np.uint8))[:N]
        out[frozenset(w for w, b in zip(WORDS, bits) if b)] = value
    return out


def assert_answered_rows_cached(server: FakeOpenAI, tmp: Path) -> dict[frozenset, float]:
    """Every prompt the server answered is in the cache with its right value, and nothing else."""
    rows = cached_rows(tmp / "cache.sqlite")
    answered = {frozenset(words_in(p)) for p in server.answered}
    assert set(rows) == answered
    for words, value in rows.items():
        assert value == pytest.approx(margin_of_words(set(words)), abs=1e-9)
    return rows


def one_error_line(err: str) -> str:
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("interspect: error:") and "Traceback" not in err
    return lines[0]


def reference_spectrum() -> Spectrum:
    def f(X):
        return np.array([margin_of_words({w for w, b in zip(WORDS, row) if b}) for row in X])

    return exact(f, N)


def assert_exact_result(tmp: Path) -> dict:
    got = Spectrum.from_json(tmp / "out" / "spectrum.json")
    ref = reference_spectrum()
    keys = set(got.fourier) | set(ref.fourier)
    np.testing.assert_allclose([got.fourier.get(k, 0.0) for k in keys], [ref.fourier.get(k, 0.0) for k in keys], atol=1e-9)
    return json.loads((tmp / "out" / "explanation.json").read_text())


def test_healthy_server_gives_the_exact_spectrum_and_a_rerun_costs_nothing(tmp_path, capsys):
    with FakeOpenAI() as server:
        rc, out, err = run(args_for(server.url, tmp_path), capsys)
    assert rc == 0, err
    data = assert_exact_result(tmp_path)
    assert len(server.answered) == 2**N and data["n_model_calls"] == 2**N
    assert data["metadata"]["floored"] == {"scored": 64, "floored": 0, "all_floored": 0, "share": 0.0}
    assert "floored scores: 0 of 64 computed outputs (0.0%)" in out
    # the 8 test masks and the unmasked input repeat masks of the fit: counted apart from the cache
    assert "64 computed by the model, 0 from the cache, 9 repeated masks answered once" in out
    with FakeOpenAI(port=server.port) as again:
        rc, out, err = run(args_for(again.url, tmp_path), capsys)
    assert rc == 0 and again.log == []
    assert "0 computed by the model, 64 from the cache" in out
    assert "floored scores: not measured" in out


def test_no_cache_summary_does_not_mention_a_cache(tmp_path, capsys):
    with FakeOpenAI() as server:
        argv = [a for a in args_for(server.url, tmp_path) if a != str(tmp_path / "cache.sqlite")]
        argv[argv.index("--cache")] = "--no-cache"
        rc, out, _ = run(argv, capsys)
    assert rc == 0 and "from the cache" not in out and "9 repeated masks answered once" in out


def test_refused_connection_is_one_line_and_fast(tmp_path, capsys):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    start = time.monotonic()
    rc, _, err = run(args_for(f"http://127.0.0.1:{port}/v1", tmp_path), capsys)
    assert rc == 2 and time.monotonic() - start < 15
    line = one_error_line(err)
    assert "failed after 2 tries" in line and "ConnectError" in line
    assert cached_rows(tmp_path / "cache.sqlite") == {}


def test_500_and_429_with_retry_after_are_retried_and_shown(tmp_path, capsys):
    # The first try of the first 6 prompts fails: 503 for 3 of them, 429 (Retry-After 0.25 s) for 3.
    script = first_tries(lambda k: ("status", 503, None) if k <= 3 else ("status", 429, "0.25"), 6)
    with FakeOpenAI(script) as server:
        rc, _, err = run(args_for(server.url, tmp_path, progress=True), capsys)
    assert rc == 0, err
    assert_exact_result(tmp_path)
    assert "HTTP 503: retry 1/1" in err and "HTTP 429: retry 1/1 in 0.2 s" in err  # on the progress line
    # Retry-After was honoured: each 429'd prompt came back no sooner than 0.25 s later.
    for t, prompt, action in server.log:
        if action == ("status", 429, "0.25"):
            later = [t2 for t2, p2, _ in server.log if p2 == prompt and t2 > t]
            assert later and later[0] - t >= 0.25


def test_stalled_server_times_out_in_one_line_and_keeps_the_answers(tmp_path, capsys):
    with FakeOpenAI(lambda i, p: "ok" if i < 20 else "stall", stall=1.0) as server:
        rc, _, err = run(args_for(server.url, tmp_path), capsys)
    assert rc == 2
    line = one_error_line(err)
    assert "no answer within 0.3 s" in line and "kept in the cache" in line
    rows = assert_answered_rows_cached(server, tmp_path)
    assert len(rows) == 20  # the unmasked input, one full batch of 16 and 3 of the failing batch


def test_a_stall_that_passes_is_retried(tmp_path, capsys):
    with FakeOpenAI(first_tries("stall", 3), stall=0.6) as server:
        rc, _, err = run(args_for(server.url, tmp_path), capsys)
    assert rc == 0, err
    assert_exact_result(tmp_path)


@pytest.mark.parametrize(
    ("action", "expected"),
    [("nonjson", "with something that is not JSON"), ("nologprobs", "without log-probabilities")],
)
def test_malformed_answers_are_one_line_and_keep_earlier_rows(tmp_path, capsys, action, expected):
    with FakeOpenAI(lambda i, p: "ok" if i < 10 else action) as server:
        rc, _, err = run(args_for(server.url, tmp_path), capsys)
    assert rc == 2
    assert expected in one_error_line(err)
    assert len(assert_answered_rows_cached(server, tmp_path)) == 10


def test_labels_missing_for_the_unmasked_prompt_stop_the_run(tmp_path, capsys):
    with FakeOpenAI(lambda i, p: "nolabels") as server:
        rc, _, err = run(args_for(server.url, tmp_path), capsys)
    assert rc == 2 and len(server.log) == 1  # stopped after the first request
    line = one_error_line(err)
    assert "neither label ('positive', 'negative') is among the top-20 tokens" in line
    assert "for the unmasked prompt" in line
    assert cached_rows(tmp_path / "cache.sqlite") == {}  # a meaningless score is not kept


def test_labels_missing_for_most_rows_stop_the_run(tmp_path, capsys):
    # No label when the review lacks "great" or "fun": 3 of every 4 masks.
    def script(i, prompt):
        return "ok" if {"great", "fun"} <= words_in(prompt) else "nolabels"

    with FakeOpenAI(script) as server:
        rc, _, err = run(args_for(server.url, tmp_path), capsys)
    assert rc == 2
    assert re.search(r"for \d+ of the \d+ masked prompts scored", one_error_line(err))
    assert len(server.log) < 2**N
    # The floored rows are the model's (deterministic) outputs too: kept, with the floor value.
    rows = cached_rows(tmp_path / "cache.sqlite")
    assert set(rows) == {frozenset(words_in(p)) for p in server.answered}


def test_a_few_floored_rows_are_reported_everywhere(tmp_path, capsys):
    # Only the second label is missing, and only when the review has neither "great" nor "fun".
    def script(i, prompt):
        return "noneg" if not {"great", "fun"} & words_in(prompt) else "ok"

    with FakeOpenAI(script) as server:
        rc, out, err = run(args_for(server.url, tmp_path), capsys)
    assert rc == 0, err
    expected = sum(1 for p in server.answered if not {"great", "fun"} & words_in(p))
    assert expected == 16
    data = json.loads((tmp_path / "out" / "explanation.json").read_text())
    assert data["metadata"]["floored"] == {"scored": 64, "floored": 16, "all_floored": 0, "share": 0.25}
    assert "floored scores: 16 of 64 computed outputs (25.0%)" in out
    html = (tmp_path / "out" / "report.html").read_text()
    assert "floored scores" in html and "25.0% (16 of 64)" in html


def test_server_dies_then_a_rerun_resumes_from_the_cache(tmp_path, capsys):
    with FakeOpenAI(lambda i, p: "die" if i == 25 else "ok") as server:
        rc, _, err = run(args_for(server.url, tmp_path), capsys)
    assert rc == 2
    assert "failed after 2 tries" in one_error_line(err)
    assert len(assert_answered_rows_cached(server, tmp_path)) == 25
    with FakeOpenAI(port=server.port) as healthy:
        rc, out, err = run(args_for(healthy.url, tmp_path), capsys)
    assert rc == 0, err
    assert len(healthy.log) == 2**N - 25  # only the missing rows are asked for
    assert f"{2**N - 25} computed by the model, 25 from the cache" in out
    assert_exact_result(tmp_path)


def test_a_failing_batch_keeps_the_answers_that_arrived(tmp_path, capsys):
    # Prompts without "great", "fun" or "not" always get HTTP 500: 2 in each batch of 16.
    def script(i, prompt):
        return ("status", 500, None) if not {"great", "fun", "not"} & words_in(prompt) else "ok"

    with FakeOpenAI(script) as server:
        rc, _, err = run(args_for(server.url, tmp_path), capsys)
    assert rc == 2
    line = one_error_line(err)
    assert "HTTP 500" in line and "14 of them from the failing batch" in line
    rows = assert_answered_rows_cached(server, tmp_path)
    assert len(rows) == 1 + 14  # the unmasked input and the 14 good answers of the failing batch


def test_results_that_cannot_be_written_go_elsewhere_and_say_so(tmp_path, capsys, monkeypatch):
    real = cli._write_files

    def failing(expl, out):
        if out == tmp_path / "out":
            raise OSError(28, "No space left on device")
        real(expl, out)

    monkeypatch.setattr(cli, "_write_files", failing)
    with FakeOpenAI() as server:
        rc, _, err = run(args_for(server.url, tmp_path), capsys)
    assert rc == 2
    line = one_error_line(err)
    m = re.search(r"they are in '([^']+)' instead", line)
    assert m and "No space left on device" in line and str(tmp_path / "cache.sqlite") in line
    spare = Path(m.group(1))
    try:
        assert (spare / "explanation.json").is_file() and (spare / "report.html").is_file()
    finally:
        for f in spare.iterdir():
            f.unlink()
        spare.rmdir()


def test_reports_hold_no_local_paths(tmp_path, capsys):
    with FakeOpenAI() as server:
        rc, _, err = run(args_for(server.url, tmp_path), capsys)
    assert rc == 0, err
    for name in ("explanation.json", "report.html", "spectrum.json"):
        text = (tmp_path / "out" / name).read_text()
        assert str(tmp_path) not in text and "cache.sqlite" not in text, name


def test_read_only_cache_serves_every_row_without_writing(tmp_path, capsys):
    with FakeOpenAI() as server:
        assert run(args_for(server.url, tmp_path), capsys)[0] == 0
    path = tmp_path / "cache.sqlite"
    before = cached_rows(path)
    # Make the file truly read-only: chmod for a normal user; root writes anyway, so there the
    # file is made immutable (chattr +i) where the file system allows it.
    root = os.geteuid() == 0
    if root and subprocess.run(["chattr", "+i", str(path)], capture_output=True).returncode != 0:
        pytest.skip("running as root on a file system without chattr +i: cannot make a read-only file")
    if not root:
        path.chmod(0o444)
    try:
        with FakeOpenAI(port=server.port) as again:
            rc, out, err = run(args_for(again.url, tmp_path), capsys)
        assert rc == 0, err
        assert again.log == [] and "0 computed by the model, 64 from the cache" in out
        warning = [ln for ln in err.splitlines() if ln.strip()]
        assert len(warning) == 1 and warning[0].startswith("interspect: warning: cache=")
        assert "is read-only" in warning[0]
    finally:
        if root:
            subprocess.run(["chattr", "-i", str(path)], check=True)
        else:
            path.chmod(0o644)
    assert cached_rows(path) == before


@pytest.mark.slow  # a CLI process of its own (imports: a few seconds)
def test_ctrl_c_mid_batch_keeps_the_answers_that_arrived(tmp_path):
    # The CLI in its own process: after 20 answers the server stalls; Ctrl-C (SIGINT) then.
    # "Answered" is counted when the server has written a reply, which is before the client has
    # read it: the signal waits until all 20 are written plus a grace for the client to read the
    # last ones. The stall (8 s) outlasts that grace, so no stalled reply reaches the client first,
    # and the CLI must not wait for it after Ctrl-C either.
    grace = 0.5
    with FakeOpenAI(lambda i, p: "ok" if i < 20 else "stall", stall=8.0) as server:
        argv = args_for(server.url, tmp_path)
        argv[argv.index("--timeout") + 1] = "10"
        env = {**os.environ, "PYTHONPATH": str(SRC)}
        proc = subprocess.Popen(
            [sys.executable, "-m", "interspect.interface.cli", *argv],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        )
        deadline = time.monotonic() + 30
        while (len(server.answered) < 20 or len(server.log) <= 20) and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.02)
        time.sleep(grace)
        assert proc.poll() is None, "the CLI ended before the stall"
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=4)  # well before the stalled requests would end
    assert proc.returncode == 130, err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert lines == ["interspect: interrupted (model outputs computed so far are in the cache; a rerun resumes)"]
    assert len(assert_answered_rows_cached(server, tmp_path)) == 20


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (["--timeout", "0"], "--timeout must be > 0"),
        (["--retries", "-1"], "--retries must be >= 0"),
        (["--concurrency", "0"], "--concurrency must be >= 1"),
    ],
)
def test_bad_transport_options_are_one_line(tmp_path, capsys, extra, expected):
    rc, _, err = run(args_for("http://127.0.0.1:9/v1", tmp_path, *extra), capsys)
    assert rc == 2 and expected in one_error_line(err)


@pytest.mark.parametrize("labels", ["positive", "positive,", ",negative", "a,b,c"])
def test_bad_labels_are_one_line(tmp_path, capsys, labels):
    # Refused before any request: the server address is one nothing listens on.
    rc, _, err = run(args_for("http://127.0.0.1:9/v1", tmp_path, "--labels", labels), capsys)
    assert rc == 2 and "--labels needs exactly two non-empty comma-separated continuations" in one_error_line(err)
    assert not (tmp_path / "cache.sqlite").exists()


def test_transport_options_need_an_api_model(capsys):
    rc, _, err = run(["explain", "--text", "fine film", "--retries", "2", "--no-cache"], capsys)
    assert rc == 2 and "--retries apply to --model openai:MODEL@URL only" in one_error_line(err)
