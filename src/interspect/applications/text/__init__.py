"""Text inputs: segmentation with character offsets, masking strategies, and the language model on a
masked text as a value function (:class:`TextValueFunction`)."""

from interspect.applications.text.masking import (
    Masking,
    PromptBuilder,
    masked_text,
    resolve_replacement,
    user_message,
)
from interspect.applications.text.segment import Segment, Unit, gaps, segment
from interspect.applications.text.value import TASKS, FlooredScoresError, TextValueFunction

__all__ = [
    "Segment",
    "Unit",
    "segment",
    "gaps",
    "Masking",
    "PromptBuilder",
    "masked_text",
    "resolve_replacement",
    "user_message",
    "TextValueFunction",
    "FlooredScoresError",
    "TASKS",
]
