"""`fermion model export`: a model folder as TorchScript or ONNX, for runtimes other
than Fermion's. The export goes into a folder with the labels and preprocessing it
needs, and is checked: its outputs are compared with PyTorch's on example inputs."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from fermion.errors import InvalidInput
from fermion.modelfile.folder import SIDE_FILES, TOKENIZER_DIR, LoadedModel, load
from fermion.modelfile.inputs import Preprocessor
from fermion.modelfile.schema import TEXT_KINDS

FORMATS = ("torchscript", "onnx")


@dataclass
class ExportResult:
    folder: Path
    file: Path
    inputs: list[str]
    max_difference: float  # largest |export - pytorch| over the check inputs


class _TokensToLogits(nn.Module):
    """A Hugging Face classifier with plain tensor inputs, which exporters need."""

    def __init__(self, network: nn.Module) -> None:
        super().__init__()
        self.network = network

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.network({"input_ids": input_ids, "attention_mask": attention_mask})


def _example(pre: Preprocessor, n: int) -> Any:
    examples = [pre.prepare(pre.example, "example")] * n
    if pre.model.preprocessing.kind in TEXT_KINDS:
        longer = "an example long enough to vary the length of the batch"
        examples[-1] = pre.prepare(longer, "example")
    return pre.collate(examples)


def _as_tuple(batch: Any) -> tuple[torch.Tensor, ...]:
    if isinstance(batch, dict):
        return (batch["input_ids"], batch["attention_mask"])
    return (batch,)


def export(model_folder: Path, fmt: str, dest: Path) -> ExportResult:
    if fmt not in FORMATS:
        raise InvalidInput(f"unknown export format {fmt!r}; choose {' or '.join(FORMATS)}")
    model = load(model_folder)
    if model.preprocessing.kind == "hf-audio":
        raise InvalidInput(
            "export covers Fermion's own networks and Hugging Face text models; a Hugging"
            " Face audio model is served by PyTorch replicas (deploy --runtime torch)"
        )
    if model.ranking:
        raise InvalidInput(
            "a recommender is not exported: it carries its users' histories, which it"
            " excludes by indexing; it is served by PyTorch replicas (deploy --runtime torch)"
        )
    if model.detection:
        raise InvalidInput(
            "a detector is not exported: its post-processing (per-image box decoding and"
            " non-maximum suppression) stays in PyTorch; it is served by PyTorch replicas"
            " (deploy --runtime torch)"
        )
    pre = Preprocessor(model)
    hf = model.preprocessing.kind == "hf-tokenizer"
    network = _TokensToLogits(model.network).eval() if hf else model.network
    names = ["input_ids", "attention_mask"] if hf else ["input"]
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=dest.parent, prefix=f".{dest.name}-"))
    try:
        example = _as_tuple(_example(pre, 2))
        if fmt == "torchscript":
            file = tmp / "model.pt"
            with torch.inference_mode(), warnings.catch_warnings():
                warnings.simplefilter("ignore", FutureWarning)  # TorchScript's deprecation
                traced = torch.jit.trace(network, example, strict=False)
            traced.save(str(file))
        else:
            file = tmp / "model.onnx"
            _export_onnx(network, example, names, model, file)
        _copy_side_files(model, tmp)
        difference = _check(file, fmt, network, _as_tuple(_example(pre, 3)), names)
        if dest.exists():
            shutil.rmtree(dest)
        os.replace(tmp, dest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return ExportResult(dest, dest / file.name, names, difference)


def _export_onnx(
    network: nn.Module, example: tuple, names: list[str], model: LoadedModel, file: Path
) -> None:
    try:
        import onnxscript  # noqa: F401 - the exporter needs it
    except ImportError:
        raise InvalidInput(
            "ONNX export needs the onnx and onnxscript packages: pip install 'fermion[export]'"
        ) from None
    batch = torch.export.Dim("batch")
    if model.preprocessing.kind in TEXT_KINDS:
        length = torch.export.Dim("length")
        shapes = tuple({0: batch, 1: length} for _ in names)
    else:
        shapes = ({0: batch},)
    with torch.inference_mode():
        program = torch.onnx.export(
            network,
            example,
            input_names=names,
            output_names=["output"],
            dynamic_shapes=shapes,
            dynamo=True,
            verbose=False,
        )
    program.save(str(file))


def _copy_side_files(model: LoadedModel, dest: Path) -> None:
    for name in SIDE_FILES:
        if (model.folder / name).exists():
            shutil.copyfile(model.folder / name, dest / name)
    if (model.folder / TOKENIZER_DIR).is_dir():
        shutil.copytree(model.folder / TOKENIZER_DIR, dest / TOKENIZER_DIR)


def _check(file: Path, fmt: str, network: nn.Module, inputs: tuple, names: list[str]) -> float:
    """Run the export on inputs it has not seen (another batch size and length)."""
    with torch.inference_mode():
        expected = network(*inputs).float()
        if fmt == "torchscript":
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", FutureWarning)
                got = torch.jit.load(str(file))(*inputs).float()
        else:
            try:
                import onnxruntime
            except ImportError:
                return float("nan")  # exported, but nothing here can run it to check
            session = onnxruntime.InferenceSession(str(file), providers=["CPUExecutionProvider"])
            feed = {n: t.numpy() for n, t in zip(names, inputs, strict=True)}
            got = torch.from_numpy(session.run(None, feed)[0]).float()
    return float((got - expected).abs().max())


def describe(result: ExportResult) -> dict[str, Any]:
    labels = json.loads((result.folder / "labels.json").read_text())
    return {
        "folder": str(result.folder),
        "file": str(result.file),
        "inputs": result.inputs,
        "labels": labels,
        "max_difference": result.max_difference,
    }


def main(argv: list[str]) -> int:
    """`python -m fermion.modelfile.export FOLDER FORMAT DEST`: how a light replica gets
    its ONNX graph without importing torch itself."""
    folder, fmt, dest = Path(argv[0]), argv[1], Path(argv[2])
    result = export(folder, fmt, dest)
    print(f"exported {result.file} (largest difference from PyTorch {result.max_difference:.2g})")
    return 0


if __name__ == "__main__":
    import sys

    sys.exit(main(sys.argv[1:]))
