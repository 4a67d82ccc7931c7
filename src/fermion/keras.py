"""Keras in a Fermion job (`pip install "fermion[tensorflow]"`).

    import fermion as fm
    digits = fm.Dataset.from_local("digits")
    model.fit(digits.to_tf(batch_size=32, shuffle=True), epochs=10,
              callbacks=[fm.keras.MetricsCallback()])
    fm.keras.register(model, "digits-keras", dataset=digits)

- `MetricsCallback` sends what `fit` measures to the job's live charts and TensorBoard,
  under the names Fermion's own trainer uses (`train/loss` per step, `val/accuracy` per
  epoch, ...).
- `save_model` writes a model folder (`fermion.modelfile`) holding `model.keras`, the
  dataset's class names and preprocessing, and the model's metrics on the test split;
  `register` puts it in the registry. Replicas serve it with Keras, over REST and V2.

Both work with Keras 3 and with tf_keras (Keras 2). Multi-worker training needs tf_keras:
Keras 3's `fit` fails under MultiWorkerMirroredStrategy (keras-team/keras#20585). Under
`fermion job run --nproc N` every worker has TF_CONFIG and calls these alike; only the
chief (rank 0) reports, keeps the folder and registers.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from fermion import runtime
from fermion.dataset_types import DatasetType
from fermion.errors import InvalidInput
from fermion.modelfile.folder import KERAS_MODEL, write_folder
from fermion.modelfile.schema import ImagePreprocessing, ModelSpec, TabularPreprocessing

if TYPE_CHECKING:
    from fermion.datasets.loading import Dataset
    from fermion.payloads import ModelVersionPublic

KINDS = (
    DatasetType.IMAGE_CLASSIFICATION,
    DatasetType.TABULAR_CLASSIFICATION,
    DatasetType.TABULAR_REGRESSION,
)
EVALUATION_BATCH = 256


class MetricsCallback:
    """A Keras callback (Keras 3 and tf_keras alike call it) that logs `fit`'s metrics
    with `fm.log`: the epoch's running loss every `every_n_batches` steps as
    `train/loss`, and at each epoch's end `train/epoch_loss`, `train/<metric>` and
    `val/<metric>` (from the validation data), at the step reached."""

    async_safe = True  # fm.log only queues: Keras 3 may call it off the training thread
    _supports_tf_logs = False  # tf_keras: hand over plain numbers

    def __init__(self, every_n_batches: int = 10) -> None:
        self.every_n_batches = max(1, every_n_batches)
        self.model: Any = None
        self.params: dict[str, Any] = {}
        self._step = 0

    def set_model(self, model: Any) -> None:
        self.model = model
        strategy = type(getattr(model, "distribute_strategy", None)).__name__
        if strategy.startswith("CollectiveAllReduce") and (
            getattr(model, "_distribute_reduction_method", "set") is None
        ):
            # tf_keras sums per-step values over the workers when left to choose ("auto"),
            # so the loss a step reports is N times too large; they are in sync already.
            model.distribute_reduction_method = "first"
            model.train_function = None  # built again, with that reduction

    def set_params(self, params: dict[str, Any]) -> None:
        self.params = params or {}

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        epochs, steps = self.params.get("epochs"), self.params.get("steps")
        progress = {"progress/epochs": epochs} if epochs else {}
        if epochs and steps:
            progress["progress/total_steps"] = epochs * steps
        if progress:
            runtime.log(progress, step=0)

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        self._step += 1
        loss = _numbers(logs or {}).get("loss")
        if loss is not None and self._step % self.every_n_batches == 0:
            runtime.log({"train/loss": loss}, step=self._step)

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        metrics = {}
        for name, value in _numbers(logs or {}).items():
            if name.startswith("val_"):
                metrics[f"val/{name[4:]}"] = value
            else:
                metrics["train/epoch_loss" if name == "loss" else f"train/{name}"] = value
        runtime.log(metrics, step=self._step)
        runtime.flush()

    def __getattr__(self, name: str) -> Any:
        """Every other hook Keras calls (on_test_begin, ...) does nothing here."""
        if name.startswith("on_"):
            return _ignore
        if name.startswith("_implements_") and name.endswith("_batch_hooks"):
            return lambda: name == "_implements_train_batch_hooks"
        raise AttributeError(name)


def _ignore(*_args: Any, **_kwargs: Any) -> None:
    return None


def _numbers(logs: dict[str, Any]) -> dict[str, float]:
    found = {}
    for name, value in logs.items():
        try:
            found[name] = float(np.asarray(value))
        except (TypeError, ValueError):
            continue  # a non-scalar a custom train_step returned
    return found


def save_model(
    model: Any, dataset: Dataset, path: str = "model", metrics: dict[str, Any] | None = None
) -> Path:
    """Write `model` as a model folder at `path` under the job's artifacts: its class
    names and preprocessing are `dataset`'s (as `dataset.to_tf()` fed it), and its
    metrics those on the dataset version's test split (or `metrics`, if given). Every
    worker calls it; the chief's folder is kept."""
    if dataset.type not in KINDS:
        raise InvalidInput(
            f"a Keras model is saved for {', '.join(k.value for k in KINDS)} data;"
            f" {dataset.info.ref} is {dataset.type.value}"
        )
    dest = (runtime.artifacts_dir() / path).absolute()
    if not runtime.is_rank_zero():  # the save may need every worker; the copy is dropped
        with tempfile.TemporaryDirectory() as scratch:
            model.save(str(Path(scratch) / KERAS_MODEL))
        return dest
    package = type(model).__module__.split(".")[0]  # keras or tf_keras
    measured = metrics if metrics is not None else _test_metrics(model, dataset)
    headline = {k: v for k, v in measured.get("test", {}).items() if isinstance(v, float)}
    if headline:
        runtime.log({f"test/{k}": v for k, v in headline.items()})
    spec = ModelSpec(
        dataset_type=dataset.type,
        model="keras",
        framework="keras",
        architecture=f"{type(model).__name__} {getattr(model, 'name', '')}".strip(),
        dataset=dataset.info.ref,
        keras_package=package,
        keras_version=getattr(sys.modules.get(package), "__version__", ""),
        keras_outputs=_output_kind(model, dataset),
    )
    labels = dataset.classes or [dataset.label_column]
    return write_folder(
        dest,
        lambda tmp: model.save(str(tmp / KERAS_MODEL)),
        spec,
        labels,
        preprocessing_of(dataset),
        measured,
    )


def register(
    model: Any, name: str, dataset: Dataset, path: str = "model"
) -> ModelVersionPublic | None:
    """`save_model`, then put the folder in the registry as model `name`, linked to this
    job and to `dataset`'s version. Outside a job the folder is uploaded as an import.
    The chief returns the new version; other workers None."""
    folder = save_model(model, dataset, path)
    if not runtime.is_rank_zero():
        return None
    from fermion.client import Client

    with Client() as client:
        job = runtime.job_id()
        if job is None:
            return client.import_model(name, folder)
        return client.register_job_model(job, name, path)


def preprocessing_of(dataset: Dataset) -> ImagePreprocessing | TabularPreprocessing:
    """What a replica does to a raw input so that the model sees what `to_tf` gave it."""
    if dataset.type is DatasetType.IMAGE_CLASSIFICATION:
        image = dataset._image
        channels = 3 if image.mode == "RGB" else 1
        normalised = image.mean is not None
        return ImagePreprocessing(
            image_size=tuple(image.size),
            mode=image.mode,
            mean=image.mean.flatten().tolist() if normalised else [0.0] * channels,
            std=image.std.flatten().tolist() if normalised else [1.0] * channels,
        )
    columns = list(dataset.info.spec["feature_columns"])
    features = np.array([dataset.table[c] for c in columns], dtype=np.float64).T
    return TabularPreprocessing(
        feature_columns=columns,
        mean=features.mean(0).tolist(),
        std=features.std(0).tolist(),
    )


def _output_kind(model: Any, dataset: Dataset) -> str:
    """ "probabilities" when the model ends in a softmax (its rows sum to one), else
    "logits" (a replica then applies the softmax); "values" for a regression."""
    if dataset.type is DatasetType.TABULAR_REGRESSION:
        return "values"
    x, _ = next(iter(dataset.to_tf(batch_size=32)))
    out = np.asarray(model(x, training=False), dtype=np.float64)
    sums_to_one = np.allclose(out.sum(axis=1), 1.0, atol=1e-3)
    return "probabilities" if (out >= 0).all() and sums_to_one else "logits"


def _test_metrics(model: Any, dataset: Dataset) -> dict[str, Any]:
    """The model on the version's test split, measured as Fermion's trainer measures."""
    import torch

    from fermion.datasets.loading import Dataset as FermionDataset
    from fermion.training.metrics import classification_metrics, regression_metrics

    if "test" not in dataset.info.split_counts:
        return {}
    image = getattr(dataset, "_image", None)
    test = FermionDataset.from_local(
        dataset.info.ref,
        split="test",
        image_size=tuple(image.size) if image else None,
        image_mode=image.mode if image else "RGB",
        normalize=image.mean is not None if image else True,
    )
    outputs, labels = [], []
    for x, y in test.to_tf(batch_size=EVALUATION_BATCH):  # one pass over the split
        outputs.append(np.asarray(model(x, training=False), dtype=np.float32))
        labels.append(np.asarray(y))
    out = torch.from_numpy(np.concatenate(outputs))
    targets = torch.from_numpy(np.concatenate(labels))
    if dataset.type is DatasetType.TABULAR_REGRESSION:
        return {"test": {**regression_metrics(out.reshape(-1), targets), "records": len(test)}}
    result = classification_metrics(out, targets, dataset.classes, with_details=True)
    return {"test": {**result, "records": len(test)}}
