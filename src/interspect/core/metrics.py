"""The coefficient of determination, the one measure of fit every part of interspect reports."""

from __future__ import annotations

import numpy as np

__all__ = ["r2_score"]


def r2_score(y: np.ndarray, y_hat: np.ndarray) -> float:
    """``R² = 1 − ‖y − ŷ‖² / ‖y − ȳ‖²`` (1.0 when y is constant and matched exactly, −inf when y
    is constant and not matched).

    Examples
    --------
    >>> r2_score([1.0, 2.0, 3.0], [1.0, 2.0, 4.0])
    0.5
    """
    y = np.asarray(y, dtype=float)
    y_hat = np.asarray(y_hat, dtype=float)
    ss_res = float(np.sum((y - y_hat) ** 2))
    ss_tot = float(np.sum((y - y.mean()) ** 2))
    if ss_tot == 0.0:
        return 1.0 if ss_res == 0.0 else float("-inf")
    return 1.0 - ss_res / ss_tot
