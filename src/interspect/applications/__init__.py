"""Applications: value functions over the features a user wants explained, a folder each.

- :mod:`.language` — language models: loading (Hugging Face, the embedded SmolLM2, OpenAI-compatible
  endpoints) and scoring (log-probabilities, margins, class logits);
- :mod:`.text` — text inputs: segmentation, masking, :class:`~.text.TextValueFunction`, ``explain_text``.
"""
