"""What a replica runs its model with.

- `torch`: the model folder's network in PyTorch; every kind of model.
- `keras`: a Keras model folder's `model.keras`, in Keras (keras_runtime.py); chosen
  for every Keras model.
- `onnx`: the network as an ONNX graph in ONNX Runtime, with NumPy preprocessing: no
  torch in the replica's process, which then starts in about a second and idles in a
  fraction of the memory. Image, sound, tabular and text models. The graph is exported
  once per model and machine, by a child process (with PyTorch, checked against it), and
  cached.

Both answer `run(items)` with NumPy: class probabilities [N, classes], or a list of
values for a regression."""

from __future__ import annotations

import fcntl
import hashlib
import importlib.util
import os
import subprocess
import sys
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, get_args

import numpy as np

from fermion import modelfile
from fermion.errors import InvalidInput
from fermion.modelfile.decoding import in_pixels_of, softmax
from fermion.modelfile.folder import CODE_DIR, PREPROCESSING, SPEC, WEIGHTS
from fermion.payloads import Runtime
from fermion.settings import load_settings

RUNTIMES = get_args(Runtime)  # ("torch", "onnx", "keras")


class ModelRuntime(ABC):
    platform = ""

    def __init__(self, model: modelfile.Manifest, pre: Any) -> None:
        self.model = model
        self.pre = pre

    @property
    def input_shape(self) -> list[int]:
        return self.pre.input_shape

    @property
    def example(self) -> Any:
        return self.pre.example

    def prepare(self, value: Any, where: str) -> Any:
        return self.pre.prepare(value, where)

    def tensor(self, value: np.ndarray, where: str) -> Any:
        """One ready-made input (V2 tensor data), checked against the model's shape."""
        return self.pre.tensor(value, where)

    @abstractmethod
    def run(self, items: list[Any]) -> Any:
        """Outputs for a batch of prepared inputs: probabilities, or regression values."""

    def _outputs(self, out: np.ndarray) -> Any:
        if self.model.regression:
            return out.reshape(-1).tolist()
        if self.model.ranking:
            return list(out.astype(np.float32))  # a score per item, seen ones at -inf
        return softmax(out.astype(np.float32))


class TorchRuntime(ModelRuntime):
    platform = "pytorch"

    def __init__(self, model: modelfile.LoadedModel) -> None:
        from fermion.modelfile.inputs import Preprocessor

        super().__init__(model, Preprocessor(model))

    def tensor(self, value: np.ndarray, where: str) -> Any:
        import torch

        return self.pre.tensor(torch.from_numpy(np.array(value, dtype=np.float32)), where)

    def run(self, items: list[Any]) -> Any:
        import torch

        batch = self.pre.collate(items)
        with torch.inference_mode():
            out = self.model.network(batch).float().numpy()
        if self.model.detection:  # boxes in each input image's own pixels
            return [
                in_pixels_of(rows, x.shape[-2:], self.pre.size)
                for rows, x in zip(out, items, strict=True)
            ]
        return self._outputs(out)


class OnnxRuntime(ModelRuntime):
    platform = "onnxruntime_onnx"

    def __init__(self, model: modelfile.Manifest, pre: Any, graph: Path) -> None:
        import onnxruntime

        super().__init__(model, pre)
        options = onnxruntime.SessionOptions()
        threads = os.environ.get("OMP_NUM_THREADS", "")
        if threads.isdigit():  # the replica's CPU share, as PyTorch would take it
            options.intra_op_num_threads = int(threads)
        self.session = onnxruntime.InferenceSession(
            str(graph), options, providers=["CPUExecutionProvider"]
        )
        self.input_name = self.session.get_inputs()[0].name

    def run(self, items: list[Any]) -> Any:
        batch = self.pre.collate(items)  # a dict by input name for a tokenizer's outputs
        feeds = batch if isinstance(batch, dict) else {self.input_name: batch}
        return self._outputs(self.session.run(None, feeds)[0])


def load_runtime(folder: Path, runtime: str) -> ModelRuntime:
    if runtime not in RUNTIMES:
        raise InvalidInput(f"unknown runtime {runtime!r}; choose {', '.join(RUNTIMES)}")
    manifest = modelfile.read_manifest(folder)
    runtime = runtime_for(manifest.spec.keras, runtime, folder.name)
    if runtime == "keras":
        from fermion.serving.keras_runtime import KerasRuntime

        return KerasRuntime(manifest)
    if runtime == "torch":
        return TorchRuntime(modelfile.load(folder))
    if importlib.util.find_spec("onnxruntime") is None:
        raise InvalidInput(
            "the onnx runtime needs ONNX Runtime where the replica runs:"
            " pip install 'fermion[onnx]' (or deploy with --runtime torch)"
        )
    from fermion.modelfile.arrays import ArrayPreprocessor

    pre = ArrayPreprocessor(manifest)  # refuses a kind the light runtime does not serve
    return OnnxRuntime(manifest, pre, onnx_graph(manifest))


def runtime_for(keras: bool, asked: str, model: str) -> str:
    """The runtime a model is served with: a Keras model's own, else the one asked for
    (torch unless onnx)."""
    if keras and asked == "onnx":
        raise InvalidInput(
            f"{model} is a Keras model: it is served with Keras (leave --runtime out)"
        )
    if not keras and asked == "keras":
        raise InvalidInput(f"--runtime keras serves Keras models; {model} is a PyTorch model")
    return "keras" if keras else asked


def onnx_graph(model: modelfile.Manifest) -> Path:
    """The model's ONNX graph, from `$FERMION_CACHE_DIR/onnx/<content digest>/`; a child
    process exports it there first when there is none. The model folder itself is never
    written (it may be the registry's own copy). Replicas starting together on one
    machine take turns: the first exports, the others then find its graph."""
    folder = model.folder
    cache = load_settings().resolved_cache_dir / "onnx" / _content_digest(model)
    graph = cache / "model.onnx"
    cache.parent.mkdir(parents=True, exist_ok=True)
    with open(cache.parent / f".{cache.name}.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if graph.exists():
            return graph
        exported = subprocess.run(
            [sys.executable, "-m", "fermion.modelfile.export", str(folder), "onnx", str(cache)],
            capture_output=True,
            text=True,
        )
    if exported.returncode != 0 or not graph.exists():
        reason = (exported.stderr.strip().splitlines() or ["no output"])[-1]
        raise InvalidInput(f"could not export {folder.name} to ONNX: {reason}")
    return graph


def _content_digest(model: modelfile.Manifest) -> str:
    """What the graph depends on: the weights, the network's description, its inputs,
    and a user's own network code."""
    digest = hashlib.sha256()
    files = [model.folder / name for name in (SPEC, PREPROCESSING, WEIGHTS)]
    code = model.folder / CODE_DIR
    files += sorted(p for p in code.rglob("*") if p.is_file()) if code.is_dir() else []
    for path in files:
        digest.update(str(path.relative_to(model.folder)).encode())
        with open(path, "rb") as f:
            while chunk := f.read(1 << 20):
                digest.update(chunk)
    return digest.hexdigest()[:32]
