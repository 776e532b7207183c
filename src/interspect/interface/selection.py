"""Act on an explanation: the r features whose removal (or keeping alone) moves the output most.

The choice optimises the surrogate exactly: its Möbius polynomial over all masks with exactly r
features removed (or kept) is a binary program, solved by
:func:`interspect.evaluation.metrics.removal_mask` (SciPy's HiGHS ``milp``). Nothing here queries
the model; ``interspect prune`` checks the real output on the chosen mask.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np

from interspect.core.validation import check_choice, check_positive_int
from interspect.evaluation.metrics import removal_mask

if TYPE_CHECKING:
    from interspect.interface.explanation import Explanation

__all__ = ["Selection", "select", "SelectMode", "SelectDirection"]

SelectMode = Literal["remove", "keep"]
SelectDirection = Literal["auto", "down", "up"]


@dataclass(frozen=True)
class Selection:
    """The features :func:`select` chose and what the surrogate predicts for the result.

    Attributes
    ----------
    features, labels : tuple
        The r chosen features (indices, sorted) and their labels.
    mode : {"remove", "keep"}
        Whether they are the ones removed or the only ones kept.
    direction : {"down", "up"}
        Whether the surrogate's output was minimised or maximised.
    mask : numpy.ndarray
        The input after acting: ``n`` entries, 1 = feature kept.
    predicted : float
        The surrogate on ``mask``.
    predicted_full, predicted_empty : float
        The surrogate on the whole input and on the empty one.
    """

    features: tuple[int, ...]
    labels: tuple[str, ...]
    mode: str
    direction: str
    mask: np.ndarray
    predicted: float
    predicted_full: float
    predicted_empty: float

    @property
    def predicted_change(self) -> float:
        """``predicted`` minus the surrogate on the starting point (whole input for "remove",
        empty input for "keep")."""
        start = self.predicted_full if self.mode == "remove" else self.predicted_empty
        return self.predicted - start


def select(
    expl: Explanation,
    r: int,
    *,
    mode: SelectMode = "remove",
    direction: SelectDirection = "auto",
    time_limit: float | None = 20.0,
) -> Selection:
    """The ``r`` features whose removal (or keeping alone) moves the surrogate's output most.

    Parameters
    ----------
    expl : Explanation
        Its spectrum is the surrogate optimised.
    r : int
        How many features to choose, ``0 <= r <= n``.
    mode : {"remove", "keep"}
        ``"remove"``: the mask has exactly r zeros (the chosen features are removed);
        ``"keep"``: exactly r ones (only the chosen features are kept, e.g. to shorten a context
        to the r segments that support the answer most: ``direction="up"``).
    direction : {"auto", "down", "up"}
        ``"down"`` minimises the surrogate over those masks, ``"up"`` maximises it, ``"auto"``
        takes whichever moves it further from the starting point (the whole input for
        ``"remove"``, the empty input for ``"keep"``).
    time_limit : float or None
        Seconds the solver may spend per program (see
        :func:`~interspect.evaluation.metrics.removal_mask`).

    Examples
    --------
    >>> from interspect import Spectrum
    >>> from interspect.interface.explanation import Explanation
    >>> s = Spectrum.from_mobius({(0,): 0.5, (1,): 0.2, (2,): 0.3, (1, 2): 2.0}, n=4)
    >>> e = Explanation(["a", "b", "c", "d"], s, index="Moebius")
    >>> sel = select(e, 1, direction="down")
    >>> sel.labels, sel.predicted, sel.predicted_full
    (('c',), 0.7, 3.0)
    >>> select(e, 2, mode="keep", direction="up").labels
    ('b', 'c')
    """
    n = expl.n
    r = check_positive_int(r, "r", minimum=0)
    if r > n:
        raise ValueError(f"r must be at most n={n} (the number of features), got {r}")
    check_choice(mode, "mode", ("remove", "keep"))
    check_choice(direction, "direction", ("auto", "down", "up"))
    spectrum = expl.spectrum
    zeros = r if mode == "remove" else n - r
    dirs = ["down", "up"] if direction == "auto" else [direction]
    masks = [removal_mask(spectrum, zeros, direction=d, time_limit=time_limit) for d in dirs]
    ends = np.vstack([np.ones(n, dtype=np.uint8), np.zeros(n, dtype=np.uint8)])
    pred = spectrum.predict(np.vstack([ends, *masks]))
    full, empty, cand = float(pred[0]), float(pred[1]), pred[2:]
    start = full if mode == "remove" else empty
    best = int(np.argmax(np.abs(cand - start)))
    mask = masks[best]
    chosen = np.flatnonzero(mask == 0) if mode == "remove" else np.flatnonzero(mask == 1)
    features = tuple(int(i) for i in chosen)
    return Selection(
        features=features,
        labels=tuple(expl.features[i] for i in features),
        mode=mode,
        direction=dirs[best],
        mask=mask,
        predicted=float(cand[best]),
        predicted_full=full,
        predicted_empty=empty,
    )
