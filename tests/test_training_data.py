"""Training data as features: retraining value function, learners, groupings, parallel retraining,
explain_data, its report view and the explain-data command.

References are independent of the value function's code: subsets are formed, models fit and
outputs computed by hand here, and spectra by brute-force inclusion–exclusion over all 2^n masks.
"""

from __future__ import annotations

import base64
import itertools
import json
import re
import zlib
from math import log

import numpy as np
import pytest
from sklearn.datasets import load_digits, load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.naive_bayes import GaussianNB

from interspect import explain_data
from interspect.applications.training_data import TrainingDataValueFunction, make_groups
from interspect.applications.training_data.valuation import leave_one_out
from interspect.engines.exact import all_masks, exact
from interspect.interface.cli import main
from interspect.queries.executors import EXECUTORS, ProcessExecutor, resolve_executor
from interspect.queries.layer import Queries


@pytest.fixture(scope="module")
def iris():
    X, y = load_iris(return_X_y=True)
    rng = np.random.default_rng(3)
    order = rng.permutation(len(y))
    X = (X - X.mean(axis=0)) / X.std(axis=0)
    return X[order[:60]], y[order[:60]], X[order[60:]], y[order[60:]]


def _partition(m: int, n: int, seed: int = 0) -> list[list[int]]:
    perm = np.random.default_rng(seed).permutation(m)
    return [sorted(int(i) for i in part) for part in np.array_split(perm, n)]


def _margin_by_hand(Xtr, ytr, idx, x, y, fit) -> float:
    """The documented margin, computed without the value function's code."""
    from threadpoolctl import threadpool_limits

    classes = np.unique(ytr)
    sub_y = ytr[idx]
    K = len(classes)
    if len(np.unique(sub_y)) < 2:
        p = np.array([((sub_y == c).sum() + 1) / (len(sub_y) + K) for c in classes])
    else:
        with threadpool_limits(limits=1):  # BLAS threads on tiny fits only cost time
            model = fit().fit(Xtr[idx], sub_y)
        p = np.zeros(K)
        proba = model.predict_proba(x[None, :])[0]
        for c, v in zip(model.classes_, proba):
            p[list(classes).index(c)] = v
    logp = np.log(np.maximum(p, 1e-6))
    t = list(classes).index(y)
    return float(logp[t] - np.max(np.delete(logp, t)))


def _mobius_brute(values: dict[tuple[int, ...], float], n: int) -> dict[tuple[int, ...], float]:
    """a(S) = Σ_{T⊆S} (−1)^{|S|−|T|} f(T), straight from the definition."""
    out = {}
    for r in range(n + 1):
        for S in itertools.combinations(range(n), r):
            out[S] = sum((-1) ** (len(S) - len(T)) * values[T] for k in range(len(S) + 1) for T in itertools.combinations(S, k))
    return out


# -------------------------------------------------------------------------- exact == brute force
@pytest.mark.parametrize(
    ("learner", "fit", "n"),
    [(GaussianNB(), GaussianNB, 8), (LogisticRegression(max_iter=300), lambda: LogisticRegression(max_iter=300), 5)],
    ids=["naive_bayes_n8", "logistic_n5"],
)
def test_exact_spectrum_equals_brute_force_over_all_subsets(iris, learner, fit, n):
    Xtr, ytr, Xte, yte = iris
    parts = _partition(len(ytr), n)
    vf = TrainingDataValueFunction(Xtr, ytr, Xte[0], yte[0], learner=learner, groups=parts)
    values = {}
    for S in (tuple(np.flatnonzero(row)) for row in all_masks(n)):
        idx = np.array(sorted(i for j in S for i in parts[j]), dtype=int)
        values[S] = _margin_by_hand(Xtr, ytr, idx, Xte[0], yte[0], fit)
    reference = _mobius_brute(values, n)
    got = exact(Queries(vf, n), n).interactions("Moebius")
    for S, a in reference.items():
        assert got.get(S, 0.0) == pytest.approx(a, abs=1e-8), S


def test_degenerate_subsets_have_the_documented_outputs(iris):
    Xtr, ytr, Xte, yte = iris
    K = 3
    by_class = [list(np.flatnonzero(ytr == c)) for c in range(K)]
    q = {out: Queries(TrainingDataValueFunction(Xtr, ytr, Xte[0], yte[0], groups=by_class, output=out), K)
         for out in ("margin", "logloss", "probability")}
    empty = np.zeros((1, K), dtype=np.uint8)
    assert q["margin"](empty)[0] == pytest.approx(0.0)
    assert q["logloss"](empty)[0] == pytest.approx(log(K))
    assert q["probability"](empty)[0] == pytest.approx(1 / K)
    # Only the test point's own class: p(true) = (m + 1) / (m + K), every other class 1 / (m + K).
    t = int(yte[0])
    m = len(by_class[t])
    only = np.zeros((1, K), dtype=np.uint8)
    only[0, t] = 1
    assert q["margin"](only)[0] == pytest.approx(log(m + 1))
    assert q["probability"](only)[0] == pytest.approx((m + 1) / (m + K))
    other = np.zeros((1, K), dtype=np.uint8)
    other[0, (t + 1) % K] = 1
    assert q["logloss"](other)[0] == pytest.approx(log(len(by_class[(t + 1) % K]) + K))


def test_a_class_missing_from_the_subset_gets_probability_zero(iris):
    Xtr, ytr, Xte, yte = iris
    t = int(yte[0])
    groups = [list(np.flatnonzero(ytr == c)) for c in range(3)]
    vf = TrainingDataValueFunction(Xtr, ytr, Xte[0], yte[0], groups=groups, output="probability")
    mask = np.ones((1, 3), dtype=np.uint8)
    mask[0, t] = 0  # two classes left, neither the true one
    assert Queries(vf, 3)(mask)[0] == 0.0


# --------------------------------------------------------------------------------- determinism
def _random_masks(n, m, seed=0):
    return np.random.default_rng(seed).integers(0, 2, size=(m, n), dtype=np.uint8)


def test_retraining_is_deterministic_and_the_seed_matters(iris):
    from sklearn.ensemble import RandomForestClassifier

    Xtr, ytr, Xte, yte = iris
    X = _random_masks(10, 6)

    def outputs(seed):
        vf = TrainingDataValueFunction(Xtr, ytr, Xte[:3], yte[:3], learner=RandomForestClassifier(n_estimators=5),
                                       groups="kmeans", n_groups=10, seed=seed)
        return Queries(vf, vf.n)(X), vf

    a, vf_a = outputs(0)
    b, vf_b = outputs(0)
    assert np.array_equal(a, b) and vf_a.identity == vf_b.identity
    # The same subset asked twice in one run gives the same output too.
    assert np.array_equal(Queries(vf_a, 10)(np.vstack([X[:1], X[:1]])), np.repeat(a[:1], 2))
    c, vf_c = outputs(1)
    assert not np.array_equal(a, c) and vf_c.identity != vf_a.identity


@pytest.mark.slow
def test_torch_learner_is_deterministic(iris):
    pytest.importorskip("torch")
    from interspect.applications.training_data import TorchClassifier

    Xtr, ytr, Xte, yte = iris
    X = _random_masks(4, 4, seed=2)
    runs = []
    for _ in range(2):
        vf = TrainingDataValueFunction(Xtr, ytr, Xte[0], yte[0], learner=TorchClassifier(hidden=8, epochs=15),
                                       groups=_partition(len(ytr), 4))
        runs.append(Queries(vf, 4)(X))
    assert np.array_equal(runs[0], runs[1])
    cnn = TorchClassifier(architecture="cnn", hidden=2, epochs=3, image_shape=(2, 2), random_state=0)
    assert cnn.fit(Xtr, ytr).predict_proba(Xte[:2]).shape == (2, 3)


# ------------------------------------------------------------------------------------- parallel
@pytest.mark.slow
def test_parallel_retraining_gives_the_serial_outputs(iris):
    Xtr, ytr, Xte, yte = iris
    vf = TrainingDataValueFunction(Xtr, ytr, Xte[:2], yte[:2], groups="kmeans", n_groups=12, batch_size=3)
    X = _random_masks(12, 20, seed=5)
    serial = Queries(vf, 12)(X)
    with ProcessExecutor(n_jobs=2) as ex:
        parallel = Queries(vf, 12, executor=ex)(X)
        again = Queries(vf, 12, executor=ex)(X[::-1])  # the pool is reused for the same value function
        assert ex._pool is not None
    assert ex._pool is None
    assert np.array_equal(serial, parallel)
    assert np.array_equal(serial[::-1], again)
    # By name: the query layer makes the executor and shuts its workers down when closed.
    assert "process" in EXECUTORS and isinstance(resolve_executor("process"), ProcessExecutor)
    q = Queries(vf, 12, executor="process")
    assert np.array_equal(q(X[:4]), serial[:4])
    assert q.executor._pool is not None
    q.close()
    assert q.executor._pool is None


def test_process_executor_refuses_a_value_function_it_cannot_ship():
    with pytest.raises(TypeError, match="cannot be pickled") as info:
        Queries(lambda X: X.sum(axis=1), 3, executor=ProcessExecutor(n_jobs=1))(np.ones((2, 3)))
    assert "\n" not in str(info.value)


# ------------------------------------------------------------------------------------ bad input
def _bad_cases(iris):
    Xtr, ytr, Xte, yte = iris
    ok = {"X_train": Xtr, "y_train": ytr, "X_test": Xte[0], "y_test": yte[0]}

    def vf(**kw):
        return lambda: TrainingDataValueFunction(**{**ok, **kw})

    return [
        ("test point features", vf(X_test=Xte[0, :3]), ValueError, "X_test must have 4 input features"),
        ("several test points", vf(X_test=Xte[:2, :2], y_test=yte[:2]), ValueError, "X_test must have 4"),
        ("learner without fit", vf(learner=object()), TypeError, "learner must be .* no fit"),
        ("learner without predict", vf(learner=type("FitOnly", (), {"fit": lambda self, X, y: self})()), TypeError, "no predict"),
        ("learner class", vf(learner=LogisticRegression), TypeError, "pass an instance"),
        ("learner name", vf(learner="forest"), ValueError, "learner='forest' is not supported"),
        ("groups not covering", vf(groups=[[0, 1], [2, 3]]), ValueError, "groups do not cover the data"),
        ("groups overlapping", vf(groups=[list(range(40)), list(range(30, 60))]), ValueError, "groups overlap"),
        ("group ids length", vf(groups=[0, 1, 2]), ValueError, "length 60"),
        ("group index range", vf(groups=[list(range(59)), [99]]), ValueError, "outside 0..59"),
        ("one class", vf(y_train=np.zeros(60, dtype=int), y_test=0), ValueError, "y_train has a single class"),
        ("unknown test label", vf(y_test=7), ValueError, "y_test holds the label 7"),
        ("labels length", vf(y_train=ytr[:10]), ValueError, "y_train must hold one label per row"),
        ("nan input", vf(X_train=np.where(np.eye(60, 4) > 0, np.nan, Xtr)), ValueError, "X_train holds NaN"),
        ("output", vf(output="accuracy"), ValueError, "output='accuracy' is not supported"),
        ("kmeans needs n_groups", vf(groups="kmeans"), ValueError, "needs n_groups"),
        ("grouping name", vf(groups="clusters"), ValueError, "groups='clusters' is not supported"),
        ("min_probability", vf(min_probability=0.0), ValueError, "min_probability"),
        ("partial arrays", lambda: explain_data(Xtr, ytr), ValueError, "missing: X_test, y_test"),
        ("dataset", lambda: explain_data(dataset="mnist"), ValueError, "dataset='mnist' is not supported"),
        ("image shape", lambda: explain_data(Xtr, ytr, Xte[0], yte[0], image_shape=(3, 3), groups="class"), ValueError, "image_shape"),
        ("jobs and executor", lambda: explain_data(dataset="iris", n_jobs=2, executor="serial"), ValueError, "not both"),
    ]


@pytest.mark.parametrize("case", range(22))
def test_bad_input_is_one_clear_line(iris, case):
    cases = _bad_cases(iris)
    assert len(cases) == 22
    _, make, exc, pattern = cases[case]
    with pytest.raises(exc, match=pattern) as info:
        make()
    assert "\n" not in str(info.value)


def test_groupings_partition_the_data_and_name_their_groups(iris):
    Xtr, ytr, _, _ = iris
    for groups, kw in [("examples", {}), ("class", {}), ("kmeans", {"n_groups": 7}), ("duplicates", {"duplicate_threshold": 0.3})]:
        g = make_groups(groups, Xtr, ytr, **kw)
        assert sorted(np.concatenate(g.members).tolist()) == list(range(len(ytr)))
        assert len(g.labels) == g.n == len(g.members)
    # Exact copies are one near-duplicate group.
    X = np.vstack([Xtr, Xtr[:1], Xtr[:1]])
    g = make_groups("duplicates", X, np.concatenate([ytr, ytr[:2] * 0 + ytr[0]]))
    assert [0, 60, 61] in [m.tolist() for m in g.members]
    assert g.n == len(ytr)


# --------------------------------------------------------------- the planted duplicate copies
def test_planted_duplicate_copies_interact_negatively():
    """k copies of one training example substitute for each other: removing one changes little,
    removing all changes a lot — a negative pairwise interaction that leave-one-out cannot show."""
    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    keep = np.flatnonzero(np.isin(y, [3, 5, 8]))
    rng = np.random.default_rng(0)
    train = np.sort(np.concatenate([rng.choice(keep[y[keep] == c], 20, replace=False) for c in (3, 5, 8)]))
    # The test digit: the rest's most borderline one for a model trained on `train`.
    rest = np.setdiff1d(keep, train)
    model = LogisticRegression(max_iter=300).fit(X[train], y[train])
    logp = np.log(model.predict_proba(X[rest]))
    true = np.searchsorted(model.classes_, y[rest])
    own = logp[np.arange(len(rest)), true]
    logp[np.arange(len(rest)), true] = -np.inf
    t = rest[np.argmin(np.abs(own - logp.max(axis=1)))]
    k = 3
    Xtr = np.vstack([X[train], np.repeat(X[t][None], k, axis=0)])
    ytr = np.concatenate([y[train], np.full(k, y[t])])
    # Features: 4 groups of the original examples and each copy on its own (n = 7).
    ids = np.concatenate([np.arange(len(train)) % 4, [10, 11, 12]])
    vf = TrainingDataValueFunction(Xtr, ytr, X[t], y[t], groups=ids)
    copies = [vf.grouping.labels.index(s) for s in ("10", "11", "12")]
    s = exact(Queries(vf, vf.n), vf.n)
    bii = s.interactions("BII")
    pairs = {key: v for key, v in bii.items() if len(key) == 2}
    copy_pairs = {tuple(sorted(p)) for p in itertools.combinations(copies, 2)}
    for p in copy_pairs:
        assert pairs[p] < 0, (p, pairs[p])
        assert bii[(p[0],)] > 0
    # A copy interacts with the other copies, far more than with any group of other examples ...
    mixed = [v for key, v in pairs.items() if len(set(key) & set(copies)) == 1]
    assert max(pairs[p] for p in copy_pairs) < min(mixed)
    # ... and the copies' pairs are the most negative pairwise interactions of all.
    most_negative = sorted(pairs, key=pairs.get)[: len(copy_pairs)]
    assert set(most_negative) == copy_pairs
    # Leave-one-out of a copy misses most of what the copies do together.
    loo = leave_one_out(Queries(vf, vf.n), vf.n).interactions("Moebius")
    full = np.ones((1, vf.n), dtype=np.uint8)
    none = full.copy()
    none[0, copies] = 0
    together = float(Queries(vf, vf.n)(full)[0] - Queries(vf, vf.n)(none)[0])
    assert together > 0
    assert sum(loo.get((c,), 0.0) for c in copies) < 0.8 * together


# ------------------------------------------------------------------------ leave-one-out
def test_leave_one_out_is_the_drop_from_removing_each_feature(iris):
    Xtr, ytr, Xte, yte = iris
    vf = TrainingDataValueFunction(Xtr, ytr, Xte[1], yte[1], learner=GaussianNB(), groups="kmeans", n_groups=5)
    q = Queries(vf, 5)
    s = leave_one_out(q, 5)
    full = q(np.ones((1, 5)))[0]
    for i in range(5):
        row = np.ones((1, 5), dtype=np.uint8)
        row[0, i] = 0
        assert s.interactions("Moebius").get((i,), 0.0) == pytest.approx(full - q(row)[0])
    assert s.n_queries == 6
    assert s.predict(np.ones((1, 5)))[0] == pytest.approx(full)


# ----------------------------------------------------- explain_data, cache, report, CLI
def test_explain_data_is_cached_and_resumable(tmp_path):
    cache = tmp_path / "q.sqlite"
    kw = {"dataset": "wine", "groups": "kmeans", "n_groups": 6, "method": "exact", "n_test": 0, "learner": GaussianNB()}
    first = explain_data(cache=cache, **kw)
    again = explain_data(cache=cache, **kw)
    assert first.metadata["n_model_calls"] == 2**6 and again.metadata["n_model_calls"] == 0
    assert again.metadata["n_from_cache"] == 2**6
    assert first.spectrum.interactions("Moebius") == again.spectrum.interactions("Moebius")
    # Another test point is another value function: nothing is reused.
    other = explain_data(cache=cache, test_point=0, **kw)
    assert other.metadata["n_model_calls"] == 2**6
    meta = first.metadata["training_data"]
    assert first.metadata["application"] == "training_data"
    assert [g["label"] for g in meta["groups"]] == first.features
    assert sum(g["size"] for g in meta["groups"]) == first.metadata["value_function"]["n_train"]


def _png_pixels(uri: str) -> list[int]:
    """Decode one of the report's 8-bit grey PNGs (filter 0 rows), independently of the writer."""
    data = base64.b64decode(uri.split(",", 1)[1])
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    w, h = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    pos, idat = 8, b""
    while pos < len(data):
        length = int.from_bytes(data[pos : pos + 4], "big")
        if data[pos + 4 : pos + 8] == b"IDAT":
            idat += data[pos + 8 : pos + 8 + length]
        pos += 12 + length
    raw = zlib.decompress(idat)
    return [b for r in range(h) for b in raw[r * (w + 1) + 1 : (r + 1) * (w + 1)]]


def test_report_shows_training_images_as_thumbnails_with_values(tmp_path):
    X, y = load_digits(return_X_y=True)
    Xtr, ytr = X[:150], y[:150]
    e = explain_data(Xtr, ytr, X[1500], y[1500], groups="class", image_shape=(8, 8), learner=GaussianNB(),
                     method="proxyspex", budget=60, n_test=0, class_names=[f"digit {d}" for d in range(10)])
    page = e.to_html(tmp_path / "r.html") or (tmp_path / "r.html").read_text()
    cards = re.findall(r'class="seg td-card" data-i="(\d+)"', page)
    assert sorted(map(int, cards)) == list(range(10))
    uris = re.findall(r'src="(data:image/png;base64,[^"]+)"', page)
    assert len(uris) >= 1 + 10 * 4  # the test digit and four thumbnails per class
    # The first image is the test digit, drawn dark on light: 255 − grey level (0..16 scaled to 0..255).
    expected = [255 - int(round(v * 255 / 16)) for v in X[1500]]
    assert _png_pixels(uris[0]) == expected
    first = e.first_order()
    for i in range(10):
        assert f"{e.index} {first[i]:+.3g}" in page
    assert "digit 3" in page


def test_cli_explain_data_writes_the_report(tmp_path, capsys):
    out = tmp_path / "out"
    rc = main(["explain-data", "--dataset", "iris", "--groups", "class", "--method", "exact", "--n-test", "0",
               "--no-cache", "--no-progress", "--out", str(out)])
    assert rc == 0
    text = capsys.readouterr().out
    assert "iris test point" in text and "class setosa" in text
    saved = json.loads((out / "explanation.json").read_text())
    assert saved["metadata"]["application"] == "training_data"
    assert 'class="seg td-card"' in (out / "report.html").read_text()


def test_cli_explain_data_on_a_csv(tmp_path, capsys):
    X, y = load_iris(return_X_y=True)
    rows = ["a,b,c,d,species"] + [",".join(f"{v:.1f}" for v in x) + f",s{c}" for x, c in zip(X[::3], y[::3])]
    path = tmp_path / "t.csv"
    path.write_text("\n".join(rows) + "\n")
    rc = main(["explain-data", "--csv", str(path), "--label", "species", "--test-row", "2", "--groups", "class",
               "--method", "exact", "--n-test", "0", "--no-cache", "--no-progress", "--out", str(tmp_path / "o")])
    assert rc == 0
    assert "row 2: label s0" in capsys.readouterr().out
    one = tmp_path / "one.csv"
    one.write_text("a,label\n1,x\n2,x\n3,x\n")
    rc = main(["explain-data", "--csv", str(one), "--label", "label", "--test-row", "0", "--no-cache", "--no-progress"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and "single class" in err and len(err.splitlines()) == 1
    rc = main(["explain-data", "--csv", str(path), "--no-cache"])
    assert rc == 2 and "--label" in capsys.readouterr().err


def test_identity_covers_data_learner_parameters_seed_grouping_output_and_test_points(iris):
    Xtr, ytr, Xte, yte = iris
    base = {"X_train": Xtr, "y_train": ytr, "X_test": Xte[0], "y_test": yte[0], "groups": "kmeans", "n_groups": 5,
            "learner": LogisticRegression(C=1.0)}

    def ident(**kw):
        return TrainingDataValueFunction(**{**base, **kw}).identity

    same = ident()
    assert ident() == same
    changed = [
        ident(learner=LogisticRegression(C=2.0)), ident(learner=GaussianNB()), ident(seed=1), ident(n_groups=6),
        ident(output="logloss"), ident(X_test=Xte[1], y_test=yte[1]), ident(X_train=Xtr + 1e-9),
        ident(y_train=np.roll(ytr, 1)),
    ]
    assert same not in changed and len(set(changed)) == len(changed)
