"""Reliability (issue 12): never a silently meaningless number, every failure one clear line,
nothing paid for is lost. The HTTP faults are in test_faults.py; these need no server."""

from __future__ import annotations

import importlib.util
import json
import math
import sqlite3
import warnings
from pathlib import Path

import numpy as np
import pytest

from interspect import Spectrum, explain, faithfulness, games, proxyspex
from interspect.applications.text.entry import explain_text
from interspect.engines.exact import all_masks
from interspect.interface.cli import main
from interspect.interface.explanation import Explanation
from interspect.interface.report import format_r2
from interspect.queries.cache import QueryCache
from interspect.queries.layer import Queries
from interspect.queries.partial import attach_partial
from interspect.queries.progress import Progress

NO_MODEL = "/nonexistent/model-dir"  # loading it fails: an error about anything else came first


def one_line(capsys) -> str:
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def cli(*argv: str) -> list[str]:
    return ["explain", "--text", "a fine film", "--model", NO_MODEL, "--no-progress", *argv]


# -- #4 bad cache files: one line each, before the model loads --------------------------------
def _random_bytes(p: Path) -> Path:
    p.write_bytes(bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8)))
    return p


def _other_schema(p: Path) -> Path:
    con = sqlite3.connect(p)
    con.execute("CREATE TABLE queries (a INTEGER, b TEXT)")
    con.commit()
    con.close()
    return p


def _other_program(p: Path) -> Path:
    con = sqlite3.connect(p)
    con.execute("CREATE TABLE contacts (name TEXT)")
    con.commit()
    con.close()
    return p


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (_random_bytes, "is not an SQLite file"),
        (_other_schema, "has a table 'queries' of another schema"),
        (_other_program, "is an SQLite file of another program"),
        (lambda p: (p.mkdir(), p)[1], "is a directory"),
        (lambda p: (p.write_text("x"), p / "q.sqlite")[1], "a part of the path is a file"),
    ],
    ids=["random-bytes", "other-schema", "other-program", "folder", "under-a-file"],
)
def test_bad_cache_is_one_line_before_the_model_loads(tmp_path, capsys, make, expected):
    path = make(tmp_path / "c.sqlite")
    before = path.read_bytes() if path.is_file() else None
    assert main(cli("--cache", str(path), "--out", str(tmp_path / "out"))) == 2
    line = one_line(capsys)
    assert expected in line and "not found in the local Hugging Face cache" not in line
    if before is not None:
        assert path.read_bytes() == before  # a file that is not ours is never modified
    with pytest.raises((ValueError, OSError), match=expected):
        QueryCache(path)


def test_read_only_cache_serves_reads_and_never_writes(tmp_path):
    path = tmp_path / "q.sqlite"
    with QueryCache(path) as c:
        c.put("id", [(b"\x80", 1.5), (b"\x40", -2.0)])
    ro = QueryCache(path, read_only=True)  # SQLite itself refuses writes on this connection
    try:
        assert ro.read_only and ro.get("id", [b"\x80", b"\x40", b"\x00"]) == {b"\x80": 1.5, b"\x40": -2.0}
        ro.register("id", {"n": 1})  # the query layer registers even when every row is cached
        ro.put("id", [(b"\x00", 3.0)])
        ro.memo_put("k", "v")
        q = Queries(lambda X: X.sum(axis=1), 1, cache=ro, identity="id")
        assert q(np.array([[1], [0]])).tolist() == [1.5, 0.0] and q.stats["from_cache"] == 1
    finally:
        ro.close()
    with QueryCache(path) as c:
        assert c.count("id") == 2 and c.memo_get("k") is None


def test_unwritable_cache_file_is_opened_read_only_with_a_warning(tmp_path, monkeypatch):
    path = tmp_path / "q.sqlite"
    with QueryCache(path) as c:
        c.put("id", [(b"\x80", 1.5)])
    import interspect.queries.cache as cache_module

    # What the file system answers for a file this user may not write (root may write anything,
    # so the answer is given here; test_faults makes a truly read-only file where it can).
    monkeypatch.setattr(cache_module.os, "access", lambda p, mode: False)
    with pytest.warns(UserWarning, match="is read-only: the outputs it holds are used"):
        c = QueryCache(path)
    assert c.read_only and c.get("id", [b"\x80"]) == {b"\x80": 1.5}
    c.close()
    with pytest.raises(PermissionError, match="cannot be written"):
        QueryCache(path, read_only=False)
    with pytest.raises(PermissionError, match="is not writable"):
        QueryCache(tmp_path / "new.sqlite")  # a new file in a folder we may not write


# -- #2 an unusable --out is refused before the model loads ----------------------------------
@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (lambda p: (p.write_text("x"), p)[1], "exists and is not a directory"),
        (lambda p: (p.write_text("x"), p / "sub")[1], "is not a directory"),
        (lambda p: (p.mkdir(), (p / "report.html").mkdir(), p)[2], "report.html exists and cannot be overwritten"),
    ],
    ids=["a-file", "under-a-file", "output-is-a-folder"],
)
def test_unusable_out_is_one_line_before_the_model_loads(tmp_path, capsys, make, expected):
    out = make(tmp_path / "out")
    assert main(cli("--out", str(out), "--no-cache")) == 2
    line = one_line(capsys)
    assert line.startswith("interspect: error: --out") and expected in line


# -- #9 Spectrum / from_json: nothing coerced, one ValueError naming the file and the field ----
@pytest.mark.parametrize("key", ["12", (0.9,), (True,), b"\x01"])
def test_spectrum_keys_are_never_coerced(key):
    with pytest.raises(TypeError, match="feature indices"):
        Spectrum({key: 1.0}, n=3)


def test_spectrum_values_must_be_numbers():
    with pytest.raises(TypeError, match="must be a real number"):
        Spectrum({(0,): "1.5"}, n=2)
    assert Spectrum({(np.int64(1),): np.float32(0.5)}, n=2).fourier == {(1,): 0.5}


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"n": 3}, "field 'terms' is missing"),
        ({"terms": []}, "field 'n' is missing"),
        ({"n": 3, "terms": [[[0], 1.0, 2.0]]}, "field 'terms', entry 0 must be a pair"),
        ({"n": 3, "terms": [["12", 1.0]]}, "field 'terms', entry 0: the features must be a list of integer"),
        ({"n": 3, "terms": [[[0.9], 1.0]]}, "the features must be a list of integer indices"),
        ({"n": 3, "terms": [[[0], 1.0], [[1], "x"]]}, "entry 1: the value must be a finite number"),
        ({"n": 3, "terms": [[[0, 7], 1.0]]}, "must be distinct indices in 0..2"),
        ({"n": 3, "terms": [[[1, 0], 1.0], [[0, 1], 2.0]]}, "appear twice"),
        ({"n": "3", "terms": []}, "field 'n' must be an integer >= 1"),
        ({"n": 3, "terms": {}}, "field 'terms' must be a list"),
    ],
)
def test_spectrum_file_errors_name_the_file_and_the_field(tmp_path, data, expected):
    path = tmp_path / "s.json"
    path.write_text(json.dumps({"format": "interspect.spectrum/1", **data}))
    with pytest.raises(ValueError, match=expected) as info:
        Spectrum.from_json(path)
    assert str(info.value).startswith(repr(str(path))) and "\n" not in str(info.value)


def test_undecodable_spectrum_and_explanation_files_name_the_file(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": "interspect.spectrum/1", "n": 3,')
    with pytest.raises(ValueError, match=r"bad.json' is not valid JSON \(.* at line 1"):
        Spectrum.from_json(bad)
    latin = tmp_path / "latin.json"
    latin.write_bytes(b'{"n": "\xe9"}')
    with pytest.raises(ValueError, match="latin.json' is not UTF-8 text"):
        Spectrum.from_json(latin)
    with pytest.raises(ValueError, match="latin.json' is not UTF-8 text"):
        Explanation.from_json(latin)
    s = Spectrum({(): 1.0, (0, 1): 0.5}, n=2)
    good = Explanation(["a", "b"], s, full_output=1.5).to_dict()
    for field in ("features", "spectrum", "order"):
        broken = tmp_path / f"no-{field}.json"
        broken.write_text(json.dumps({k: v for k, v in good.items() if k != field}))
        with pytest.raises(ValueError, match=f"no-{field}.json': field '{field}' is missing"):
            Explanation.from_json(broken)
    nested = tmp_path / "nested.json"
    nested.write_text(json.dumps({**good, "spectrum": {**good["spectrum"], "terms": [[["0"], 1.0]]}}))
    with pytest.raises(ValueError, match="field 'spectrum': field 'terms', entry 0"):
        Explanation.from_json(nested)


# -- #10 one seed rule everywhere ------------------------------------------------------------
@pytest.mark.parametrize(("seed", "kind"), [(1.7, TypeError), ("5", TypeError), (True, TypeError), (-1, ValueError)])
def test_one_seed_rule_for_explain_and_explain_text(seed, kind):
    g = games.DummyGame(4, active=(0, 1))
    with pytest.raises(kind, match="seed must be None, a non-negative integer or a numpy Generator"):
        explain(g, 4, seed=seed)
    # explain_text checks it before the model is loaded (this model does not exist)
    with pytest.raises(kind, match="seed must be None"):
        explain_text("a fine film", model=NO_MODEL, seed=seed)


def test_seed_none_and_generators_are_accepted_and_reproducible():
    g = games.SparseFourierGame(n=12, n_terms=6, max_degree=2, seed=3)
    a = explain(g, 12, method="lime", budget=200, seed=np.random.default_rng(7), n_test=20)
    b = explain(g, 12, method="lime", budget=200, seed=np.random.default_rng(7), n_test=20)
    assert a.spectrum == b.spectrum and a.metadata["faithfulness_r2"] == b.metadata["faithfulness_r2"]
    assert explain(g, 12, method="proxyspex", budget=100, seed=None, n_test=0).n == 12
    assert explain(g, 12, method="lime", budget=100, seed=np.int64(5), n_test=0).metadata["seed"] == 5


def test_cli_seed_errors_are_one_line(capsys):
    with pytest.raises(SystemExit) as info:
        main(cli("--seed", "1.7", "--no-cache"))
    assert info.value.code == 2
    line = one_line(capsys)
    assert "invalid int value: '1.7'" in line and "usage:" not in line
    assert main(cli("--seed", "-1", "--no-cache")) == 2
    assert "seed must be None, a non-negative integer" in one_line(capsys)


# -- #8 R² of a constant test output: null with the reason, never -Infinity -------------------
def test_undefined_r2_is_null_with_the_reason(tmp_path):
    def only_full(X):  # 1 on the unmasked input, 0 elsewhere: random test masks are all 0
        return X.all(axis=1).astype(float)

    expl = explain(only_full, 14, method="lime", budget=64, n_test=30, seed=0)
    # the independent check: the plain R² of this surrogate on the same test masks is -inf
    assert faithfulness(expl.spectrum, only_full, n_test=30, seed=0 + 104729) == -math.inf
    assert expl.metadata["faithfulness_r2"] is None
    assert expl.metadata["faithfulness_note"] == "undefined (constant output)"
    path = tmp_path / "e.json"
    expl.to_json(path)

    def refuse(token):
        raise AssertionError(f"non-standard JSON constant {token}")

    data = json.loads(path.read_text(), parse_constant=refuse)
    assert data["faithfulness_r2"] is None and data["metadata"]["faithfulness_note"] == "undefined (constant output)"
    assert Explanation.from_json(path).metadata["faithfulness_note"] == "undefined (constant output)"
    assert format_r2(expl.metadata) == "undefined (constant output)"
    assert "undefined (constant output)" in expl.to_html()


def test_explanation_json_is_strict_even_with_non_finite_metadata(tmp_path):
    s = Spectrum({(): 1.0}, n=2)
    e = Explanation(["a", "b"], s, full_output=float("nan"), metadata={"x": [float("inf"), 1.0]})
    e.to_json(tmp_path / "e.json")
    data = json.loads((tmp_path / "e.json").read_text(), parse_constant=lambda t: 1 / 0)
    assert data["metadata"]["x"] == [None, 1.0] and data["full_output"] is None


# -- #11 a budget no machine could hold is refused up front ----------------------------------
def test_huge_budget_is_refused_with_the_memory_it_needs():
    calls = []

    def f(X):
        calls.append(len(X))
        return X.sum(axis=1).astype(float)

    with pytest.raises(ValueError, match=r"budget=1,000,000,000 at n=40 would need at least [\d,.]+ GiB of memory"):
        proxyspex(f, 40, 10**9)
    with pytest.raises(ValueError, match="would need at least"):
        explain(f, 40, method="proxyspex", budget=10**9)
    from interspect.engines.baselines import banzhaf, lime

    for baseline in (lime, banzhaf):
        with pytest.raises(ValueError, match="would need at least"):
            baseline(f, 40, 10**9)
    assert calls == []  # refused before any query
    with pytest.raises(ValueError, match="would need at least"):
        explain_text(" ".join(f"w{i}" for i in range(40)), model=NO_MODEL, method="lime", budget=10**12)


def test_memory_estimate_scales_with_the_budget(monkeypatch):
    import interspect.core.validation as validation

    monkeypatch.setattr(validation, "memory_limit", lambda: 10**6)
    g = games.DummyGame(10, active=(0, 1))
    proxyspex(g, 10, 100, seed=0)  # 100 x (6·10 + 534) bytes: fits in 1 MB
    with pytest.raises(ValueError, match=r"would need at least 0.0 GiB of memory, more than this machine has \(0.0 GiB\)"):
        proxyspex(games.DummyGame(40, active=(0, 1)), 40, 10_000, seed=0)


# -- #12 smaller items -----------------------------------------------------------------------
def test_one_word_text_is_refused_before_the_model_loads_without_suggesting_its_own_unit():
    with pytest.raises(ValueError, match="single word") as info:
        explain_text("Wonderful.", model=NO_MODEL)
    assert "finer unit" not in str(info.value)
    with pytest.raises(ValueError, match=r"unit='sentence' splits the text into a single segment.*\('word'\)"):
        explain_text("A fine film with a great cast.", model=NO_MODEL, unit="sentence")


def test_non_utf8_input_names_the_input(tmp_path, capsys):
    f = tmp_path / "review.txt"
    f.write_bytes("un film très bien".encode("latin-1"))
    assert main(["explain", "--file", str(f), "--model", NO_MODEL, "--no-cache"]) == 2
    line = one_line(capsys)
    assert f"--file {str(f)!r} is not UTF-8 text (byte 0xe8 at offset 10)" in line
    assert main(["explain", "--text", "un film tr\udce8s bien", "--model", NO_MODEL, "--no-cache"]) == 2
    assert "--text is not UTF-8: character 10" in one_line(capsys)
    with pytest.raises(ValueError, match=r"text is not valid Unicode text: character 10 \('\\udce8'\)"):
        explain_text("un film tr\udce8s bien", model=NO_MODEL)


def test_value_function_that_writes_into_its_masks_cannot_fool_proxyspex():
    g = games.SparseFourierGame(n=12, n_terms=6, max_degree=2, seed=1)

    def vandal(X):
        y = g(X)
        X[:] = 1 - X  # writes into the array it was handed
        return y

    honest = proxyspex(g, 12, 300, seed=0)
    fooled = proxyspex(vandal, 12, 300, seed=0)
    assert fooled == honest and faithfulness(fooled, g) > 0.99


def test_complex_outputs_are_refused_in_one_line():
    with pytest.raises(TypeError, match="returned complex values") as info:
        explain(lambda X: X.sum(axis=1) + 1j, 4, method="exact")
    assert "\n" not in str(info.value)
    real = explain(lambda X: X.sum(axis=1) + 0j, 4, method="exact", n_test=0)
    assert real.spectrum.fourier[()] == pytest.approx(2.0)


def test_argparse_errors_are_one_line(capsys):
    with pytest.raises(SystemExit) as info:
        main(["explain", "--budget", "many"])
    assert info.value.code == 2
    line = one_line(capsys)
    # --budget takes a positive integer or 'auto' (budget='auto', issue 19): the line says both.
    assert "argument --budget: --budget must be a positive integer or 'auto', got 'many'" in line
    assert "see interspect explain --help" in line


def test_internal_errors_say_bug_and_exit_1(monkeypatch, capsys):
    import interspect.interface.cli as cli_module

    def broken(args):
        return [][1]  # an IndexError inside interspect: a bug, not the user's mistake

    monkeypatch.setattr(cli_module, "run_explain", broken)
    assert main(["explain", "--text", "fine film", "--no-cache"]) == 1
    assert "this is a bug" in one_line(capsys)


def test_progress_note_opens_the_bar_and_reaches_callables():
    seen = []
    p = Progress(lambda stage, done, total: seen.append((stage, done, total)))
    p.note("query", "HTTP 503: retry 1/4 in 0.5 s")
    assert seen == [("query: HTTP 503: retry 1/4 in 0.5 s", 0, 0)]
    bar = Progress(True, "demo")
    bar.note("query", "retry 1/4")  # before any batch is done
    assert bar._bars["query"].postfix == "retry 1/4"
    bar.close()


# -- the query layer keeps what a failing value function attached ----------------------------
def test_layer_keeps_the_rows_a_failing_batch_attached(tmp_path):
    X = all_masks(4)

    def fails_half_way(Xb):
        y = Xb.sum(axis=1).astype(float)
        y[len(y) // 2 :] = np.nan  # the second half never arrived
        raise attach_partial(ConnectionError("endpoint went away"), y, Xb)

    q = Queries(fails_half_way, 4, cache=tmp_path / "q.sqlite", identity="demo", batch_size=16)
    with pytest.raises(ConnectionError, match=r"endpoint went away \[the 8 outputs computed in this run are kept in the cache, 8 of them from the failing batch") as info:
        q(X)
    assert "\n" not in str(info.value)
    with QueryCache(tmp_path / "q.sqlite") as c:
        got = c.get("demo", [np.packbits(r).tobytes() for r in X])
    assert len(got) == 8 and all(got[np.packbits(r).tobytes()] == r.sum() for r in X[:8])
    # the rerun computes only the other 8
    calls = []
    again = Queries(lambda Xb: (calls.append(len(Xb)), Xb.sum(axis=1))[1], 4, cache=tmp_path / "q.sqlite", identity="demo")
    assert again(X).tolist() == X.sum(axis=1).tolist() and calls == [8]


def test_text_value_function_keeps_earlier_chunks_when_the_model_fails(tmp_path):
    from interspect.applications.text import TextValueFunction
    from test_cache import ArithmeticLM, prompt_value

    class DiesOnThirdCall(ArithmeticLM):
        calls = 0

        def continuation_logprobs(self, prompts, continuations):
            type(self).calls += 1
            if type(self).calls == 3:
                raise RuntimeError("the model process died")
            return super().continuation_logprobs(prompts, continuations)

    lm = DiesOnThirdCall()
    vf = TextValueFunction(lm, "one two three four five", labels=(" yes", " no"), batch_size=4)
    q = Queries(vf, vf.n, cache=tmp_path / "q.sqlite", batch_size=32)
    with pytest.raises(RuntimeError, match="the model process died"):
        q(all_masks(5))
    with QueryCache(tmp_path / "q.sqlite") as c:
        assert c.count(vf.identity) == 8  # the two chunks of 4 prompts scored before the failure
        rows = all_masks(5)
        got = c.get(vf.identity, [np.packbits(r).tobytes() for r in rows])
    for r in rows:
        key = np.packbits(r).tobytes()
        if key in got:
            p = vf.prompt(r)
            assert got[key] == pytest.approx(prompt_value(p, " yes") - prompt_value(p, " no"))


# -- #6 and #13: devices and API keys --------------------------------------------------------
@pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="needs torch (the 'llm' extra)")
def test_cuda_on_a_cpu_only_torch_is_one_line(capsys):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a CUDA GPU")
    from interspect.applications.language import load

    with pytest.raises(ValueError, match="device='cuda'.*use device='cpu'"):
        load("smollm2", device="cuda")
    with pytest.raises(ValueError, match="device='gpu' is not a torch device"):
        load("smollm2", device="gpu")
    assert main(["explain", "--text", "fine film", "--device", "cuda", "--no-cache"]) == 2
    assert "device='cuda'" in one_line(capsys)


@pytest.mark.skipif(importlib.util.find_spec("httpx") is None, reason="needs the 'openai' extra (httpx)")
def test_api_key_over_plain_http_to_another_machine_warns_once():
    from interspect.applications.language.openai_backend import OpenAIBackend

    def made(url, key="sk-secret"):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            OpenAIBackend("m", url, api_key=key).close()
        return [str(w.message) for w in caught]

    first = made("http://10.11.12.13:8000/v1")
    assert len(first) == 1 and "sent in clear text to http://10.11.12.13:8000/v1" in first[0]
    assert "sk-secret" not in first[0]
    assert made("http://10.11.12.13:8000/v1") == []  # once
    assert made("https://api.example.com/v1") == []
    assert made("http://127.0.0.1:8000/v1") == [] and made("http://localhost:8000/v1") == []
    assert made("http://10.11.12.14/v1", key="") == []  # no key, nothing sent
    lm = OpenAIBackend("m", "http://user:pw@10.11.12.15/v1", api_key=None)
    assert "pw" not in json.dumps(lm.identity()) and lm.url == "http://10.11.12.15/v1"
    lm.close()


def test_local_model_paths_stay_out_of_reports(tmp_path):
    from interspect.applications.text import TextValueFunction
    from test_cache import ArithmeticLM

    model_dir = tmp_path / "home" / "alice" / "my-model"
    model_dir.mkdir(parents=True)

    class LocalLM(ArithmeticLM):
        name = str(model_dir)

        def identity(self):
            return {"backend": "hf", "model": str(model_dir), "fingerprint": "abc"}

    vf = TextValueFunction(LocalLM(), "a fine film", labels=(" yes", " no"))
    described = json.dumps(vf.describe())
    assert str(tmp_path) not in described and '"my-model"' in described
