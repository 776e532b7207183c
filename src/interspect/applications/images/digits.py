"""The offline default: a small classifier of scikit-learn's bundled handwritten digits.

``interspect explain-image`` with no file explains this model on one held-out digit by its image
cells, so it runs on a fresh machine with nothing to download. The model is a one-hidden-layer
MLP (32 ReLU units, L2 penalty 1.0, 200 L-BFGS iterations, ``random_state=0``) trained on 75 % of ``load_digits()`` (a
stratified split with ``random_state=0``); :func:`digit_image` returns images of the other 25 %,
which it never saw. The score is a class logit (default the class predicted on the unmasked
image), a probability or a log-probability.

Digits are 8×8 pixels, light ink on a dark background (0 = no ink). Any other image given to the
model is turned into that form first: gray, resized to 8×8 by area averaging.
"""

from __future__ import annotations

import functools
import hashlib
from typing import Any, Literal

import numpy as np

from interspect.core.validation import check_choice, check_positive_int

__all__ = ["DigitsClassifier", "digit_image", "DIGITS_SCORES"]

DIGITS_SCORES: tuple[str, ...] = ("logit", "probability", "log_probability")
_SPLIT_SEED = 0
_HIDDEN = 32
_TRAINED: dict[str, Any] = {}


@functools.lru_cache(maxsize=1)
def _split() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    d = load_digits()
    parts = train_test_split(d.images, d.target, test_size=0.25, random_state=_SPLIT_SEED, stratify=d.target)
    for a in parts:
        a.flags.writeable = False  # shared by every caller (cached)
    return tuple(parts)


def digit_image(index: int = 0) -> tuple[np.ndarray, int]:
    """Held-out digit ``index`` (0..449) as an ``(8, 8, 1)`` uint8 image (0..255), and its true class.

    Examples
    --------
    >>> img, label = digit_image(0)
    >>> img.shape, img.dtype, 0 <= label <= 9
    ((8, 8, 1), dtype('uint8'), True)
    """
    _, test, _, y = _split()
    index = check_positive_int(index, "digit", minimum=0)
    if index >= len(test):
        raise ValueError(f"digit must be in 0..{len(test) - 1} (the held-out digits), got {index}")
    img = np.rint(test[index] * (255.0 / 16.0)).astype(np.uint8)[:, :, None]
    return img, int(y[index])


def _train() -> Any:
    if "mlp" not in _TRAINED:
        import warnings

        from sklearn.neural_network import MLPClassifier
        from threadpoolctl import threadpool_limits

        train, _, y, _ = _split()
        # One thread: the fit takes about a second, and more threads only contend on a shared machine.
        with threadpool_limits(1), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            mlp = MLPClassifier(hidden_layer_sizes=(_HIDDEN,), solver="lbfgs", alpha=1.0,
                                max_iter=200, random_state=0)
            mlp.fit(train.reshape(len(train), -1) / 16.0, y)
        _TRAINED["mlp"] = mlp
    return _TRAINED["mlp"]


class DigitsClassifier:
    """The bundled-digits MLP as an image model: a batch of images -> one score per image.

    Parameters
    ----------
    target : int, optional
        The class (digit 0..9) whose score is explained; default: the class predicted on the
        unmasked image (set by :meth:`prepare`).
    score : {"logit", "probability", "log_probability"}
        The output layer's logit of ``target`` (before the softmax), its probability, or its
        log-probability.

    Examples
    --------
    >>> m = DigitsClassifier()
    >>> img, label = digit_image(3)
    >>> m.prepare(img)
    >>> m.target == label, m(img[None]).shape
    (True, (1,))
    """

    kind = "classifier"
    name = "digits-mlp"
    #: What ``masking="auto"`` uses for this model: black, i.e. no ink (a blur of an 8×8 digit
    #: keeps most of its shape).
    default_masking: dict[str, Any] = {"masking": "color", "color": 0}

    def __init__(self, *, target: int | None = None,
                 score: Literal["logit", "probability", "log_probability"] = "logit",
                 batch_size: int = 4096) -> None:
        self.score = check_choice(score, "score", DIGITS_SCORES)
        self.batch_size = check_positive_int(batch_size, "batch_size")
        self.class_names = [str(i) for i in range(10)]
        self.target = None if target is None else self._class(target)
        mlp = _train()
        self._weights = [np.asarray(w, dtype=np.float64) for w in mlp.coefs_]
        self._biases = [np.asarray(b, dtype=np.float64) for b in mlp.intercepts_]
        h = hashlib.sha256()
        for a in (*self._weights, *self._biases):
            h.update(np.ascontiguousarray(a).tobytes())
        self._fingerprint = h.hexdigest()[:16]

    def _class(self, target: Any) -> int:
        if isinstance(target, str) and target.isdigit():
            target = int(target)
        if isinstance(target, bool) or not isinstance(target, (int, np.integer)) or not 0 <= int(target) <= 9:
            raise ValueError(f"target must be a digit class 0..9, got {target!r}")
        return int(target)

    @staticmethod
    def to_digits(images: np.ndarray) -> np.ndarray:
        """``(m, H, W, C)`` uint8 -> ``(m, 64)`` features in the training scale (0..1)."""
        imgs = images.astype(np.float64).mean(axis=3)  # gray
        m, H, W = imgs.shape
        if (H, W) != (8, 8):
            from PIL import Image

            imgs = np.stack([np.asarray(Image.fromarray(im.astype(np.float32)).resize(
                (8, 8), Image.Resampling.BOX), dtype=np.float64) for im in imgs])
        return imgs.reshape(m, 64) / 255.0

    def logits(self, images: np.ndarray) -> np.ndarray:
        """``(m, 10)`` output-layer logits."""
        a = self.to_digits(images)
        for k, (w, b) in enumerate(zip(self._weights, self._biases)):
            a = a @ w + b
            if k < len(self._weights) - 1:
                a = np.maximum(a, 0.0)
        return a

    def prepare(self, image: np.ndarray) -> None:
        """Pick the default target: the class predicted on the unmasked ``image``."""
        if self.target is None:
            self.target = int(np.argmax(self.logits(image[None])[0]))

    def __call__(self, images: np.ndarray) -> np.ndarray:
        if self.target is None:
            raise ValueError("DigitsClassifier has no target yet: pass target= or call prepare(image)")
        z = self.logits(images)
        if self.score == "logit":
            return z[:, self.target]
        from scipy.special import log_softmax

        lp = log_softmax(z, axis=1)[:, self.target]
        return np.exp(lp) if self.score == "probability" else lp

    def identity(self) -> dict[str, Any]:
        return {"model": self.name, "weights": self._fingerprint, "target": self.target, "score": self.score}

    def describe(self) -> dict[str, Any]:
        return {"model": self.name, "kind": self.kind, "target": self.target,
                "class_name": None if self.target is None else str(self.target), "score": self.score,
                "training": "sklearn load_digits, 75 % stratified split (random_state=0), MLP 32 ReLU, alpha 1.0, 200 lbfgs iterations"}

    def output_label(self) -> str:
        return f"{self.score.replace('_', '-')} of class {self.target!r}"
