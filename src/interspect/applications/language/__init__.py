"""Language models: backends (Hugging Face, the embedded SmolLM2, OpenAI-compatible endpoints) and scorers.

``torch``/``transformers`` (extra ``llm``) and ``httpx`` (extra ``openai``) are imported only when a
model of that kind is loaded.
"""

from interspect.applications.language.backends import embedded_model_path, load
from interspect.applications.language.scorers import ClassLogitScorer, LogProbScorer, MarginScorer

__all__ = ["load", "embedded_model_path", "LogProbScorer", "MarginScorer", "ClassLogitScorer"]
