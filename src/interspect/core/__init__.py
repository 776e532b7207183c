"""The core: the sparse spectrum, every interaction index, the ±1 parity design and input checks.

Nothing here calls a value function; every engine and application builds on these pieces.
"""

from interspect.core.spectrum import Spectrum

__all__ = ["Spectrum"]
