"""Synthetic value functions with known spectra, for tests, examples and benchmarks.

Every game is a callable ``game(X) -> y`` on ``(m, n)`` 0/1 masks that counts the rows it was
asked for (``game.n_calls``) and knows its true spectrum (``game.spectrum``; None only for the
squashed hierarchical game, whose spectrum is not sparse).

Examples
--------
>>> from interspect import games, exact
>>> g = games.SparseFourierGame(n=6, n_terms=4, max_degree=3, seed=0)
>>> s = exact(g, 6)
>>> sorted(s.fourier) == sorted(g.spectrum.fourier)
True
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np

from interspect.core.spectrum import Spectrum
from interspect.core.validation import check_masks, check_n, check_positive_int, check_seed

__all__ = ["Game", "SparseFourierGame", "HierarchicalGame", "DummyGame", "LinearGame"]


class Game:
    """Base class: a value function with a known spectrum and optional Gaussian noise.

    Subclasses set ``self.spectrum`` (the noiseless truth) and may override :meth:`_clean`.
    Noise is drawn from the game's own generator, so the same seed gives the same outputs.
    """

    def __init__(self, n: int, *, noise_std: float = 0.0, seed: int | None = None) -> None:
        self.n = check_n(n)
        if not (noise_std >= 0.0 and np.isfinite(noise_std)):
            raise ValueError(f"noise_std must be a finite number >= 0, got {noise_std!r}")
        self.noise_std = float(noise_std)
        self._rng = check_seed(seed)
        self._noise_rng = np.random.default_rng(self._rng.integers(2**63))
        self.n_calls = 0
        self.spectrum: Spectrum | None = None

    def _clean(self, X: np.ndarray) -> np.ndarray:
        assert self.spectrum is not None
        return self.spectrum.predict(X)

    def __call__(self, X: Any) -> np.ndarray:
        X = check_masks(X, self.n)
        self.n_calls += X.shape[0]
        y = self._clean(X)
        if self.noise_std > 0:
            y = y + self._noise_rng.normal(0.0, self.noise_std, size=y.shape)
        return y

    def signal_std(self) -> float:
        """Standard deviation of the noiseless output under uniform random masks."""
        if self.spectrum is not None:
            return float(np.sqrt(sum(v * v for k, v in self.spectrum.fourier.items() if k)))
        X = np.random.default_rng(0).integers(0, 2, size=(4000, self.n), dtype=np.uint8)
        return float(np.std(self._clean(X)))


def _random_support(
    rng: np.random.Generator, n: int, n_terms: int, max_degree: int, min_degree: int = 1
) -> list[tuple[int, ...]]:
    max_degree = min(max_degree, n)
    support: set[tuple[int, ...]] = set()
    attempts = 0
    while len(support) < n_terms:
        attempts += 1
        if attempts > 100 * n_terms + 1000:
            raise ValueError(
                f"cannot draw {n_terms} distinct terms of degree {min_degree}..{max_degree} over n={n} features"
            )
        d = int(rng.integers(min_degree, max_degree + 1))
        support.add(tuple(sorted(rng.choice(n, size=d, replace=False).tolist())))
    return sorted(support, key=lambda k: (len(k), k))


class SparseFourierGame(Game):
    """A sum of ``n_terms`` random Fourier terms of degree 1..``max_degree`` plus a constant.

    Magnitudes are uniform in ``[low, high]`` with random signs (the SPEX papers' synthetic setting).
    """

    def __init__(
        self,
        n: int,
        n_terms: int = 20,
        max_degree: int = 4,
        *,
        low: float = 0.5,
        high: float = 1.5,
        noise_std: float = 0.0,
        seed: int | None = None,
    ) -> None:
        super().__init__(n, noise_std=noise_std, seed=seed)
        n_terms = check_positive_int(n_terms, "n_terms")
        max_degree = check_positive_int(max_degree, "max_degree")
        support = _random_support(self._rng, self.n, n_terms, max_degree)
        mags = self._rng.uniform(low, high, size=len(support)) * self._rng.choice(
            [-1.0, 1.0], size=len(support)
        )
        fourier = {(): float(self._rng.normal())}
        fourier.update({k: float(v) for k, v in zip(support, mags)})
        self.spectrum = Spectrum(fourier, self.n)


class HierarchicalGame(Game):
    """Sparse Möbius game with hierarchy: every subset of each top interaction is present.

    ``n_top`` top interactions of degree ``min_degree``..``max_degree`` are drawn; each of their
    non-empty subsets S gets a Möbius coefficient ``N(0, 1) · decay^{|T|-|S|}``-ish weight, so
    lower orders carry signal too (as LLM outputs do). With ``squash="tanh"`` the output is
    ``scale · tanh(f / scale)``, no longer exactly sparse; ``spectrum`` is then None (but see
    :meth:`exact_spectrum` for small n).
    """

    def __init__(
        self,
        n: int,
        n_top: int = 5,
        min_degree: int = 3,
        max_degree: int = 5,
        *,
        decay: float = 0.5,
        squash: Literal["none", "tanh"] = "none",
        noise_std: float = 0.0,
        seed: int | None = None,
    ) -> None:
        super().__init__(n, noise_std=noise_std, seed=seed)
        n_top = check_positive_int(n_top, "n_top")
        if squash not in ("none", "tanh"):
            raise ValueError(f"squash={squash!r} is not supported; accepted values: 'none', 'tanh'")
        tops = _random_support(
            self._rng, self.n, n_top, max_degree, min(min_degree, max_degree, self.n)
        )
        mobius: dict[tuple[int, ...], float] = {}
        from itertools import combinations

        for top in tops:
            for size in range(1, len(top) + 1):
                for sub in combinations(top, size):
                    w = self._rng.normal() * decay ** (len(top) - size)
                    mobius[sub] = mobius.get(sub, 0.0) + float(w)
        self.top_interactions = tops
        self.mobius = mobius
        self.squash = squash
        self._sparse = Spectrum.from_mobius(mobius, self.n)
        self.spectrum = self._sparse if squash == "none" else None
        self._scale = 1.0
        if squash == "tanh":
            X = np.random.default_rng(0).integers(0, 2, size=(2000, self.n), dtype=np.uint8)
            self._scale = float(np.std(self._sparse.predict(X))) or 1.0

    def _clean(self, X: np.ndarray) -> np.ndarray:
        y = self._sparse.predict(X)
        if self.squash == "tanh":
            y = self._scale * np.tanh(y / self._scale)
        return y


class DummyGame(Game):
    """Only the features in ``active`` matter, through a product (an AND): ``f = Π_{i∈active} x_i``."""

    def __init__(
        self,
        n: int,
        active: tuple[int, ...] = (0,),
        *,
        noise_std: float = 0.0,
        seed: int | None = None,
    ) -> None:
        super().__init__(n, noise_std=noise_std, seed=seed)
        self.active = tuple(sorted(int(i) for i in active))
        if any(i < 0 or i >= self.n for i in self.active):
            raise ValueError(f"active features must lie in 0..{self.n - 1}, got {active!r}")
        self.spectrum = Spectrum.from_mobius({self.active: 1.0}, self.n)


class LinearGame(Game):
    """``f(x) = intercept + Σ_i w_i x_i``: every attribution method must recover ``w`` exactly."""

    def __init__(
        self,
        n: int,
        *,
        weights: np.ndarray | None = None,
        intercept: float = 0.0,
        noise_std: float = 0.0,
        seed: int | None = None,
    ) -> None:
        super().__init__(n, noise_std=noise_std, seed=seed)
        w = self._rng.normal(size=self.n) if weights is None else np.asarray(weights, dtype=float)
        if w.shape != (self.n,):
            raise ValueError(f"weights must have shape ({self.n},), got {w.shape}")
        self.weights = w
        mobius = {(i,): float(w[i]) for i in range(self.n)}
        mobius[()] = float(intercept)
        self.spectrum = Spectrum.from_mobius(mobius, self.n)
