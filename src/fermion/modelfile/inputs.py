"""Request inputs -> tensors, and network outputs -> predictions, for each dataset type.

Every input is checked on its own, and a bad one is refused with its index and the
reason: a replica answers bad input with a 400, never with a failed forward pass.

Two stages: `prepare` checks and decodes one input (threads of the event loop's pool,
beside the forward pass) and uses no parallel torch operations; `collate` makes the
batch (resize, normalise, pad) on the forward pass's thread, so that torch's OpenMP
threads are never started from two threads at once to compete for the same cores."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import torch

from fermion import audio
from fermion.boxes import PAD_VALUE, fitted_size, padding
from fermion.errors import InvalidInput
from fermion.modelfile.decoding import (
    audio_clip,
    audio_features,
    check_shape,
    decode_image,
    record_numbers,
    text_input,
)
from fermion.modelfile.folder import TOKENIZER_DIR, LoadedModel
from fermion.modelfile.image_tensors import ImagePipeline
from fermion.modelfile.recommenders import User, user_batch
from fermion.modelfile.schema import (
    AudioPreprocessing,
    DetectionPreprocessing,
    HFAudioPreprocessing,
    HFTokenizerPreprocessing,
    ImagePreprocessing,
    InteractionsPreprocessing,
    TabularPreprocessing,
    WordPreprocessing,
)
from fermion.modelfile.tokenizer import WordTokenizer, pad_ids


class Preprocessor:
    """Turns one request input into what the network takes, and a list of those into a
    batch. `example` is a valid input, used to warm the model up."""

    def __init__(self, model: LoadedModel) -> None:
        self.model = model
        spec = model.preprocessing
        self.prepare: Callable[[Any, str], Any]
        self.collate: Callable[[list[Any]], Any] = torch.stack
        self.input_shape: list[int] = []  # one prepared input, for tensors sent ready-made
        if isinstance(spec, ImagePreprocessing):
            self._image_setup(spec)
            self.prepare, self.collate = self._image, self._images
            self.example: Any = self._example_image()
        elif isinstance(spec, DetectionPreprocessing):  # detectors normalise inside
            self.mode, self.size, self.input_shape = "RGB", list(spec.image_size), spec.input_shape
            self.prepare, self.collate = self._image, self._fitted_images
            self.example = self._example_image()
        elif isinstance(spec, AudioPreprocessing):
            self.features = spec.features()
            self.input_shape = spec.input_shape
            self.prepare, self.example = self._sound, audio.silence(self.features)
        elif isinstance(spec, HFAudioPreprocessing):
            from transformers import AutoFeatureExtractor

            path = str(model.folder / spec.folder)
            self.extractor = AutoFeatureExtractor.from_pretrained(path, local_files_only=True)
            self.features = spec.features()
            self.prepare, self.collate = self._sound_clip, self._extract
            self.example = audio.silence(self.features)
        elif isinstance(spec, InteractionsPreprocessing):
            self.user_index = {user: i for i, user in enumerate(spec.users)}
            self.prepare, self.collate = self._user, user_batch
            self.example = spec.users[0] if spec.users else "someone"
        elif isinstance(spec, WordPreprocessing):
            self.tokenizer = WordTokenizer.from_preprocessing(spec)
            self.prepare, self.collate, self.example = self._words, pad_ids, "warm up"
        elif isinstance(spec, HFTokenizerPreprocessing):
            from transformers import AutoTokenizer

            path = str(model.folder / (spec.folder or TOKENIZER_DIR))
            self.hf_tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
            self.max_len = spec.max_len
            self.prepare, self.collate, self.example = self._hf_text, self._hf_pad, "warm up"
        elif isinstance(spec, TabularPreprocessing):
            self.columns = list(spec.feature_columns)
            self.prepare = self._record
            self.example = dict.fromkeys(self.columns, 0.0)
            self.input_shape = [len(self.columns)]
        else:  # a kind the schema knows but this code does not yet
            raise InvalidInput(f"the model's preprocessing kind {spec.kind!r} is not served")

    # -- images -------------------------------------------------------------------
    def _image_setup(self, spec: ImagePreprocessing) -> None:
        self.mode = spec.mode
        self.size = list(spec.image_size)
        self.input_shape = [spec.channels, *self.size]
        self.pipeline = ImagePipeline(self.size, spec.mean, spec.std)

    def _example_image(self) -> bytes:
        from PIL import Image

        buffer = io.BytesIO()
        Image.new(self.mode, tuple(self.size[::-1])).save(buffer, format="PNG")
        return buffer.getvalue()

    def _image(self, value: Any, where: str) -> torch.Tensor:
        import numpy as np

        image = decode_image(value, where, self.mode)
        pixels = torch.from_numpy(np.asarray(image).copy())
        return pixels.unsqueeze(0) if pixels.ndim == 2 else pixels.permute(2, 0, 1)

    def _images(self, items: list[torch.Tensor]) -> torch.Tensor:
        """Decoded images (uint8, any size) and ready tensors (float) -> one batch. Images
        of one size (the usual case) go through the pipeline together, as one tensor."""
        shapes = {(x.dtype, x.shape) for x in items}
        if len(shapes) == 1 and items[0].dtype == torch.uint8:
            return self.pipeline(torch.stack(items))
        return torch.stack([self.pipeline(x) if x.dtype == torch.uint8 else x for x in items])

    def _fitted_images(self, items: list[torch.Tensor]) -> torch.Tensor:
        """A detector's batch: each image fitted into its input (`fermion.boxes`)."""
        from torchvision.transforms.v2 import functional

        batch = []
        for x in items:
            if x.dtype != torch.uint8:  # a ready tensor (V2 FP32), already the input size
                batch.append(x)
                continue
            fitted = fitted_size(x.shape[-2:], self.size)
            x = functional.resize(x, list(fitted), antialias=True)
            x = functional.pad(x, padding(fitted, self.size), fill=PAD_VALUE)
            batch.append(x.float() / 255)
        return torch.stack(batch)

    # -- sound --------------------------------------------------------------------
    def _sound(self, value: Any, where: str) -> torch.Tensor:
        return torch.from_numpy(audio_features(value, where, self.features))

    def _sound_clip(self, value: Any, where: str) -> Any:
        return audio_clip(value, where, self.features)

    def _extract(self, clips: list[Any]) -> dict[str, torch.Tensor]:
        return dict(
            self.extractor(
                clips, sampling_rate=self.features.sample_rate, return_tensors="pt", padding=True
            )
        )

    # -- users --------------------------------------------------------------------
    def _user(self, value: Any, where: str) -> User:
        """A user id (or {"user": id}) -> the network's user index; -1 for a user the
        model has never met (who gets the popular items)."""
        if isinstance(value, dict):
            value = value.get("user")
        if isinstance(value, bool) or not isinstance(value, str | int) or not str(value).strip():
            raise InvalidInput(
                f'{where}: an input is a user id (a string), or {{"user": id}}, not {value!r}'
            )
        name = str(value).strip()
        return User(name, self.user_index.get(name, -1))

    # -- text ---------------------------------------------------------------------
    def _words(self, value: Any, where: str) -> list[int]:
        return self.tokenizer(text_input(value, where))

    def _hf_text(self, value: Any, where: str) -> dict[str, list[int]]:
        return dict(
            self.hf_tokenizer(text_input(value, where), truncation=True, max_length=self.max_len)
        )

    def _hf_pad(self, items: list[dict]) -> dict[str, torch.Tensor]:
        return dict(self.hf_tokenizer.pad(items, return_tensors="pt"))

    # -- tables -------------------------------------------------------------------
    def _record(self, value: Any, where: str) -> torch.Tensor:
        return torch.tensor(record_numbers(value, where, self.columns), dtype=torch.float32)

    def tensor(self, value: torch.Tensor, where: str) -> torch.Tensor:
        """A ready-made input tensor (V2 FP32 data), checked against the model's shape."""
        check_shape(value.shape, self.input_shape, where)
        return value.float()
