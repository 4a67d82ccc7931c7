"""A model's global importance over a dataset split (what an evaluation job with
`--importance` records with the model version):

- tables: permutation importance, the fall of the split's score (accuracy, or R^2 for a
  regression) when one feature's column is shuffled, averaged over a few shuffles;
- images: where the model looks, the mean absolute Integrated Gradients map of the true
  class over a sample of the split, normalised to sum to one, with its heat map;
- text: per class, the words with the largest mean attribution towards that class."""

from __future__ import annotations

import base64
from collections import defaultdict
from typing import Any

import numpy as np
import torch

from fermion.explain.explainer import Explainer

REPEATS = 5  # shuffles per feature
IMAGE_SAMPLES = 64
TEXT_SAMPLES = 256
TOP_TOKENS = 10


def report(explainer: Explainer, values: list[Any], targets: list[Any]) -> dict[str, Any]:
    """`targets`: the split's labels (class names, or numbers for a regression)."""
    make = {"tabular": tabular, "image": image, "text": text}[explainer.kind]
    return make(explainer, values, targets)


def _score(explainer: Explainer, x: torch.Tensor, y: torch.Tensor) -> float:
    with torch.inference_mode():
        out = explainer.forward(x)
    if explainer.model.regression:
        residual = float(((out - y) ** 2).sum())
        total = float(((y - y.mean()) ** 2).sum()) or 1.0
        return 1.0 - residual / total
    return float((out.argmax(-1) == y).float().mean())


def _target_indices(explainer: Explainer, targets: list[Any]) -> torch.Tensor:
    if explainer.model.regression:
        return torch.tensor([float(t) for t in targets])
    index = {label: i for i, label in enumerate(explainer.model.labels)}
    return torch.tensor([index[str(t)] for t in targets])


def tabular(explainer: Explainer, values: list[Any], targets: list[Any]) -> dict[str, Any]:
    pre = explainer.pre
    x = pre.collate([pre.prepare(v, f"record {i}") for i, v in enumerate(values)])
    y = _target_indices(explainer, targets)
    base = _score(explainer, x, y)
    generator = torch.Generator().manual_seed(0)
    features = []
    for column, name in enumerate(pre.columns):
        drops = []
        for _ in range(REPEATS):
            shuffled = x.clone()
            shuffled[:, column] = x[torch.randperm(len(x), generator=generator), column]
            drops.append(base - _score(explainer, shuffled, y))
        features.append(
            {"name": name, "importance": float(np.mean(drops)), "std": float(np.std(drops))}
        )
    features.sort(key=lambda f: -f["importance"])
    return {
        "method": "permutation",
        "metric": "r2" if explainer.model.regression else "accuracy",
        "score": base,
        "records": len(values),
        "features": features,
    }


def image(explainer: Explainer, values: list[Any], targets: list[Any]) -> dict[str, Any]:
    from fermion.explain import images

    pre = explainer.pre
    picked = range(0, len(values), max(1, len(values) // IMAGE_SAMPLES))[:IMAGE_SAMPLES]
    total: torch.Tensor | None = None
    for start in range(0, len(picked), 16):
        chunk = picked[start : start + 16]
        batch = pre.collate([pre.prepare(values[i], f"record {i}") for i in chunk])
        wanted = _target_indices(explainer, [targets[i] for i in chunk]).tolist()
        found, _ = images.attribute(explainer, batch, wanted, "integrated-gradients")
        summed = found.detach().sum(1).abs().sum(0)  # over channels, then images
        total = summed if total is None else total + summed
    assert total is not None
    grid = (total / total.sum().clamp_min(1e-12)).numpy()
    return {
        "method": "integrated-gradients",
        "samples": len(picked),
        "map": np.round(grid, 6).tolist(),
        "heatmap_png": base64.b64encode(images.heatmap_png(None, grid)).decode(),
    }


def text(explainer: Explainer, values: list[Any], targets: list[Any]) -> dict[str, Any]:
    sums: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    step = max(1, len(values) // TEXT_SAMPLES)
    picked = range(0, len(values), step)[:TEXT_SAMPLES]
    for i in picked:
        label = str(targets[i])
        found = explainer.explain(values[i], target=label)
        for token in found.tokens or []:
            sums[label][token.token].append(token.attribution)
    classes = {}
    for label, by_token in sorted(sums.items()):
        ranked = sorted(
            ((t, float(np.mean(a)), len(a)) for t, a in by_token.items() if len(a) >= 2),
            key=lambda r: -r[1],
        )
        classes[label] = [
            {"token": t, "attribution": a, "count": n} for t, a, n in ranked[:TOP_TOKENS]
        ]
    return {"method": "integrated-gradients", "samples": len(picked), "classes": classes}
