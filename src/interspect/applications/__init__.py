"""Applications: value functions over the features a user wants explained, a folder each.

- :mod:`.language` — language models: loading (Hugging Face, the embedded SmolLM2, OpenAI-compatible
  endpoints) and scoring (log-probabilities, margins, class logits);
- :mod:`.text` — text inputs: segmentation, masking, :class:`~.text.TextValueFunction`, ``explain_text``;
- :mod:`.images` — image inputs: grid cells or segments, blur/colour masking, image classifiers and
  vision-language models, :class:`~.images.ImageValueFunction`, ``explain_image``.
"""
