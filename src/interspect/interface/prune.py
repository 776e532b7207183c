"""``interspect prune``: act on a text explanation — keep (or remove) the r segments the surrogate
says matter most, write the pruned text, and check the real model's output on it.

The choice is :meth:`Explanation.select` (an exact binary program over the surrogate); the model
is then queried once on the pruned input (and once on the whole input, to confirm it is the
model that was explained), so the printed check compares the surrogate's prediction with what
the model really does.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from interspect.interface.explanation import Explanation
from interspect.interface.selection import Selection, select

__all__ = ["Pruned", "prune_text", "rebuild_value_function", "add_parser"]


@dataclass(frozen=True)
class Pruned:
    """What :func:`prune_text` did: the selection, the pruned text and the model's real outputs."""

    selection: Selection
    text: str
    actual: float
    actual_full: float

    def to_dict(self) -> dict[str, Any]:
        s = self.selection
        return {
            "mode": s.mode,
            "direction": s.direction,
            "r": len(s.features),
            "features": list(s.features),
            "labels": list(s.labels),
            "mask": s.mask.astype(int).tolist(),
            "predicted": s.predicted,
            "actual": self.actual,
            "predicted_full": s.predicted_full,
            "actual_full": self.actual_full,
            "prediction_error": self.actual - s.predicted,
            "text": self.text,
        }


def rebuild_value_function(expl: Explanation, *, model: Any = None, device: str = "cpu") -> Any:
    """The :class:`~interspect.applications.text.TextValueFunction` an explanation of a text was
    computed with, rebuilt from its metadata (``model`` overrides the model to load).

    Raises ValueError when the explanation is not of a text, or when the rebuilt function's
    identity differs from the recorded one (another model, template or setting)."""
    from interspect.applications.language import load
    from interspect.applications.text import TextValueFunction

    meta = expl.metadata
    settings = meta.get("value_function")
    app = str(meta.get("application") or "text")
    if app != "text" or not isinstance(settings, dict) or expl.text is None or expl.spans is None:
        raise ValueError(
            "prune needs an explanation of a text from explain_text or `interspect explain` "
            "(with its text, spans and value-function settings)"
        )
    if hasattr(model, "kind"):
        lm = model
    else:
        try:
            lm = load(model or settings["model"], device=device)
        except (ValueError, OSError) as exc:
            if model is not None:
                raise
            # Explanations record a local model folder by its last name only (they are shared).
            raise ValueError(
                f"cannot load the explanation's model {settings['model']!r} ({str(exc).splitlines()[0]}); "
                "a local model is recorded by its folder name only: pass model= (CLI: --model PATH)"
            ) from None
    scorer = settings.get("scorer", "logprob")
    options: dict[str, Any] = {
        "question": settings.get("question"),
        "unit": [tuple(s) for s in expl.spans],
        "masking": settings.get("masking", "remove"),
        "answer_prefix": settings.get("answer_prefix") or "",
        "scorer": scorer,
    }
    if scorer == "margin":
        options["labels"] = tuple(settings["labels"])
    elif scorer == "logprob":
        options["target"] = settings["target"]
        if settings.get("span") is not None:
            options["span"] = tuple(settings["span"])
    elif scorer == "class_logit":
        options["target"] = int(settings["class_index"])
    vf = TextValueFunction(lm, expl.text, **options)
    recorded = settings.get("identity")
    if recorded is not None and vf.identity != recorded:
        raise ValueError(
            f"the model {getattr(lm, 'name', model)!r} with the explanation's settings is not the value "
            "function that was explained (its identity differs: another model file, chat template "
            "or setting); prune with the model the explanation was made with"
        )
    return vf


def prune_text(
    expl: Explanation,
    r: int,
    *,
    mode: str = "keep",
    direction: str | None = None,
    model: Any = None,
    device: str = "cpu",
    cache: Any = None,
    time_limit: float | None = 20.0,
) -> Pruned:
    """Keep (or remove) ``r`` segments of an explained text and check the real model on the result.

    Parameters
    ----------
    expl : Explanation
        From :func:`interspect.explain_text` (or ``explanation.json`` of ``interspect explain``).
    r : int
        Segments to keep (``mode="keep"``) or remove (``mode="remove"``).
    direction : {"auto", "down", "up"} or None
        As in :meth:`Explanation.select`; None: ``"up"`` when keeping (the r segments that best
        support the output), ``"auto"`` when removing.
    model, device
        The model to query (default: the explanation's own, loaded again).
    cache : str, Path, QueryCache or None
        Query cache shared with ``explain`` (the whole-input output is then free).

    Examples
    --------
    >>> from interspect import explain_text  # doctest: +SKIP
    >>> e = explain_text(context, question=q, unit="sentence", budget=200)  # doctest: +SKIP
    >>> p = prune_text(e, 3)  # doctest: +SKIP
    >>> p.text, p.selection.predicted, p.actual  # doctest: +SKIP
    """
    from interspect.queries.layer import Queries

    if direction is None:
        direction = "up" if mode == "keep" else "auto"
    selection = select(expl, r, mode=mode, direction=direction, time_limit=time_limit)  # type: ignore[arg-type]
    vf = rebuild_value_function(expl, model=model, device=device)
    from interspect.applications.text import masked_text

    text = masked_text(vf.text, vf.segments, selection.mask, replacement=vf.replacement)
    queries = Queries(vf, vf.n, cache=cache)
    try:
        y = queries(np.vstack([selection.mask, np.ones(vf.n, dtype=np.uint8)]))
    finally:
        queries.close()
    return Pruned(selection=selection, text=text, actual=float(y[0]), actual_full=float(y[1]))


def add_parser(sub: Any) -> None:
    """``interspect prune``: registered in :data:`interspect.interface.cli._SUBCOMMANDS`."""
    p = sub.add_parser(
        "prune",
        help="keep or remove the segments an explanation says matter most, and check the model",
        description=(
            "Keep (or remove) the R segments of an explained text whose keeping (removal) moves "
            "the surrogate's output most (an exact binary program), write the pruned text, and "
            "compare the real model's output on it with the prediction."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("explanation", help="explanation.json written by `interspect explain`")
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--keep", type=int, metavar="R", help="keep only R segments")
    what.add_argument("--remove", type=int, metavar="R", help="remove R segments")
    p.add_argument(
        "--direction",
        choices=["auto", "down", "up"],
        default=None,
        help="minimise (down) or maximise (up) the output; default: up with --keep, auto with --remove",
    )
    p.add_argument("--model", default=None, help="model to query (default: the explanation's own)")
    p.add_argument("--device", default="cpu", help="torch device for local models")
    p.add_argument("--cache", default=None, help="SQLite query cache (default: as `interspect explain`)")
    p.add_argument("--no-cache", action="store_true", help="do not read or write the query cache")
    p.add_argument("--time-limit", type=float, default=20.0, help="seconds for the binary program")
    p.add_argument("--out", default="interspect-prune", help="directory for pruned.txt and prune.json")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from interspect.interface.cli import UserError, default_cache_path

    try:
        expl = Explanation.from_json(args.explanation)
    except OSError as exc:
        raise UserError(f"cannot read {args.explanation!r}: {exc.strerror}") from exc
    except (ValueError, KeyError) as exc:
        raise UserError(f"{args.explanation!r} is not an explanation.json of interspect ({exc})") from exc
    mode = "keep" if args.keep is not None else "remove"
    r = args.keep if args.keep is not None else args.remove
    if not 0 <= r <= expl.n:
        raise UserError(f"--{mode} must be between 0 and {expl.n} (the explanation's segments), got {r}")
    cache = None if args.no_cache else (args.cache or default_cache_path())
    result = prune_text(
        expl, r, mode=mode, direction=args.direction, model=args.model, device=args.device,
        cache=cache, time_limit=args.time_limit,
    )
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "pruned.txt").write_text(result.text, encoding="utf-8")
    (out / "prune.json").write_text(json.dumps(result.to_dict(), indent=1), encoding="utf-8")
    s = result.selection
    verb = "kept" if mode == "keep" else "removed"
    print(f"{verb} {len(s.features)} of {expl.n} segments ({s.direction}): " + ", ".join(repr(x) for x in s.labels))
    print(f"whole input: model {result.actual_full:.4f} (explained: {expl.full_output:.4f})")
    print(
        f"pruned input: predicted {s.predicted:.4f}, model {result.actual:.4f} "
        f"(error {result.actual - s.predicted:+.4f})"
    )
    print(f"pruned text: {out / 'pruned.txt'}  (details: {out / 'prune.json'})")
    return 0
