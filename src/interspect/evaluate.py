"""How good is a surrogate: faithfulness on fresh random masks (SPEC §6)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from interspect._validation import call_value_fn, check_positive_int, check_seed
from interspect.spectrum import Spectrum

__all__ = ["faithfulness", "r2_score"]


def r2_score(y: np.ndarray, y_hat: np.ndarray) -> float:
    """``R² = 1 − ‖y − ŷ‖² / ‖y − ȳ‖²`` (1.0 when y is constant and matched exactly)."""
    y = np.asarray(y, dtype=float)
    y_hat = np.asarray(y_hat, dtype=float)
    ss_res = float(np.sum((y - y_hat) ** 2))
    ss_tot = float(np.sum((y - y.mean()) ** 2))
    if ss_tot == 0.0:
        return 1.0 if ss_res == 0.0 else float("-inf")
    return 1.0 - ss_res / ss_tot


def faithfulness(
    spectrum: Spectrum,
    value_fn: Callable[[np.ndarray], Any],
    n_test: int = 1000,
    seed: int | None = 0,
    *,
    batch_size: int | None = None,
) -> float:
    """R² of ``spectrum`` against ``value_fn`` on ``n_test`` fresh uniformly random masks.

    The masks come from their own generator (``seed``), never from the masks used for fitting.

    Examples
    --------
    >>> from interspect import exact, faithfulness, games
    >>> g = games.SparseFourierGame(n=8, n_terms=5, seed=1)
    >>> round(faithfulness(exact(g, 8), g), 6)
    1.0
    """
    if not isinstance(spectrum, Spectrum):
        raise TypeError(f"spectrum must be an interspect.Spectrum, got {type(spectrum).__name__}")
    n_test = check_positive_int(n_test, "n_test", minimum=2)
    rng = check_seed(seed)
    X = rng.integers(0, 2, size=(n_test, spectrum.n), dtype=np.uint8)
    y = call_value_fn(value_fn, X, batch_size=batch_size)
    return r2_score(y, spectrum.predict(X))
