"""Checking and decoding one request input, and reading a network's output, without
torch: shared by the PyTorch preprocessing (`inputs.py`) and the light ONNX one
(`arrays.py`), so both refuse the same bad input with the same words."""

from __future__ import annotations

import base64
import binascii
import io
import math
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from fermion import audio
from fermion.boxes import fitted_size
from fermion.errors import InvalidInput

MAX_PIXELS = 40_000_000  # far above any image a classifier needs; refuses decompression bombs


def decode_base64(text: str, where: str, noun: str = "images") -> bytes:
    if text.startswith("data:"):  # a data URL, as a browser's FileReader gives it
        text = text.partition(",")[2]
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInput(
            f"{where}: not base64; this model takes {noun}, sent as base64 strings (or as"
            " multipart file uploads)"
        ) from None


def decode_image(value: Any, where: str, mode: str) -> Any:
    """A base64 string or raw bytes -> a PIL image in `mode`, fully decoded."""
    from PIL import Image, UnidentifiedImageError

    if isinstance(value, str):
        value = decode_base64(value, where)
    if not isinstance(value, bytes | bytearray):
        raise InvalidInput(f"{where}: an image is a base64 string or an uploaded file")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(value))
            width, height = image.size
            if width * height > MAX_PIXELS:
                raise InvalidInput(
                    f"{where}: the image declares {width}x{height} pixels, over the limit"
                    f" of {MAX_PIXELS:,}; send it scaled down"
                )
            return image.convert(mode)
    except (
        UnidentifiedImageError,
        Image.DecompressionBombError,
        Image.DecompressionBombWarning,
    ) as exc:
        raise InvalidInput(f"{where}: not a readable image ({exc})") from None
    except (OSError, SyntaxError, ValueError) as exc:  # truncated or corrupt data
        raise InvalidInput(f"{where}: the image data is damaged ({exc})") from None


def audio_clip(value: Any, where: str, features: audio.Features) -> np.ndarray:
    """Encoded audio (a base64 string or raw bytes) -> one clip of mono samples."""
    if isinstance(value, str):
        value = decode_base64(value, where, "sound files (WAV, FLAC, OGG or MP3)")
    return audio.clip(value, features, where)


def audio_features(value: Any, where: str, features: audio.Features) -> np.ndarray:
    """Encoded audio -> its log-mel spectrogram, 1 x mels x frames, as Fermion's audio
    networks take it."""
    return audio.log_mel(audio_clip(value, where, features), features)[None]


def text_input(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise InvalidInput(f"{where}: a text input is a string, not {type(value).__name__}")
    if not value.strip():
        raise InvalidInput(f"{where}: the text is empty")
    return value


def record_numbers(value: Any, where: str, columns: Sequence[str]) -> list[float]:
    """A record (an object by column name, or a list in column order) -> its numbers."""
    if isinstance(value, dict):
        missing = [c for c in columns if c not in value]
        if missing:
            raise InvalidInput(
                f"{where}: the record has no {', '.join(map(repr, missing))}"
                f" (the model takes {', '.join(columns)})"
            )
        value = [value[c] for c in columns]
    if not isinstance(value, list) or len(value) != len(columns):
        raise InvalidInput(
            f"{where}: a record is an object with {', '.join(columns)}, or a list of"
            f" {len(columns)} numbers in that order"
        )
    numbers = []
    for column, item in zip(columns, value, strict=True):
        if isinstance(item, bool) or not isinstance(item, int | float) or not math.isfinite(item):
            raise InvalidInput(f"{where}: {column} must be a finite number, not {item!r}")
        numbers.append(float(item))
    return numbers


def check_shape(shape: Sequence[int], expected: Sequence[int], where: str) -> None:
    """A ready-made input tensor (V2 FP32 data) must have the model's shape per input."""
    if list(shape) != list(expected):
        raise InvalidInput(
            f"{where}: shape {list(shape)} does not fit the model, which takes"
            f" {list(expected)} per input"
        )


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


def top_k(probabilities: np.ndarray, labels: list[str], k: int) -> dict[str, Any]:
    """The k most probable labels of one input, most probable first."""
    order = np.argsort(-probabilities, kind="stable")[: min(k, len(labels))]
    top = [{"label": labels[i], "probability": round(float(probabilities[i]), 6)} for i in order]
    return {**top[0], "top_k": top}


def in_pixels_of(rows: np.ndarray, size: Sequence[int], network_size: Sequence[int]) -> np.ndarray:
    """A detector's rows (x0, y0, x1, y1, score, class; class -1 pads) for one image of
    `size` (height, width) fitted into `network_size` (`fermion.boxes`): its detections,
    boxes in the image's own pixels and cut to the image. A box mostly in the padding
    (less than half of it on the image: the padding's edge, taken for an object) goes."""
    height, width = size
    fitted = fitted_size(size, network_size)
    found = rows[rows[:, 5] >= 0].copy()
    area = (found[:, 2] - found[:, 0]) * (found[:, 3] - found[:, 1])
    found[:, [0, 2]] = np.clip(found[:, [0, 2]], 0, fitted[1]) * width / fitted[1]
    found[:, [1, 3]] = np.clip(found[:, [1, 3]], 0, fitted[0]) * height / fitted[0]
    on_image = (found[:, 2] - found[:, 0]) * (found[:, 3] - found[:, 1])
    on_image *= fitted[0] * fitted[1] / (width * height)  # back in the network's pixels
    return found[on_image >= 0.5 * np.maximum(area, 1e-9)]


def detections(rows: np.ndarray, labels: Sequence[str], min_score: float) -> list[dict]:
    """Detections scoring at least `min_score`, best first: box, label and score."""
    kept = rows[rows[:, 4] >= min_score]
    kept = kept[np.argsort(-kept[:, 4], kind="stable")]
    return [
        {
            "label": labels[int(row[5])],
            "score": round(float(row[4]), 4),
            "box": [round(float(v), 1) for v in row[:4]],
        }
        for row in kept
    ]
