"""The kinds of dataset Fermion knows: what a dataset, a model folder and an endpoint
are about. In the foundation, because every layer from the model folder up names them."""

from __future__ import annotations

from enum import StrEnum


class DatasetType(StrEnum):
    IMAGE_CLASSIFICATION = "image-classification"
    TEXT_CLASSIFICATION = "text-classification"
    TABULAR_CLASSIFICATION = "tabular-classification"
    TABULAR_REGRESSION = "tabular-regression"
    AUDIO_CLASSIFICATION = "audio-classification"
    RECOMMENDATION = "recommendation"
    OBJECT_DETECTION = "object-detection"

    @classmethod
    def parse(cls, text: str) -> DatasetType:
        """Accepts 'image-classification', 'image classification', 'IMAGE_CLASSIFICATION'."""
        normal = "-".join(str(text).strip().lower().replace("_", " ").replace("-", " ").split())
        try:
            return cls(normal)
        except ValueError:
            choices = ", ".join(t.value for t in cls)
            raise ValueError(f"unknown dataset type {text!r}; choose one of: {choices}") from None

    @property
    def is_classification(self) -> bool:
        return self.value.endswith("classification")
