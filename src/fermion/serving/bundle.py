"""A model folder loaded for inference: the network in eval mode, its labels, and the
preprocessing it was trained with.

A folder holds model.safetensors, config.json (what built it), labels.json,
preprocessing.json and metrics.json; a Hugging Face model adds tokenizer/ and
hf_config/, a model from the user's own file adds code/ with that file."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from fermion.errors import InvalidInput
from fermion.payloads import DatasetType

REQUIRED = ("model.safetensors", "config.json", "labels.json", "preprocessing.json")


@dataclass
class ModelBundle:
    folder: Path
    kind: DatasetType
    network: nn.Module
    labels: list[str]
    preprocessing: dict[str, Any]
    config: dict[str, Any]

    @property
    def regression(self) -> bool:
        return self.kind is DatasetType.TABULAR_REGRESSION


def read_json(folder: Path, name: str) -> Any:
    try:
        return json.loads((folder / name).read_text())
    except FileNotFoundError:
        raise InvalidInput(f"{folder} is not a model folder: it has no {name}") from None
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"{folder / name} is not valid JSON: {exc}") from None


def shape_inputs(preprocessing: dict[str, Any]) -> dict[str, Any]:
    """What a network's shape depends on, recovered from its preprocessing (statistics
    kept inside the network are buffers, so their saved values replace these)."""
    kind = preprocessing.get("kind")
    if kind == "image":
        return {"image_side": preprocessing["image_size"][0]}
    if kind == "text":
        return {"vocab_size": len(preprocessing["vocab"]) + 2, "max_len": preprocessing["max_len"]}
    if kind == "tabular":
        n = len(preprocessing["feature_columns"])
        return {"in_features": n, "mean": torch.zeros(n), "std": torch.ones(n),
                "target_mean": 0.0, "target_std": 1.0}  # fmt: skip
    return {}


def build_network(
    folder: Path, config: dict[str, Any], outputs: int, preprocessing: dict
) -> nn.Module:
    from fermion.training import models

    if config.get("model") == "bert" and not config.get("model_file"):
        return models.HFClassifier.from_config_dir(folder / "hf_config")
    inputs = shape_inputs(preprocessing)
    # Imported torchvision networks keep their own stem even for small images.
    inputs["adapt_small_images"] = config.get("adapt_small_images", True)
    return models.build(config["dataset_type"], config["model"], outputs, inputs,
                        model_file=config.get("model_file"), code_dir=folder / "code")  # fmt: skip


def load_bundle(folder: Path) -> ModelBundle:
    from safetensors.torch import load_file

    folder = Path(folder)
    missing = [name for name in REQUIRED if not (folder / name).is_file()]
    if missing:
        raise InvalidInput(f"{folder} is not a model folder: missing {', '.join(missing)}")
    config = read_json(folder, "config.json")
    labels = read_json(folder, "labels.json")
    preprocessing = read_json(folder, "preprocessing.json")
    kind = DatasetType(config["dataset_type"])
    outputs = 1 if kind is DatasetType.TABULAR_REGRESSION else len(labels)
    network = build_network(folder, config, outputs, preprocessing)
    try:
        network.load_state_dict(load_file(str(folder / "model.safetensors")))
    except RuntimeError as exc:
        raise InvalidInput(
            f"the weights in {folder} do not fit a {config['model']} with {outputs} outputs:"
            f" {first_problem(exc)}"
        ) from None
    network.eval()
    return ModelBundle(folder, kind, network, labels, preprocessing, config)


def first_problem(exc: RuntimeError) -> str:
    """load_state_dict's message, cut to its first concrete complaint."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    detail = lines[1] if len(lines) > 1 else lines[0] if lines else str(exc)
    return detail[:300]
