"""What a model folder's JSON files hold, as types: `config.json`'s spec (what built the
network), and the preprocessing (a union on `kind`) that turns raw inputs into what the
network takes. Writers build these objects; readers get them back validated, so a
folder that the trainer writes is a folder that a replica can read."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from fermion.audio import Features
from fermion.dataset_types import DatasetType
from fermion.errors import InvalidInput

# Version 1 folders are those written before the format was numbered: their
# preprocessing may say kind "word" for the word tokenizer (read as "text").
FORMAT_VERSION = 2


class ImagePreprocessing(BaseModel):
    """Resize to `image_size` (height, width), scale to [0, 1], normalise per channel."""

    kind: Literal["image"] = "image"
    image_size: tuple[int, int]
    mode: Literal["RGB", "L"] = "RGB"
    mean: list[float]
    std: list[float]

    def shape_inputs(self) -> dict[str, Any]:
        return {"image_side": self.image_size[0]}

    @property
    def channels(self) -> int:
        return 3 if self.mode == "RGB" else 1


class DetectionPreprocessing(BaseModel):
    """Fit into `image_size` (height, width) keeping the image's shape (`fermion.boxes`)
    and scale to [0, 1] (detectors normalise inside); boxes come back in the input
    image's pixels, those scoring at least `min_score` by default."""

    kind: Literal["detection"] = "detection"
    image_size: tuple[int, int]
    min_score: float = Field(default=0.3, ge=0, le=1)

    def shape_inputs(self) -> dict[str, Any]:
        return {"image_size": self.image_size}

    @property
    def input_shape(self) -> list[int]:
        return [3, *self.image_size]


class WordPreprocessing(BaseModel):
    """Fermion's word tokenizer: lower-cased words of `vocab` (ids from 2; 0 pads, 1 is
    unknown), at most `max_len` of them."""

    kind: Literal["text"] = "text"
    vocab: list[str]
    max_len: int = Field(gt=0)

    def shape_inputs(self) -> dict[str, Any]:
        return {"vocab_size": len(self.vocab) + 2, "max_len": self.max_len}


class HFTokenizerPreprocessing(BaseModel):
    """A Hugging Face tokenizer saved in the folder's `folder` subfolder."""

    kind: Literal["hf-tokenizer"] = "hf-tokenizer"
    folder: str = "tokenizer"
    max_len: int = Field(default=128, gt=0)

    def shape_inputs(self) -> dict[str, Any]:
        return {}


class TabularPreprocessing(BaseModel):
    """Records of `feature_columns`, in that order; the statistics are the training
    split's (the network standardises with its own copy of them)."""

    kind: Literal["tabular"] = "tabular"
    feature_columns: list[str] = Field(min_length=1)
    mean: list[float]
    std: list[float]

    def shape_inputs(self) -> dict[str, Any]:
        import torch

        # Statistics inside the network are buffers: their saved values replace these.
        n = len(self.feature_columns)
        return {
            "in_features": n,
            "mean": torch.zeros(n),
            "std": torch.ones(n),
            "target_mean": 0.0,
            "target_std": 1.0,
        }


class AudioPreprocessing(BaseModel):
    """Decode, mix to mono, resample to `sample_rate`, pad or cut to `clip_samples`, then a
    log-mel spectrogram standardised per clip (`fermion.audio`): 1 x n_mels x frames."""

    kind: Literal["audio"] = "audio"
    sample_rate: int = Field(default=16_000, gt=0)
    clip_samples: int = Field(gt=0)
    n_fft: int = Field(default=512, gt=0)
    win_length: int = Field(default=400, gt=0)
    hop_length: int = Field(default=160, gt=0)
    n_mels: int = Field(default=64, gt=0)
    f_min: float = Field(default=20.0, ge=0)

    def features(self) -> Features:
        return Features(**self.model_dump(exclude={"kind"}))

    def shape_inputs(self) -> dict[str, Any]:
        return {"n_mels": self.n_mels, "frames": self.features().frames}

    @property
    def input_shape(self) -> list[int]:
        return [1, self.n_mels, self.features().frames]


class HFAudioPreprocessing(BaseModel):
    """Sound for a Hugging Face audio model: decoded, mixed to mono, resampled to
    `sample_rate` and padded or cut to `clip_samples` as for Fermion's own (`fermion.audio`),
    then the feature extractor saved in the folder's `folder` subfolder."""

    kind: Literal["hf-audio"] = "hf-audio"
    folder: str = "feature_extractor"
    sample_rate: int = Field(gt=0)
    clip_samples: int = Field(gt=0)

    def features(self) -> Features:
        return Features(sample_rate=self.sample_rate, clip_samples=self.clip_samples)

    def shape_inputs(self) -> dict[str, Any]:
        return {}


class InteractionsPreprocessing(BaseModel):
    """Recommendation: an input is a user id, one of `users` (position = the network's
    user index) or a user the model has never met; the items are the folder's labels."""

    kind: Literal["interactions"] = "interactions"
    users: list[str]
    interactions: int = Field(ge=0)  # the histories' length, saved with the weights

    def shape_inputs(self) -> dict[str, Any]:
        return {"users": len(self.users), "interactions": self.interactions}


Preprocessing = Annotated[
    ImagePreprocessing
    | DetectionPreprocessing
    | WordPreprocessing
    | HFTokenizerPreprocessing
    | TabularPreprocessing
    | AudioPreprocessing
    | HFAudioPreprocessing
    | InteractionsPreprocessing,
    Field(discriminator="kind"),
]
TEXT_KINDS = ("text", "hf-tokenizer")
_PREPROCESSING: TypeAdapter[Any] = TypeAdapter(Preprocessing)


class ModelSpec(BaseModel):
    """What built the network: enough to build it again before loading its weights.
    Whatever else the writer knew (the training configuration, where an import came
    from) is kept beside it as extra fields."""

    model_config = ConfigDict(extra="allow", protected_namespaces=())

    format: int = 1  # absent from folders written before the format was numbered
    dataset_type: DatasetType
    model: str  # an architecture name (architectures.py), "bert", or the user's class
    framework: Literal["pytorch", "keras"] = "pytorch"  # keras: model.keras, not safetensors
    model_file: str | None = None  # `path.py:Class` under the folder's code/
    adapt_small_images: bool = True  # imported torchvision networks keep their own stem
    architecture: str = ""  # the network's class name, for people
    dataset: str = ""  # NAME:vN it was trained on; empty for an import

    @property
    def regression(self) -> bool:
        return self.dataset_type is DatasetType.TABULAR_REGRESSION

    @property
    def ranking(self) -> bool:
        return self.dataset_type is DatasetType.RECOMMENDATION

    @property
    def detection(self) -> bool:
        return self.dataset_type is DatasetType.OBJECT_DETECTION

    @property
    def keras(self) -> bool:
        return self.framework == "keras"


def parse_preprocessing(value: Any, where: str) -> Preprocessing:
    """A preprocessing object from JSON, older spellings included."""
    if isinstance(value, dict) and value.get("kind") == "word" and "vocab" in value:
        value = {**value, "kind": "text"}  # format 1 let the tokenizer's own kind win
    try:
        return _PREPROCESSING.validate_python(value)
    except ValidationError as exc:
        raise InvalidInput(
            f"{where} does not describe a preprocessing Fermion knows: {_first_error(exc)}"
        ) from None


def parse_spec(value: Any, where: str) -> ModelSpec:
    try:
        spec = ModelSpec.model_validate(value)
    except ValidationError as exc:
        raise InvalidInput(
            f"{where} is not a model spec Fermion can read: {_first_error(exc)}"
        ) from None
    if spec.format > FORMAT_VERSION:
        raise InvalidInput(
            f"{where} is model folder format {spec.format}, newer than this Fermion reads"
            f" ({FORMAT_VERSION}); upgrade Fermion to load it"
        )
    return spec


def _first_error(exc: ValidationError) -> str:
    error = exc.errors()[0]
    where = ".".join(str(p) for p in error.get("loc", ()))
    return f"{where}: {error.get('msg', 'invalid')}" if where else str(error.get("msg"))
