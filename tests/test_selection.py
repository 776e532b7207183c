"""`Explanation.select` against brute force over every r-subset (small n)."""

from __future__ import annotations

from itertools import combinations

import numpy as np
import pytest

from interspect import Spectrum
from interspect.interface.explanation import Explanation


def random_explanation(n: int, seed: int) -> Explanation:
    """A surrogate with terms of order 1-3 of both signs: the optimum is not the first-order ranking."""
    rng = np.random.default_rng(seed)
    mobius = {(): float(rng.normal())}
    mobius.update({(i,): float(rng.normal()) for i in range(n)})
    for d in (2, 3):
        for _ in range(n):
            mobius[tuple(sorted(rng.choice(n, size=d, replace=False).tolist()))] = float(rng.normal() * 1.5)
    return Explanation([f"w{i}" for i in range(n)], Spectrum.from_mobius(mobius, n), index="Moebius")


def brute_force(e: Explanation, r: int, mode: str) -> np.ndarray:
    """Surrogate values of every mask with exactly r features removed (or kept)."""
    n = e.n
    masks = []
    for subset in combinations(range(n), r):
        m = np.ones(n, dtype=np.uint8) if mode == "remove" else np.zeros(n, dtype=np.uint8)
        m[list(subset)] = 0 if mode == "remove" else 1
        masks.append(m)
    return e.spectrum.predict(np.array(masks))


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("mode", ["remove", "keep"])
def test_select_equals_brute_force_over_all_r_subsets(seed, mode):
    n = 8
    e = random_explanation(n, seed)
    full = float(e.spectrum.predict(np.ones((1, n), dtype=np.uint8))[0])
    empty = float(e.spectrum.predict(np.zeros((1, n), dtype=np.uint8))[0])
    start = full if mode == "remove" else empty
    for r in range(n + 1):
        values = brute_force(e, r, mode)
        for direction, best in [
            ("down", values.min()),
            ("up", values.max()),
            ("auto", values[np.argmax(np.abs(values - start))]),
        ]:
            sel = e.select(r, mode=mode, direction=direction)
            assert len(sel.features) == r and len(set(sel.features)) == r
            assert int(sel.mask.sum()) == (n - r if mode == "remove" else r)
            kept = set(np.flatnonzero(sel.mask).tolist())
            assert (kept.isdisjoint(sel.features) if mode == "remove" else kept == set(sel.features))
            assert sel.predicted == pytest.approx(float(e.spectrum.predict(sel.mask[None, :])[0]))
            if direction == "auto":
                assert abs(sel.predicted - start) == pytest.approx(abs(best - start), abs=1e-9)
            else:
                assert sel.predicted == pytest.approx(best, abs=1e-9), (r, direction)
            assert sel.predicted_change == pytest.approx(sel.predicted - start)
            assert sel.labels == tuple(f"w{i}" for i in sel.features)


def test_interactions_change_the_choice():
    # Alone, "a" matters most; "b" and "c" matter more together. A first-order ranking would
    # remove "a"; removing "c" breaks the pair and lowers the output more.
    s = Spectrum.from_mobius({(0,): 1.0, (1,): 0.1, (2,): 0.2, (1, 2): 3.0}, n=4)
    e = Explanation(list("abcd"), s, index="Moebius")
    assert e.select(1, direction="down").labels == ("c",)
    assert e.select(1, mode="keep", direction="up").labels == ("a",)
    assert e.select(2, mode="keep", direction="up").labels == ("b", "c")


def test_bad_arguments_name_the_parameter():
    e = random_explanation(5, 0)
    with pytest.raises(ValueError, match="r must be at most n=5"):
        e.select(6)
    with pytest.raises(ValueError, match="mode"):
        e.select(1, mode="drop")
    with pytest.raises(ValueError, match="direction"):
        e.select(1, direction="sideways")
    with pytest.raises((TypeError, ValueError), match="r"):
        e.select(-1)
