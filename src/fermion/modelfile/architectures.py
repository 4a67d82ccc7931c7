"""The networks a model folder can hold, by name, for each dataset type, plus the
user's own class (`--model-file`); `build_network` rebuilds a folder's network from its
spec before its weights are loaded."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

import torch
from torch import nn

from fermion.dataset_types import DatasetType
from fermion.errors import InvalidInput
from fermion.modelfile.catalog import DETECTION_MODELS, IMAGE_MODELS
from fermion.modelfile.recommenders import RECOMMENDERS


def conv_block(cin: int, cout: int, pool: bool = False) -> nn.Sequential:
    """3x3 convolution, batch norm, ReLU; then a 2x2 max-pool when `pool`."""
    layers = [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout)]
    layers += [nn.ReLU(inplace=True), *([nn.MaxPool2d(2)] if pool else [])]
    return nn.Sequential(*layers)


class SmallCNN(nn.Module):
    """Three conv blocks and a linear head: quick, and right for small images."""

    def __init__(self, num_classes: int, channels: int = 3, width: int = 32) -> None:
        super().__init__()
        self.features = nn.Sequential(
            conv_block(channels, width),
            conv_block(width, width * 2),
            nn.MaxPool2d(2),
            conv_block(width * 2, width * 4),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
        )
        self.head = nn.Sequential(nn.Dropout(0.2), nn.Linear(width * 4, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


class AudioCNN(nn.Module):
    """Four conv blocks over a log-mel spectrogram (1 x mels x frames), each halving
    both axes, then the mean over time and frequency: small enough to train on a CPU
    in minutes, and indifferent to the clip length."""

    def __init__(self, num_classes: int, width: int = 32) -> None:
        super().__init__()
        self.features = nn.Sequential(
            conv_block(1, width // 2, pool=True),
            conv_block(width // 2, width, pool=True),
            conv_block(width, width * 2, pool=True),
            conv_block(width * 2, width * 4, pool=True),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
        )
        self.head = nn.Sequential(nn.Dropout(0.3), nn.Linear(width * 4, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def torchvision_model(
    name: str, num_classes: int, image_side: int, adapt_small_images: bool = True
) -> nn.Module:
    import torchvision

    model = getattr(torchvision.models, name)(weights=None, num_classes=num_classes)
    if adapt_small_images and name.startswith("resnet") and image_side <= 64:
        # Small inputs: a 3x3 stride-1 stem and no max-pool, or an 8x8 image is gone by
        # the second stage (the usual CIFAR adaptation).
        model.conv1 = nn.Conv2d(3, 64, 3, stride=1, padding=1, bias=False)
        model.maxpool = nn.Identity()
    return model


class Standardize(nn.Module):
    """(x - mean) / std with the training split's statistics, kept in the model so the
    registered model carries its own preprocessing."""

    def __init__(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("mean", mean.clone().float())
        self.register_buffer("std", std.clone().float().clamp_min(1e-8))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


class Rescale(nn.Module):
    """Regression head: the network predicts standardised targets; this maps them back."""

    def __init__(self, mean: float, std: float) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor(float(mean)))
        self.register_buffer("std", torch.tensor(float(std) or 1.0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.squeeze(-1) * self.std + self.mean


def mlp(in_features: int, outputs: int, mean: torch.Tensor, std: torch.Tensor) -> nn.Module:
    return nn.Sequential(
        Standardize(mean, std),
        nn.Linear(in_features, 256),
        nn.ReLU(),
        nn.Dropout(0.1),
        nn.Linear(256, 128),
        nn.ReLU(),
        nn.Linear(128, outputs),
    )


class SmallTransformer(nn.Module):
    """Token + position embeddings, a 2-layer Transformer encoder, mean pooling."""

    def __init__(
        self,
        vocab_size: int,
        num_classes: int,
        max_len: int = 128,
        dim: int = 128,
        heads: int = 4,
        layers: int = 2,
    ) -> None:
        super().__init__()
        self.tokens = nn.Embedding(vocab_size, dim, padding_idx=0)
        self.positions = nn.Embedding(max_len, dim)
        layer = nn.TransformerEncoderLayer(
            dim, heads, dim * 4, dropout=0.1, batch_first=True, norm_first=True
        )
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, num_classes)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        pad = ids == 0
        positions = torch.arange(ids.shape[1], device=ids.device)
        x = self.encoder(self.tokens(ids) + self.positions(positions), src_key_padding_mask=pad)
        keep = (~pad).unsqueeze(-1).to(x.dtype)
        pooled = (x * keep).sum(1) / keep.sum(1).clamp_min(1.0)
        return self.head(self.norm(pooled))


def _hf_auto_class(task: str) -> Any:
    import transformers

    names = {
        "text": "AutoModelForSequenceClassification",
        "audio": "AutoModelForAudioClassification",
    }
    return getattr(transformers, names[task])


class HFClassifier(nn.Module):
    """A Hugging Face model with a classification head (BERT and its family for text;
    wav2vec 2.0, HuBERT, AST and the like for sound), loaded from a local folder (nothing
    is downloaded), behind the trainer's model(x) call."""

    def __init__(self, path: str, num_labels: int, task: str = "text") -> None:
        super().__init__()
        self.hf = _hf_auto_class(task).from_pretrained(
            path, num_labels=num_labels, ignore_mismatched_sizes=True, local_files_only=True
        )

    @classmethod
    def from_config_dir(cls, path: Path, task: str = "text") -> HFClassifier:
        """The architecture alone, from a saved Hugging Face config (weights come after)."""
        from transformers import AutoConfig

        model = cls.__new__(cls)
        nn.Module.__init__(model)
        config = AutoConfig.from_pretrained(str(path), local_files_only=True)
        model.hf = _hf_auto_class(task).from_config(config)
        return model

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.hf(**batch).logits


def build(
    dataset_type: str,
    name: str,
    outputs: int,
    inputs: dict[str, Any],
    model_file: str | None = None,
    code_dir: Path | None = None,
) -> nn.Module:
    """A freshly initialised model by name. `inputs` are what its shape depends on: the
    image side, the vocabulary size and length, the feature count and statistics."""
    if model_file:
        return load_model_file(model_file, code_dir or Path.cwd(), outputs)
    if name == "small-cnn":
        return SmallCNN(outputs)
    if name in IMAGE_MODELS:
        return torchvision_model(
            name, outputs, inputs["image_side"], inputs.get("adapt_small_images", True)
        )
    if name == "audio-cnn":
        return AudioCNN(outputs)
    if name in DETECTION_MODELS:
        from fermion.modelfile.detectors import build_detector

        return build_detector(name, outputs, tuple(inputs["image_size"]))
    if name in RECOMMENDERS:
        network = RECOMMENDERS[name](inputs["users"], outputs, inputs["interactions"])
        if "history" in inputs:  # training: the histories themselves, not just their size
            network.remember(*inputs["history"])
        return network
    if name == "small-transformer":
        return SmallTransformer(inputs["vocab_size"], outputs, max_len=inputs["max_len"])
    model = mlp(inputs["in_features"], outputs, inputs["mean"], inputs["std"])
    if DatasetType(dataset_type) is DatasetType.TABULAR_REGRESSION:
        model = nn.Sequential(model, Rescale(inputs["target_mean"], inputs["target_std"]))
    return model


def load_model_file(spec: str, code_dir: Path, num_classes: int) -> nn.Module:
    """`path.py:ClassName` from the job's code, constructed with num_classes."""
    path_text, sep, class_name = spec.partition(":")
    path = (code_dir / path_text).resolve()
    if not sep or not class_name:
        raise InvalidInput(f"--model-file {spec!r} must look like my_model.py:ClassName")
    if not path.is_file():
        raise InvalidInput(f"--model-file: {path_text} is not in the job's code")
    module_spec = importlib.util.spec_from_file_location(f"user_model_{path.stem}", path)
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[module_spec.name] = module
    module_spec.loader.exec_module(module)
    cls = getattr(module, class_name, None)
    if cls is None:
        raise InvalidInput(f"--model-file: {path_text} defines no {class_name}")
    model = cls(num_classes=num_classes)
    if not isinstance(model, nn.Module):
        raise InvalidInput(f"--model-file: {class_name} is not a torch.nn.Module")
    return model


def load_pretrained(model: nn.Module, path: Path) -> list[str]:
    """Copy matching weights from a state dict file (safetensors or torch); a head of
    another size is left as initialised. Returns the names of what was not loaded."""
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        state: dict[str, Any] = load_file(str(path))
    else:
        state = torch.load(path, map_location="cpu", weights_only=True)
    own = model.state_dict()
    usable = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
    model.load_state_dict(usable, strict=False)
    return sorted(set(own) - set(usable))
