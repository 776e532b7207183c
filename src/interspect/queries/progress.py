"""The one progress convention of interspect: ``progress=True | False | callable(stage, done, total)``.

``True`` shows a tqdm bar (with rate and ETA) per stage on stderr; a callable is called as
``progress(stage, done, total)`` after every step of a stage (``stage`` is e.g. ``"query"``,
``"decode"``, ``"fit"``); ``False`` or ``None`` reports nothing. Every public function that takes
``progress`` accepts exactly these, so one callback can follow a whole run.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = ["ProgressArg", "Progress", "check_progress"]

ProgressArg = bool | None | Callable[[str, int, int], Any]


def check_progress(progress: Any) -> bool | Callable[[str, int, int], Any]:
    """Validate a ``progress`` argument; ``None`` means ``False``."""
    if progress is None:
        return False
    if isinstance(progress, (bool, np.bool_)):
        return bool(progress)
    if callable(progress):
        return progress
    raise TypeError(
        f"progress must be True, False or a callable progress(stage, done, total), got {progress!r}"
    )


class Progress:
    """Reports the stages of one run through the ``progress`` convention.

    Parameters
    ----------
    progress : bool, None or callable
        See the module docstring.
    label : str
        Prefix of the bars' descriptions (e.g. the method's name).

    Examples
    --------
    >>> seen = []
    >>> p = Progress(lambda stage, done, total: seen.append((stage, done, total)), "demo")
    >>> tick = p.stage("query", 10)
    >>> tick(4, 10); tick(10, 10)
    >>> seen
    [('query', 4, 10), ('query', 10, 10)]
    >>> Progress(False, "demo").stage("query", 10) is None
    True
    """

    def __init__(self, progress: ProgressArg, label: str = "") -> None:
        self.progress = check_progress(progress)
        self.label = label
        self._bars: dict[str, Any] = {}
        self._counts: dict[str, tuple[int, int]] = {}

    @property
    def enabled(self) -> bool:
        return self.progress is not False

    def stage(self, name: str, total: int) -> Callable[[int, int], None] | None:
        """A reporter ``(done, total) -> None`` for stage ``name``, or None when nothing is shown.

        Asking for a stage that is already open returns a reporter for the same bar, so a stage
        reported from several places (e.g. ``"query"`` by an engine and by ``explain``) stays one bar.
        """
        progress = self.progress
        if progress is False:
            return None
        if progress is True:
            bar = self._bars.get(name)
            if bar is None:
                from tqdm.auto import tqdm

                desc = f"{self.label} {name}".strip()
                unit = "query" if name == "query" else "step"
                bar = tqdm(total=total, desc=desc, unit=unit, dynamic_ncols=True, leave=False)
                self._bars[name] = bar

            def tick(done: int, tot: int) -> None:
                self._counts[name] = (done, tot)
                if tot != bar.total:
                    bar.total = tot
                    bar.refresh()
                bar.update(done - bar.n)

            return tick

        def call(done: int, tot: int) -> None:
            self._counts[name] = (done, tot)
            progress(name, done, tot)

        return call

    def note(self, name: str, text: str) -> None:
        """Show a short status (e.g. ``"retry 2/5"``) beside stage ``name``'s bar (opened if it is
        not yet: a retry may come before the first batch is done); callables get it as
        ``progress(f"{name}: {text}", done, total)`` with the bar's counts. May be called from
        another thread."""
        if self.progress is True:
            if name not in self._bars:
                self.stage(name, self._counts.get(name, (0, 0))[1])
            self._bars[name].set_postfix_str(text)
        elif callable(self.progress):
            done, total = self._counts.get(name, (0, 0))
            self.progress(f"{name}: {text}", done, total)

    def close(self) -> None:
        for bar in self._bars.values():
            bar.close()
        self._bars.clear()
