"""`fermion model import`: a model trained elsewhere, written as a Fermion model folder
(so the registry, deployments, evaluation and export treat it like one trained here).

- image-classification: a torchvision (or small-cnn) state dict and a label map.
- text-classification: a Hugging Face model directory (config, weights, tokenizer);
  the labels are its config's id2label unless a label map is given.

The folder is checked by loading it and running an example through it, here, before
anything is uploaded."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from fermion.dataset_types import DatasetType
from fermion.errors import InvalidInput
from fermion.modelfile import architectures
from fermion.modelfile.catalog import IMAGE_MODELS
from fermion.modelfile.folder import first_problem, load, save
from fermion.modelfile.inputs import Preprocessor
from fermion.modelfile.schema import HFTokenizerPreprocessing, ImagePreprocessing, ModelSpec

IMAGENET_MEAN = [0.485, 0.456, 0.406]
IMAGENET_STD = [0.229, 0.224, 0.225]
WEIGHT_FILES = ("model.safetensors", "model.pt", "model.pth", "pytorch_model.bin", "weights.pt")
LABEL_FILES = ("labels.json", "labels.txt", "classes.txt")


def read_labels(path: Path) -> list[str]:
    """A label map: a JSON list, a JSON object {index: name}, or one name per line."""
    text = path.read_text()
    if path.suffix == ".json":
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InvalidInput(f"{path} is not valid JSON: {exc}") from None
        if isinstance(value, dict):
            try:
                value = [value[k] for k in sorted(value, key=int)]
            except ValueError:
                raise InvalidInput(f"{path}: an object label map has indices as keys") from None
        if not isinstance(value, list) or not value:
            raise InvalidInput(f"{path}: a label map is a list of class names")
        return [str(v) for v in value]
    labels = [line.strip() for line in text.splitlines() if line.strip()]
    if not labels:
        raise InvalidInput(f"{path} names no classes")
    return labels


def _find(folder: Path, names: tuple[str, ...], what: str, given: Path | None) -> Path:
    if given is not None:
        if not given.is_file():
            raise InvalidInput(f"{given} does not exist")
        return given
    for name in names:
        if (folder / name).is_file():
            return folder / name
    raise InvalidInput(
        f"{folder} has no {what} ({', '.join(names)}); name it with --labels"
        if what == "label map"
        else f"{folder} has no {what} ({', '.join(names)})"
    )


def _state_dict(path: Path) -> dict[str, torch.Tensor]:
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unreadable file gets the same answer
        raise InvalidInput(f"{path} is not a readable PyTorch state dict: {exc}") from None
    if isinstance(state, dict) and "state_dict" in state:
        state = state["state_dict"]  # a training checkpoint
    if not isinstance(state, dict):
        raise InvalidInput(f"{path} holds a {type(state).__name__}, not a state dict")
    return state


def image_model(
    source: Path,
    dest: Path,
    architecture: str,
    image_size: int,
    labels_file: Path | None = None,
    mean: list[float] | None = None,
    std: list[float] | None = None,
    origin: str | None = None,
) -> Path:
    if architecture not in IMAGE_MODELS:
        raise InvalidInput(
            f"--model {architecture!r} is not an image architecture; choose one"
            f" of {', '.join(IMAGE_MODELS)}"
        )
    labels = read_labels(_find(source, LABEL_FILES, "label map", labels_file))
    network = architectures.build(
        DatasetType.IMAGE_CLASSIFICATION,
        architecture,
        len(labels),
        {"image_side": image_size, "adapt_small_images": False},
    )
    weights = _find(source, WEIGHT_FILES, "state dict", None)
    try:
        network.load_state_dict(_state_dict(weights))
    except RuntimeError as exc:
        raise InvalidInput(
            f"{weights} does not fit {architecture} with {len(labels)} classes at"
            f" {image_size}px: {first_problem(exc)} (check --model and the label map)"
        ) from None
    spec = ModelSpec(
        dataset_type=DatasetType.IMAGE_CLASSIFICATION,
        model=architecture,
        adapt_small_images=False,
        imported_from=origin or str(source),
    )
    preprocessing = ImagePreprocessing(
        image_size=(image_size, image_size),
        mode="RGB",
        mean=mean or IMAGENET_MEAN,
        std=std or IMAGENET_STD,
    )
    save(dest, network, spec, labels, preprocessing)
    return check(dest)


def text_model(
    source: Path,
    dest: Path,
    labels_file: Path | None = None,
    max_len: int = 128,
    origin: str | None = None,
) -> Path:
    from transformers import AutoConfig, AutoTokenizer

    if not (source / "config.json").is_file():
        raise InvalidInput(f"{source} is not a Hugging Face model directory: it has no config.json")
    config = AutoConfig.from_pretrained(str(source), local_files_only=True)
    if labels_file is not None:
        labels = read_labels(labels_file)
    else:
        labels = [config.id2label[i] for i in sorted(config.id2label)]
    network = architectures.HFClassifier(str(source), len(labels))
    network.hf.config.id2label = dict(enumerate(labels))
    network.hf.config.label2id = {label: i for i, label in enumerate(labels)}
    tokenizer = AutoTokenizer.from_pretrained(str(source), local_files_only=True)
    spec = ModelSpec(
        dataset_type=DatasetType.TEXT_CLASSIFICATION,
        model="bert",
        architecture=type(network.hf).__name__,
        imported_from=origin or str(source),
    )
    save(
        dest,
        network,
        spec,
        labels,
        HFTokenizerPreprocessing(max_len=max_len),
        hf_processor=tokenizer,
    )
    return check(dest)


def check(folder: Path) -> Path:
    """Load the folder as a replica would and predict on an example input."""
    model = load(folder)
    pre = Preprocessor(model)
    with torch.inference_mode():
        model.network(pre.collate([pre.prepare(pre.example, "example")]))
    return folder
