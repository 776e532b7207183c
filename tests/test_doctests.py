"""Every docstring example in the package runs and gives what it shows.

Examples that need a downloaded model or a server are marked ``# doctest: +SKIP`` in place.
"""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import interspect

MODULES = sorted(m.name for m in pkgutil.walk_packages(interspect.__path__, "interspect."))


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0


def test_core_modules_have_examples():
    for name in ["interspect.core.spectrum", "interspect.engines.exact", "interspect.evaluation.metrics", "interspect.games",
                 "interspect.engines.spex", "interspect.engines.proxy", "interspect.engines.baselines", "interspect.interface.explanation",
                 "interspect.applications.text.segment"]:
        assert doctest.testmod(importlib.import_module(name)).attempted > 0, name
