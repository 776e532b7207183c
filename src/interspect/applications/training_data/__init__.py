"""Training data: which training examples, and which combinations of them, drive a prediction.

Features are training examples or groups of them; the value of a subset S is the output at test
points of a model retrained from scratch on S (:class:`TrainingDataValueFunction`). The entry
point is :func:`interspect.explain_data`; ``interspect explain-data`` is its command line.
"""

from interspect.applications.training_data.groups import GROUPINGS, Grouping, make_groups
from interspect.applications.training_data.learners import (
    LEARNERS,
    PriorPredictor,
    TorchClassifier,
    class_probabilities,
    make_learner,
)
from interspect.applications.training_data.value import OUTPUTS, TrainingDataValueFunction

__all__ = [
    "TrainingDataValueFunction",
    "TorchClassifier",
    "PriorPredictor",
    "Grouping",
    "make_groups",
    "make_learner",
    "class_probabilities",
    "GROUPINGS",
    "LEARNERS",
    "OUTPUTS",
]
