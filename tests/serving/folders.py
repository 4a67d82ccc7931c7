"""Model folders made in place (untrained, seeded) for testing serving mechanics, written
through the model-folder package as the trainer writes them; the trainer's own folders
are tested end to end in tests/roundtrip."""

from __future__ import annotations

from pathlib import Path

import torch

from fermion import modelfile
from fermion.modelfile import architectures

DIGIT_LABELS = [str(i) for i in range(10)]
VOCAB = ["great", "movie", "awful", "boring", "fun", "plot"]
IRIS_COLUMNS = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
METRICS = {"test": {"accuracy": 0.5}}


def image_model(folder: Path, side: int = 8, seed: int = 0) -> Path:
    torch.manual_seed(seed)
    network = architectures.SmallCNN(len(DIGIT_LABELS))
    pre = modelfile.ImagePreprocessing(image_size=(side, side), mean=[0.5] * 3, std=[0.25] * 3)
    spec = modelfile.ModelSpec(
        dataset_type="image-classification", model="small-cnn", dataset="t:v1"
    )
    return modelfile.save(folder, network, spec, DIGIT_LABELS, pre, METRICS)


def text_model(folder: Path, seed: int = 0) -> Path:
    torch.manual_seed(seed)
    network = architectures.SmallTransformer(len(VOCAB) + 2, 2, max_len=16)
    pre = modelfile.WordPreprocessing(vocab=VOCAB, max_len=16)
    spec = modelfile.ModelSpec(
        dataset_type="text-classification", model="small-transformer", dataset="t:v1"
    )
    return modelfile.save(folder, network, spec, ["fresh", "rotten"], pre, METRICS)


def tabular_model(folder: Path, seed: int = 0) -> Path:
    torch.manual_seed(seed)
    n = len(IRIS_COLUMNS)
    network = architectures.mlp(n, 3, torch.zeros(n), torch.ones(n))
    pre = modelfile.TabularPreprocessing(
        feature_columns=IRIS_COLUMNS, mean=[0.0] * n, std=[1.0] * n
    )
    spec = modelfile.ModelSpec(dataset_type="tabular-classification", model="mlp", dataset="t:v1")
    labels = ["setosa", "versicolor", "virginica"]
    return modelfile.save(folder, network, spec, labels, pre, METRICS)
