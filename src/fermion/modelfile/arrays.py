"""Raw inputs -> NumPy batches, for runtimes without torch (ONNX Runtime).

The same preprocessing as `inputs.py` gives PyTorch, for the kinds a light replica
serves: images (decode, resize, scale, normalise), sound (`fermion.audio`'s log-mel,
the very same code), tabular records, and text (Fermion's word tokenizer, the very same
code; a Hugging Face model's fast tokenizer through the `tokenizers` library, which
transformers' fast tokenizers run on). Resizing uses Pillow's antialiased bilinear
filter, which torchvision's antialiased resize follows: values agree to rounding, and
exactly for images already at the model's size."""

from __future__ import annotations

from typing import Any

import numpy as np

from fermion import audio
from fermion.errors import InvalidInput
from fermion.modelfile.decoding import (
    audio_features,
    check_shape,
    decode_image,
    record_numbers,
    text_input,
)
from fermion.modelfile.folder import Manifest
from fermion.modelfile.schema import (
    AudioPreprocessing,
    HFTokenizerPreprocessing,
    ImagePreprocessing,
    TabularPreprocessing,
    WordPreprocessing,
)
from fermion.modelfile.text_arrays import FastTokenizer, WordIds

LIGHT_KINDS = ("image", "audio", "tabular", "text", "hf-tokenizer")


class ArrayPreprocessor:
    """`prepare` one input, `collate` a list of them, `tensor` for ready-made V2 data;
    `example` is a valid input and `input_shape` one prepared input's shape."""

    def __init__(self, model: Manifest) -> None:
        self.model = model
        spec = model.preprocessing
        if isinstance(spec, ImagePreprocessing):
            self.mode, self.size = spec.mode, tuple(spec.image_size)  # (height, width)
            self.mean = np.asarray(spec.mean, np.float32).reshape(-1, 1, 1)
            self.std = np.asarray(spec.std, np.float32).reshape(-1, 1, 1)
            self.input_shape = [spec.channels, *self.size]
            self.prepare = self._image
            self.example: Any = self._example_image()
        elif isinstance(spec, AudioPreprocessing):
            self.features = spec.features()
            self.input_shape = spec.input_shape
            self.prepare = lambda value, where: audio_features(value, where, self.features)
            self.example = audio.silence(self.features)
        elif isinstance(spec, TabularPreprocessing):
            self.columns = list(spec.feature_columns)
            self.input_shape = [len(self.columns)]
            self.prepare = self._record
            self.example = dict.fromkeys(self.columns, 0.0)
        elif isinstance(spec, WordPreprocessing | HFTokenizerPreprocessing):
            is_words = isinstance(spec, WordPreprocessing)
            self.text = WordIds(spec) if is_words else FastTokenizer(model.folder, spec)
            self.input_shape = []  # text comes as strings, never as ready-made tensors
            self.prepare = lambda value, where: self.text.ids(text_input(value, where))
            self.collate = self.text.collate
            self.example = "warm up"
        else:
            raise InvalidInput(
                f"the light runtime serves {', '.join(LIGHT_KINDS)} models; this one's"
                f" preprocessing is {spec.kind!r}: deploy it with --runtime torch"
            )

    def _example_image(self) -> bytes:
        import io

        from PIL import Image

        buffer = io.BytesIO()
        Image.new(self.mode, self.size[::-1]).save(buffer, format="PNG")
        return buffer.getvalue()

    def _image(self, value: Any, where: str) -> np.ndarray:
        from PIL import Image

        image = decode_image(value, where, self.mode)
        height, width = self.size
        if image.size != (width, height):
            image = image.resize((width, height), Image.Resampling.BILINEAR)
        pixels = np.asarray(image, dtype=np.float32) / 255
        pixels = pixels[None] if pixels.ndim == 2 else pixels.transpose(2, 0, 1)
        return (pixels - self.mean) / self.std

    def _record(self, value: Any, where: str) -> np.ndarray:
        return np.asarray(record_numbers(value, where, self.columns), dtype=np.float32)

    def tensor(self, value: np.ndarray, where: str) -> np.ndarray:
        check_shape(value.shape, self.input_shape, where)
        return value.astype(np.float32, copy=False)

    @staticmethod
    def collate(items: list[np.ndarray]) -> np.ndarray | dict[str, np.ndarray]:
        return np.stack(items)
