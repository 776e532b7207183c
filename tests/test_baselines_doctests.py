"""The docstring examples of the baselines run and give what they show."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "interspect.baselines",
    "interspect.baselines.banzhaf",
    "interspect.baselines.shapley",
    "interspect.baselines.lime",
    "interspect.baselines.shapley_taylor",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0, f"{name} has no examples"
    assert result.failed == 0
