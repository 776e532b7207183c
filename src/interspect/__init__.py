"""interspect: explain black-box models by the few feature interactions that drive their output.

Entry points
------------
- :class:`Spectrum` — the sparse Fourier surrogate every algorithm returns.
- :func:`exact` — brute-force spectrum over all 2^n masks (small n; the reference).
- :func:`spex` / :func:`spex_budget` — SPEX, sparse Fourier transform with coded subsampling.
- :func:`proxyspex` — ProxySPEX, gradient-boosted-tree proxy then exact tree spectrum.
- :func:`faithfulness` — R² of a surrogate on fresh random masks.
- :func:`explain_text` — explain a language model's output on a text.
- :mod:`interspect.games` — synthetic value functions with known spectra.
"""

from importlib import import_module
from typing import Any

from interspect.evaluate import faithfulness
from interspect.exact import exact
from interspect.spectrum import Spectrum

# Imported eagerly: the subpackage `interspect.spex` shares its name with the function, and a lazy
# import would leave the package attribute bound to the module once the subpackage is loaded.
from interspect.spex import spex, spex_budget  # noqa: E402  (after Spectrum, which it needs)

__version__ = "0.1.0"

# Heavier entry points load on first use, so `import interspect` stays light.
_LAZY = {
    "proxyspex": "interspect.proxy",
    "explain_text": "interspect.explain",
    "Explanation": "interspect.explain",
}

__all__ = ["Spectrum", "exact", "faithfulness", "spex", "spex_budget", "__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'interspect' has no attribute {name!r}")
