"""Language models as value functions: backends, scorers, the query cache and `TextValueFunction`.

``torch``/``transformers`` (extra ``llm``) and ``httpx`` (extra ``openai``) are imported only when
a model of that kind is loaded.
"""

from interspect.models.backends import embedded_model_path, load
from interspect.models.cache import QueryCache, identity_hash
from interspect.models.scorers import ClassLogitScorer, LogProbScorer, MarginScorer
from interspect.models.value import TASKS, TextValueFunction

__all__ = [
    "load",
    "embedded_model_path",
    "TextValueFunction",
    "TASKS",
    "QueryCache",
    "identity_hash",
    "LogProbScorer",
    "MarginScorer",
    "ClassLogitScorer",
]
