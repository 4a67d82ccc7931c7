"""A model folder on disk: written whole by `save` (the trainer, `model import`), read by
`read_manifest` (the registry: no torch needed) and `load` (replicas, evaluation, export).

    model.safetensors    the weights (a PyTorch network)
    model.keras          or the whole model, for a Keras one (`fermion.keras`)
    config.json          the ModelSpec: what built the network (+ how it was trained)
    labels.json          class names, in output order (one name for a regression; the
                         item catalogue for a recommender)
    preprocessing.json   how raw inputs become what the network takes
    metrics.json         what the trainer measured
    tokenizer/, hf_config/   a Hugging Face model's tokenizer and configuration
    feature_extractor/       a Hugging Face audio model's feature extractor
    code/                the user's own model file (`--model-file`)
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fermion.dataset_types import DatasetType
from fermion.errors import InvalidInput
from fermion.modelfile.catalog import HF_MODELS
from fermion.modelfile.schema import (
    FORMAT_VERSION,
    ModelSpec,
    Preprocessing,
    parse_preprocessing,
    parse_spec,
)

if TYPE_CHECKING:
    from torch import nn

WEIGHTS = "model.safetensors"
KERAS_MODEL = "model.keras"
SPEC = "config.json"
LABELS = "labels.json"
PREPROCESSING = "preprocessing.json"
METRICS = "metrics.json"
DESCRIPTION = (SPEC, LABELS, PREPROCESSING)
SIDE_FILES = (SPEC, LABELS, PREPROCESSING, METRICS)  # what an export carries along
TOKENIZER_DIR, HF_CONFIG_DIR, CODE_DIR = "tokenizer", "hf_config", "code"


@dataclass
class Manifest:
    """A folder's description, read and checked without building its network."""

    folder: Path
    spec: ModelSpec
    labels: list[str]
    preprocessing: Preprocessing
    metrics: dict[str, Any] = field(default_factory=dict)

    @property
    def kind(self) -> DatasetType:
        return self.spec.dataset_type

    @property
    def regression(self) -> bool:
        return self.spec.regression

    @property
    def ranking(self) -> bool:
        return self.spec.ranking

    @property
    def detection(self) -> bool:
        return self.spec.detection

    @property
    def outputs(self) -> int:
        return 1 if self.regression else len(self.labels)

    @property
    def weights(self) -> Path:
        """The file with what was learned: the weights, or a Keras model whole."""
        return self.folder / (KERAS_MODEL if self.spec.keras else WEIGHTS)


@dataclass
class LoadedModel(Manifest):
    """A folder ready for inference: its network in eval mode."""

    network: nn.Module = None  # type: ignore[assignment]


def _read_json(folder: Path, name: str) -> Any:
    try:
        return json.loads((folder / name).read_text())
    except FileNotFoundError:
        raise InvalidInput(f"not a model folder: it has no {name}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidInput(f"the model folder's {name} is not readable JSON: {exc}") from None


def read_manifest(folder: Path) -> Manifest:
    folder = Path(folder)
    missing = [name for name in DESCRIPTION if not (folder / name).is_file()]
    if missing:
        raise InvalidInput(f"not a model folder: it has no {', '.join(missing)}")
    spec = parse_spec(_read_json(folder, SPEC), f"the model folder's {SPEC}")
    weights = KERAS_MODEL if spec.keras else WEIGHTS
    if not (folder / weights).is_file():
        raise InvalidInput(f"not a model folder: it has no {weights}")
    labels = _read_json(folder, LABELS)
    if not isinstance(labels, list) or not (labels or spec.regression):
        raise InvalidInput(f"the model folder's {LABELS} is not a list of class names")
    preprocessing = parse_preprocessing(
        _read_json(folder, PREPROCESSING), f"the model folder's {PREPROCESSING}"
    )
    metrics = _read_json(folder, METRICS) if (folder / METRICS).is_file() else {}
    return Manifest(folder, spec, [str(x) for x in labels], preprocessing, metrics or {})


def build_network(manifest: Manifest) -> nn.Module:
    """The folder's network, freshly initialised (its weights come after)."""
    from fermion.modelfile import architectures

    spec = manifest.spec
    if spec.model in HF_MODELS and not spec.model_file:
        return architectures.HFClassifier.from_config_dir(
            manifest.folder / HF_CONFIG_DIR, HF_MODELS[spec.model]
        )
    inputs = {
        **manifest.preprocessing.shape_inputs(),
        "adapt_small_images": spec.adapt_small_images,
    }
    return architectures.build(
        spec.dataset_type,
        spec.model,
        manifest.outputs,
        inputs,
        model_file=spec.model_file,
        code_dir=manifest.folder / CODE_DIR,
    )


def load(folder: Path) -> LoadedModel:
    from safetensors.torch import load_file

    manifest = read_manifest(folder)
    if manifest.spec.keras:
        raise InvalidInput(
            f"{manifest.folder.name} is a Keras model: it is served and evaluated with"
            " Keras (`fermion.serving.keras_runtime`), not loaded into PyTorch"
        )
    network = build_network(manifest)
    try:
        network.load_state_dict(load_file(str(manifest.folder / WEIGHTS)))
    except RuntimeError as exc:
        raise InvalidInput(
            f"the model folder's weights do not fit a {manifest.spec.model} with"
            f" {manifest.outputs} outputs: {first_problem(exc)}"
        ) from None
    network.eval()
    return LoadedModel(**vars(manifest), network=network)


def first_problem(exc: RuntimeError) -> str:
    """load_state_dict's message, cut to its first concrete complaint."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    detail = lines[1] if len(lines) > 1 else lines[0] if lines else str(exc)
    return detail[:300]


def save_weights(network: nn.Module, path: Path) -> None:
    """The network's state dict as safetensors, written beside and renamed into place."""
    from safetensors.torch import save_file

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    state = {k: v.detach().cpu().contiguous() for k, v in network.state_dict().items()}
    save_file(state, str(tmp))
    os.replace(tmp, path)


def save(
    dest: Path,
    network: nn.Module,
    spec: ModelSpec,
    labels: list[str],
    preprocessing: Preprocessing,
    metrics: dict[str, Any] | None = None,
    *,
    hf_processor: Any = None,
    code: dict[str, Path] | None = None,
) -> Path:
    """Write a whole model folder at `dest` (see `write_folder`). `hf_processor` is a
    Hugging Face tokenizer or feature extractor, saved where the preprocessing says;
    `code` maps paths under code/ to the user's files."""
    from fermion.modelfile.architectures import HFClassifier

    def write(tmp: Path) -> None:
        save_weights(network, tmp / WEIGHTS)
        for relative, source in (code or {}).items():
            (tmp / CODE_DIR / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, tmp / CODE_DIR / relative)
        if hf_processor is not None:
            hf_processor.save_pretrained(str(tmp / getattr(preprocessing, "folder", TOKENIZER_DIR)))
        if isinstance(network, HFClassifier):
            network.hf.config.save_pretrained(str(tmp / HF_CONFIG_DIR))

    spec = spec.model_copy(update={"architecture": spec.architecture or type(network).__name__})
    return write_folder(dest, write, spec, labels, preprocessing, metrics)


def write_folder(
    dest: Path,
    write: Callable[[Path], None],
    spec: ModelSpec,
    labels: list[str],
    preprocessing: Preprocessing,
    metrics: dict[str, Any] | None = None,
) -> Path:
    """A whole model folder at `dest`: `write(folder)` puts the model's own files in, and
    the description goes beside them. Built next to `dest` and renamed into place, so a
    reader never sees half of one."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=dest.parent, prefix=f".{dest.name}-"))
    try:
        write(tmp)
        files = {
            SPEC: spec.model_copy(update={"format": FORMAT_VERSION}).model_dump(mode="json"),
            LABELS: list(labels),
            PREPROCESSING: preprocessing.model_dump(mode="json"),
            METRICS: metrics or {},
        }
        for name, content in files.items():
            (tmp / name).write_text(json.dumps(content, indent=2, default=str))
        read_manifest(tmp)  # what is written must read back
        _swap_in(tmp, dest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return dest


def _swap_in(tmp: Path, dest: Path) -> None:
    old = dest.with_name(f".{dest.name}.old")
    if dest.exists():
        shutil.rmtree(old, ignore_errors=True)
        os.replace(dest, old)
    os.replace(tmp, dest)
    shutil.rmtree(old, ignore_errors=True)
