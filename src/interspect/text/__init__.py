"""Text features: segmentation with character offsets, and masking strategies for prompts."""

from interspect.text.masking import (
    Masking,
    PromptBuilder,
    masked_text,
    resolve_replacement,
    user_message,
)
from interspect.text.segment import Segment, Unit, gaps, segment

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
]
