"""Model folders made in place (untrained, seeded) for testing serving mechanics; the
trainer's own folders are tested end to end elsewhere."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import save_file

from fermion.training import models

DIGIT_LABELS = [str(i) for i in range(10)]
VOCAB = ["great", "movie", "awful", "boring", "fun", "plot"]
IRIS_COLUMNS = ["sepal_length", "sepal_width", "petal_length", "petal_width"]


def _write(folder: Path, network: torch.nn.Module, config: dict, labels: list, pre: dict) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in network.state_dict().items()},
              str(folder / "model.safetensors"))  # fmt: skip
    files = {"config.json": config, "labels.json": labels, "preprocessing.json": pre,
             "metrics.json": {"test": {"accuracy": 0.5}}}  # fmt: skip
    for name, content in files.items():
        (folder / name).write_text(json.dumps(content))
    return folder


def image_model(folder: Path, side: int = 8, seed: int = 0) -> Path:
    torch.manual_seed(seed)
    network = models.SmallCNN(len(DIGIT_LABELS))
    pre = {"kind": "image", "image_size": [side, side], "mode": "RGB",
           "mean": [0.5, 0.5, 0.5], "std": [0.25, 0.25, 0.25]}  # fmt: skip
    config = {"dataset_type": "image-classification", "model": "small-cnn", "dataset": "t:v1"}
    return _write(folder, network, config, DIGIT_LABELS, pre)


def text_model(folder: Path, seed: int = 0) -> Path:
    torch.manual_seed(seed)
    network = models.SmallTransformer(len(VOCAB) + 2, 2, max_len=16)
    pre = {"kind": "text", "vocab": VOCAB, "max_len": 16}
    config = {
        "dataset_type": "text-classification",
        "model": "small-transformer",
        "dataset": "t:v1",
    }
    return _write(folder, network, config, ["fresh", "rotten"], pre)


def tabular_model(folder: Path, seed: int = 0) -> Path:
    torch.manual_seed(seed)
    n = len(IRIS_COLUMNS)
    network = models.mlp(n, 3, torch.zeros(n), torch.ones(n))
    pre = {"kind": "tabular", "feature_columns": IRIS_COLUMNS, "mean": [0.0] * n, "std": [1.0] * n}
    config = {"dataset_type": "tabular-classification", "model": "mlp", "dataset": "t:v1"}
    return _write(folder, network, config, ["setosa", "versicolor", "virginica"], pre)
