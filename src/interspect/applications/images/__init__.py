"""Image inputs: explain a vision model or a vision-language model by the image regions that work
together.

- :mod:`.segment` — grid cells (rows × cols), a caller's label map, or SLIC superpixels;
- :mod:`.masking` — a masked segment becomes blur (the SPEX paper's choice), the mean colour, a
  constant colour or a caller's background, pixel for pixel;
- :mod:`.models` — Hugging Face image classifiers and vision-language models, batched; any
  callable on image batches works too; :mod:`.digits` is the offline default;
- :class:`ImageValueFunction`, :func:`explain_image`; :mod:`.view` draws the report (HTML view and
  :func:`render_png`); :mod:`.cli` is ``interspect explain-image``.
"""

from interspect.applications.images.digits import DigitsClassifier, digit_image
from interspect.applications.images.entry import explain_image
from interspect.applications.images.io import load_image
from interspect.applications.images.masking import MASKINGS, make_fill, masked_images
from interspect.applications.images.models import (
    HFImageClassifier,
    HFVisionLanguageModel,
    load_image_model,
)
from interspect.applications.images.segment import (
    Segmentation,
    from_labels,
    grid,
    segment_image,
    slic,
)
from interspect.applications.images.value import ImageValueFunction
from interspect.applications.images.view import image_view, render_png

__all__ = [
    "Segmentation",
    "grid",
    "from_labels",
    "slic",
    "segment_image",
    "MASKINGS",
    "make_fill",
    "masked_images",
    "load_image",
    "ImageValueFunction",
    "HFImageClassifier",
    "HFVisionLanguageModel",
    "load_image_model",
    "DigitsClassifier",
    "digit_image",
    "explain_image",
    "image_view",
    "render_png",
]
