"""interspect: explain black-box models by the few feature interactions that drive their output.

Entry points (all at the top level)
-----------------------------------
- :func:`explain` — explain any value function on ``{0,1}^n``: the main job.
- :func:`explain_text` — explain a language model's output on a text.
- :func:`explain_image` — explain an image model's output by the image regions that work together.
- :class:`Explanation` — the result: top interactions, any index, JSON, HTML report.
- :class:`Spectrum` — the sparse Fourier surrogate every engine returns.
- :func:`exact`, :func:`spex` / :func:`spex_budget`, :func:`proxyspex` — the engines.
- :func:`faithfulness` — R² of a surrogate on fresh random masks.
- :mod:`interspect.games` — synthetic value functions with known spectra.

Where things live: ``core/`` (spectrum, indices, parity design, checks) · ``engines/`` (exact,
spex, proxy, baselines, the method registry) · ``queries/`` (the one place a value function is
called, the cache, executors) · ``applications/`` (language models, text; a folder per kind of
feature) · ``evaluation/`` (faithfulness, removal, bench) · ``interface/`` (explain, explanation,
report, cli).
"""

from importlib import import_module
from typing import Any

from interspect.core.spectrum import Spectrum
from interspect.engines.exact import exact
from interspect.engines.spex import spex, spex_budget
from interspect.evaluation.metrics import faithfulness

__version__ = "0.1.0"

# Heavier entry points load on first use, so `import interspect` stays light.
_LAZY = {
    "proxyspex": "interspect.engines.proxy",
    "explain": "interspect.interface.explain",
    "Explanation": "interspect.interface.explanation",
    "explain_text": "interspect.applications.text.entry",
    "explain_image": "interspect.applications.images.entry",
    "explain_data": "interspect.applications.training_data.entry",
    "explain_components": "interspect.applications.components.entry",
    "explain_many": "interspect.interface.many",
    "games": "interspect.games",
}

__all__ = ["Spectrum", "exact", "faithfulness", "spex", "spex_budget", "__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        module = import_module(_LAZY[name])
        # `games` is a module; every other entry is a name inside its module.
        return module if name == "games" else getattr(module, name)
    raise AttributeError(f"module 'interspect' has no attribute {name!r}")
