"""The architectures Fermion offers by name, per dataset type (without importing torch:
the server checks names at submit)."""

from __future__ import annotations

from fermion.dataset_types import DatasetType

IMAGE_MODELS = ("small-cnn", "resnet18", "resnet34", "resnet50", "mobilenet_v3_small")
TEXT_MODELS = ("small-transformer", "bert")  # bert: any HF encoder folder, --pretrained
TABULAR_MODELS = ("mlp",)
AUDIO_MODELS = ("audio-cnn", "hf-audio")  # hf-audio: any HF audio classifier, --pretrained
RECOMMENDATION_MODELS = ("mf", "two-tower")
# small-detector: FCOS on a small backbone; the others by their torchvision names.
DETECTION_MODELS = (
    "small-detector",
    "fasterrcnn_mobilenet_v3_large_fpn",
    "retinanet_resnet50_fpn",
    "ssdlite320_mobilenet_v3_large",
)
# Hugging Face folders, loaded with --pretrained PATH: the kind of input each classifies.
HF_MODELS = {"bert": "text", "hf-audio": "audio"}
MODELS_BY_TYPE = {
    DatasetType.IMAGE_CLASSIFICATION: IMAGE_MODELS,
    DatasetType.TEXT_CLASSIFICATION: TEXT_MODELS,
    DatasetType.TABULAR_CLASSIFICATION: TABULAR_MODELS,
    DatasetType.TABULAR_REGRESSION: TABULAR_MODELS,
    DatasetType.AUDIO_CLASSIFICATION: AUDIO_MODELS,
    DatasetType.RECOMMENDATION: RECOMMENDATION_MODELS,
    DatasetType.OBJECT_DETECTION: DETECTION_MODELS,
}
