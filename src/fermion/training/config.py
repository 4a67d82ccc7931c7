"""The trainer's configuration: what the user gave, completed with defaults for the
dataset's type. Resolved once at submit (so `fermion train` can print it) and stored
with the job as train.json."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from fermion.errors import InvalidInput
from fermion.modelfile.catalog import HF_MODELS, MODELS_BY_TYPE
from fermion.payloads import DatasetType

# Per dataset type; small images get the small CNN (resnets shrink 8x8 inputs to nothing).
DEFAULTS: dict[DatasetType, dict[str, Any]] = {
    DatasetType.IMAGE_CLASSIFICATION: {
        "model": "small-cnn",
        "epochs": 30,
        "batch_size": 32,
        "lr": 2e-3,
        "weight_decay": 0.05,
        "augment": "light",
    },
    DatasetType.AUDIO_CLASSIFICATION: {
        "model": "audio-cnn",
        "epochs": 30,
        "batch_size": 32,
        "lr": 3e-3,
        "weight_decay": 0.05,
        "augment": "light",
    },
    DatasetType.RECOMMENDATION: {
        "model": "mf",
        "epochs": 20,
        "batch_size": 256,
        "lr": 5e-3,
        "weight_decay": 1e-4,
        "augment": "none",
    },
    DatasetType.OBJECT_DETECTION: {
        "model": "small-detector",
        "epochs": 20,
        "batch_size": 16,
        "lr": 1e-3,
        "weight_decay": 1e-4,
        "augment": "light",
        "max_grad_norm": 10.0,  # a detector's summed losses start large
    },
    DatasetType.TEXT_CLASSIFICATION: {
        "model": "small-transformer",
        "epochs": 10,
        "batch_size": 32,
        "lr": 5e-4,
        "weight_decay": 0.01,
        "augment": "none",
    },
    DatasetType.TABULAR_CLASSIFICATION: {
        "model": "mlp",
        "epochs": 60,
        "batch_size": 32,
        "lr": 3e-3,
        "weight_decay": 1e-4,
        "augment": "none",
    },
    DatasetType.TABULAR_REGRESSION: {
        "model": "mlp",
        "epochs": 80,
        "batch_size": 32,
        "lr": 3e-3,
        "weight_decay": 1e-4,
        "augment": "none",
    },
}
# A pretrained Hugging Face audio model is fine-tuned: a small learning rate, fewer epochs.
FINE_TUNING: dict[str, dict[str, Any]] = {"hf-audio": {"lr": 1e-4, "epochs": 10, "batch_size": 16}}
COMMON = {"optimizer": "adamw", "scheduler": "cosine", "warmup_ratio": 0.05, "max_grad_norm": 1.0}
SMALL_IMAGE = 64  # at or below this side, images default to the small CNN; above, resnet18


@dataclass
class TrainConfig:
    dataset: str  # NAME:vN, pinned at submit
    dataset_type: str
    name: str  # the model's registry name
    model: str
    epochs: int
    batch_size: int
    lr: float
    weight_decay: float
    optimizer: str
    scheduler: str
    warmup_ratio: float
    precision: str  # a Precision: as asked at submit, decided on the job's host at start
    precision_reason: str
    grad_accum: int
    max_grad_norm: float
    nproc: int  # per node
    seed: int
    early_stopping: int | None
    image_size: int | None
    augment: str
    pretrained: str | None = None
    model_file: str | None = None
    register_model: bool = True  # a sweep's trials leave it to the sweep
    nodes: int = 1

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    @property
    def effective_batch_size(self) -> int:
        return self.batch_size * self.nproc * self.nodes * self.grad_accum


def defaults_for(kind: DatasetType, image_side: int | None) -> dict[str, Any]:
    chosen = {**COMMON, **DEFAULTS[kind]}
    if kind is DatasetType.IMAGE_CLASSIFICATION and image_side and image_side > SMALL_IMAGE:
        chosen.update(model="resnet18", lr=1e-3, batch_size=64, augment="standard")
    return chosen


def check_model_name(kind: DatasetType, name: str, pretrained: str | None = None) -> None:
    if name in HF_MODELS and not pretrained:
        raise InvalidInput(
            f"--model {name} loads a Hugging Face model folder: give it with --pretrained PATH"
            " (nothing is downloaded)"
        )
    if name not in MODELS_BY_TYPE[kind]:
        raise InvalidInput(
            f"model {name!r} does not fit a {kind.value} dataset; choose one of:"
            f" {', '.join(MODELS_BY_TYPE[kind])}, or bring your own with --model-file"
        )
