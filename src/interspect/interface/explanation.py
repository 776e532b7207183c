"""`Explanation`: what a user gets back — features, spectrum, the chosen index, run metadata."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import Any

from interspect.core.spectrum import Spectrum, by_importance
from interspect.core.validation import check_positive_int

__all__ = ["Explanation", "Interaction"]

_FORMAT = "interspect.explanation/1"


def _strict(value: Any) -> Any:
    """``value`` with every non-finite float replaced by None (strict JSON)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _strict(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_strict(v) for v in value]
    return value


def _read_json(path: str | PathLike[str]) -> Any:
    """The JSON in ``path``; a file that is not UTF-8 JSON gives a ValueError naming it."""
    raw = Path(path).read_bytes()
    try:
        return json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ValueError(f"{str(path)!r} is not UTF-8 text (byte offset {exc.start}); expected JSON") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"{str(path)!r} is not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})") from None


def _reason(exc: BaseException) -> str:
    if isinstance(exc, KeyError):
        return f"field {exc.args[0]!r} is missing"
    return str(exc)


@dataclass(frozen=True)
class Interaction:
    """One interaction: feature indices, their labels, and the index value."""

    features: tuple[int, ...]
    labels: tuple[str, ...]
    value: float

    @property
    def order(self) -> int:
        return len(self.features)

    def to_dict(self) -> dict[str, Any]:
        return {"features": list(self.features), "labels": list(self.labels), "value": self.value}


@dataclass
class Explanation:
    """The result of explaining one input: which features and interactions drive the output.

    Parameters
    ----------
    features : list of str
        One label per feature (for text: the segment text).
    spectrum : Spectrum
        The fitted sparse Fourier surrogate.
    index, order : str, int
        The interaction index reported by :meth:`top` (see :meth:`Spectrum.interactions`).
    full_output : float
        The value function on the unmasked input.
    text : str, optional
        The original text; with ``spans`` (character offsets per feature) it lets reports
        highlight features in place.
    spans : list of (int, int), optional
        ``(start, end)`` character offsets of each feature in ``text``.
    metadata : dict
        Run settings and measurements (model, method, budget, n_queries, n_model_calls,
        faithfulness_r2, seconds, ...).

    Examples
    --------
    >>> from interspect import Spectrum
    >>> from interspect.interface.explanation import Explanation
    >>> s = Spectrum.from_mobius({(): 1.0, (0, 2): -2.0, (1,): 0.5}, n=3)
    >>> e = Explanation(["never", "good", "fails"], s, index="Moebius", order=2, full_output=-0.5)
    >>> e.top(1)[0].labels
    ('never', 'fails')
    """

    features: list[str]
    spectrum: Spectrum
    index: str = "FBII"
    order: int = 2
    full_output: float = float("nan")
    text: str | None = None
    spans: list[tuple[int, int]] | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    # (spectrum, index, order) -> values: reports and `top` ask for them several times.
    _memo: tuple[Any, dict[tuple[int, ...], float]] | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if len(self.features) != self.spectrum.n:
            raise ValueError(
                f"features has {len(self.features)} labels but the spectrum has n={self.spectrum.n} features"
            )
        if self.spans is not None and len(self.spans) != len(self.features):
            raise ValueError(
                f"spans has {len(self.spans)} entries, expected one per feature ({len(self.features)})"
            )
        _ = self.values  # validates index and order now

    # ------------------------------------------------------------------ values
    def _order_arg(self) -> int | None:
        return None if self.index in ("SV", "BV") else self.order

    @property
    def n(self) -> int:
        return self.spectrum.n

    @property
    def values(self) -> dict[tuple[int, ...], float]:
        """The requested index's values ``{features: value}`` (the constant left out)."""
        key = (self.spectrum, self.index, self._order_arg())
        memo = self._memo
        if memo is None or memo[0][0] is not key[0] or memo[0][1:] != key[1:]:
            vals = {k: v for k, v in self.spectrum.interactions(self.index, self._order_arg()).items() if k}
            self._memo = memo = (key, vals)
        return dict(memo[1])

    def first_order(self) -> list[float]:
        """One value per feature: the index's first-order entries (0.0 where absent)."""
        vals = self.values
        return [vals.get((i,), 0.0) for i in range(self.n)]

    def top(self, k: int = 10, *, min_order: int = 1) -> list[Interaction]:
        """The ``k`` interactions with the largest ``|value|`` (order >= ``min_order``)."""
        k = check_positive_int(k, "k")
        items = by_importance([(key, v) for key, v in self.values.items() if len(key) >= min_order])
        return [
            Interaction(key, tuple(self.features[i] for i in key), float(v)) for key, v in items[:k]
        ]

    def __repr__(self) -> str:
        r2 = self.metadata.get("faithfulness_r2")
        return (
            f"Explanation(n={self.n}, index={self.index!r}, order={self.order}, "
            f"method={self.metadata.get('method')!r}, faithfulness_r2={r2})"
        )

    # ------------------------------------------------------------------ persistence
    def to_dict(self, *, top: int | None = None) -> dict[str, Any]:
        """JSON-ready dict; the schema of ``explanation.json`` written by the CLI."""
        inter = self.top(top or max(len(self.values), 1))
        meta = dict(self.metadata)
        out: dict[str, Any] = {
            "format": _FORMAT,
            "features": list(self.features),
            "model": meta.pop("model", None),
            "method": meta.pop("method", None),
            "budget": meta.pop("budget", None),
            "n_queries": meta.pop("n_queries", self.spectrum.n_queries),
            "n_model_calls": meta.pop("n_model_calls", None),
            "faithfulness_r2": meta.pop("faithfulness_r2", None),
            "index": self.index,
            "order": self.order,
            "full_output": self.full_output,
            "interactions": [i.to_dict() for i in inter],
            "seconds": meta.pop("seconds", None),
            "text": self.text,
            "spans": [list(s) for s in self.spans] if self.spans is not None else None,
            "metadata": meta,
            "spectrum": self.spectrum.to_dict(),
        }
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Explanation:
        """Inverse of :meth:`to_dict`; one ``ValueError`` naming the first bad or missing field."""
        if not isinstance(data, Mapping) or data.get("format") != _FORMAT:
            raise ValueError(f"not an interspect explanation (expected 'format': {_FORMAT!r})")
        for key, kind in (("features", list), ("spectrum", Mapping), ("index", str), ("order", int), ("full_output", (int, float, type(None)))):
            if key not in data:
                raise ValueError(f"field {key!r} is missing")
            if not isinstance(data[key], kind) or isinstance(data[key], bool):
                raise ValueError(f"field {key!r} has the wrong type ({type(data[key]).__name__})")
        if data.get("metadata") is not None and not isinstance(data["metadata"], Mapping):
            raise ValueError("field 'metadata' must be an object")
        try:
            spectrum = Spectrum.from_dict(data["spectrum"])
        except ValueError as exc:
            raise ValueError(f"field 'spectrum': {exc}") from None
        meta = dict(data.get("metadata") or {})
        for key in (
            "model",
            "method",
            "budget",
            "n_queries",
            "n_model_calls",
            "faithfulness_r2",
            "seconds",
        ):
            if data.get(key) is not None:
                meta[key] = data[key]
        spans = data.get("spans")
        return cls(
            features=list(data["features"]),
            spectrum=spectrum,
            index=data["index"],
            order=int(data["order"]),
            full_output=float("nan") if data["full_output"] is None else float(data["full_output"]),
            text=data.get("text"),
            spans=[(int(a), int(b)) for a, b in spans] if spans is not None else None,
            metadata=meta,
        )

    def to_json(self, path: str | PathLike[str]) -> None:
        """Write ``explanation.json`` (lossless: :meth:`from_json` gives an equal explanation).

        Strict JSON: a non-finite number in the metadata (which JSON cannot hold) is written as
        null; the run's own undefined R² is null with the reason in ``faithfulness_note``.
        """
        Path(path).write_text(json.dumps(_strict(self.to_dict()), indent=1, allow_nan=False))

    @classmethod
    def from_json(cls, path: str | PathLike[str]) -> Explanation:
        """Read an ``explanation.json``; a bad file gives one ``ValueError`` naming it and the field."""
        data = _read_json(path)
        try:
            return cls.from_dict(data)
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"{str(path)!r}: {_reason(exc)}") from None

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Explanation):
            return NotImplemented
        return self.to_dict() == other.to_dict()

    # ------------------------------------------------------------------ acting on it
    def select(self, r: int, *, mode: str = "remove", direction: str = "auto", time_limit: float | None = 20.0) -> Any:
        """The ``r`` features whose removal (``mode="keep"``: keeping alone) moves the predicted
        output most, by an exact binary program (see :func:`interspect.interface.selection.select`)."""
        from interspect.interface.selection import select

        return select(self, r, mode=mode, direction=direction, time_limit=time_limit)  # type: ignore[arg-type]

    # ------------------------------------------------------------------ shapiq
    def to_shapiq(self, index: str | None = None, order: int | None = None) -> Any:
        """The values as a ``shapiq.InteractionValues`` (default: this explanation's index and order)."""
        from interspect.interface.interop import explanation_to_shapiq

        return explanation_to_shapiq(self, index, order)

    @classmethod
    def from_shapiq(cls, values: Any, features: list[str] | None = None) -> Explanation:
        """An explanation of a ``shapiq.InteractionValues`` (see :mod:`interspect.interface.interop`)."""
        from interspect.interface.interop import explanation_from_shapiq

        return explanation_from_shapiq(values, features)

    # ------------------------------------------------------------------ presentation
    def to_html(self, path: str | PathLike[str] | None = None) -> str:
        """A self-contained HTML report (no network); written to ``path`` when given."""
        from interspect.interface.report import render_html

        html = render_html(self)
        if path is not None:
            Path(path).write_text(html, encoding="utf-8")
        return html

    def _repr_html_(self) -> str:
        """Jupyter shows the report's content inline (see :func:`interspect.interface.report.render_inline`)."""
        from interspect.interface.report import render_inline

        return render_inline(self)

    def plot_bar(self, k: int = 10, *, ax: Any = None) -> Any:
        """Horizontal bar chart of the top ``k`` interactions (matplotlib; returns the Axes)."""
        from interspect.interface.report import plot_bar

        return plot_bar(self, k, ax=ax)

    def plot_network(self, k: int = 15, *, ax: Any = None) -> Any:
        """Interaction network of the top ``k`` interactions (matplotlib; returns the Axes)."""
        from interspect.interface.report import plot_network

        return plot_network(self, k, ax=ax)

    def plot_waterfall(self, k: int = 10, *, ax: Any = None) -> Any:
        """The output from the baseline through the top ``k`` terms (see :mod:`interspect.interface.plots`)."""
        from interspect.interface.plots import plot_waterfall

        return plot_waterfall(self, k, ax=ax)

    def plot_force(self, k: int = 10, *, ax: Any = None) -> Any:
        """Force-style bar of the top ``k`` terms pushing the output up and down."""
        from interspect.interface.plots import plot_force

        return plot_force(self, k, ax=ax)

    def plot_text(self, k: int = 10, *, max_words: int = 40, ax: Any = None) -> Any:
        """The words shaded by first-order value, the top ``k`` interactions as arcs."""
        from interspect.interface.plots import plot_text

        return plot_text(self, k, max_words=max_words, ax=ax)

    def plot_upset(self, k: int = 10, *, fig: Any = None) -> Any:
        """Upset-style plot of the top ``k`` interactions (returns the Figure)."""
        from interspect.interface.plots import plot_upset

        return plot_upset(self, k, fig=fig)
