"""The `keras` runtime: a model folder holding `model.keras` (`fermion.keras` writes one),
loaded with the Keras that saved it (Keras 3, or tf_keras for a multi-worker job's), with
NumPy preprocessing (`modelfile.arrays`, as the onnx runtime): images go in channels-last,
as `Dataset.to_tf()` gave them in training. No PyTorch is imported."""

from __future__ import annotations

import contextlib
import importlib
import os
from typing import Any

import numpy as np

from fermion import modelfile
from fermion.errors import InvalidInput
from fermion.modelfile.arrays import ArrayPreprocessor
from fermion.modelfile.schema import ImagePreprocessing
from fermion.serving.runtimes import ModelRuntime

PACKAGES = ("keras", "tf_keras")


class KerasRuntime(ModelRuntime):
    platform = "keras"

    def __init__(self, manifest: modelfile.Manifest) -> None:
        super().__init__(manifest, ArrayPreprocessor(manifest))
        self.network = load_keras(manifest)
        self.channels_last = isinstance(manifest.preprocessing, ImagePreprocessing)
        self.softmax = getattr(manifest.spec, "keras_outputs", "logits") == "logits"

    def run(self, items: list[Any]) -> Any:
        batch = self.pre.collate(items)
        if self.channels_last:
            batch = np.ascontiguousarray(batch.transpose(0, 2, 3, 1))
        out = np.asarray(self.network(batch, training=False), dtype=np.float32)
        if not self.model.regression and not self.softmax:
            return out  # the model's last layer was a softmax already
        return self._outputs(out)


def load_keras(manifest: modelfile.Manifest) -> Any:
    package = getattr(manifest.spec, "keras_package", "keras")
    if package not in PACKAGES:
        raise InvalidInput(f"the model folder names {package!r} as its Keras; expected keras")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's start-up chatter
    try:
        keras = importlib.import_module(package)
    except ImportError:
        raise InvalidInput(
            f"{manifest.folder.name} is a Keras model saved with {package}, which is not"
            ' installed where the replica runs: pip install "fermion[tensorflow]"'
        ) from None
    _limit_threads()
    try:
        return keras.models.load_model(str(manifest.weights), compile=False)
    except (OSError, ValueError, TypeError) as exc:
        raise InvalidInput(f"cannot load {manifest.weights.name} with {package}: {exc}") from None


def _limit_threads() -> None:
    """The replica's CPU share, as PyTorch would take it from OMP_NUM_THREADS."""
    threads = os.environ.get("OMP_NUM_THREADS", "")
    if not threads.isdigit():
        return
    import tensorflow as tf

    with contextlib.suppress(RuntimeError):  # TensorFlow was started already in this process
        tf.config.threading.set_intra_op_parallelism_threads(int(threads))
        tf.config.threading.set_inter_op_parallelism_threads(1)
