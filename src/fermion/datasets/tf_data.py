"""`fm.Dataset.to_tf()`: a split as a `tf.data.Dataset` of (x, y), for Keras.

x is what the PyTorch dataset gives, as NumPy, with images channels-last (H x W x C,
Keras's layout): float32 images (resized and normalised as for PyTorch), float32
feature vectors, float32 mono samples, or strings. y is the class index (int64) or, for
a regression, the float32 target. Records are read from the Arrow files in chunks, as
the training loop asks for them, so a dataset larger than memory streams."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import numpy as np

from fermion.dataset_types import DatasetType
from fermion.errors import InvalidInput

if TYPE_CHECKING:
    import tensorflow as tf

    from fermion.datasets.loading import Dataset

READ_CHUNK = 256
SHUFFLE_BUFFER = 10_000
UNSUPPORTED = (DatasetType.RECOMMENDATION, DatasetType.OBJECT_DETECTION)


def to_tf(
    dataset: Dataset, batch_size: int | None = None, shuffle: bool = False, seed: int = 0
) -> tf.data.Dataset:
    if dataset.type in UNSUPPORTED:
        raise InvalidInput(
            f"to_tf() gives (x, y) pairs of one shape; {dataset.info.ref} is"
            f" {dataset.type.value}: read it with fm.DataLoader"
        )
    if batch_size is not None and batch_size < 1:
        raise InvalidInput(f"batch_size must be at least 1, not {batch_size}")
    if len(dataset) == 0:
        raise InvalidInput(f"{dataset!r} has no records")
    try:
        import tensorflow as tf
    except ImportError:
        raise InvalidInput('to_tf() needs TensorFlow: pip install "fermion[tensorflow]"') from None

    channels_last = dataset.type is DatasetType.IMAGE_CLASSIFICATION

    def records() -> Iterator[tuple[Any, Any]]:
        for start in range(0, len(dataset), READ_CHUNK):
            indices = list(range(start, min(start + READ_CHUNK, len(dataset))))
            for x, y in dataset.__getitems__(indices):
                yield _array(x, channels_last), _array(y, False)

    x, y = next(records())
    signature = (_spec(tf, x), _spec(tf, y))
    data = tf.data.Dataset.from_generator(records, output_signature=signature)
    data = data.apply(tf.data.experimental.assert_cardinality(len(dataset)))
    options = tf.data.Options()
    # Under MultiWorkerMirroredStrategy every worker reads the records and keeps its share.
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    data = data.with_options(options)
    if shuffle:
        buffer = min(len(dataset), SHUFFLE_BUFFER)
        data = data.shuffle(buffer, seed=seed, reshuffle_each_iteration=True)
    if batch_size is not None:
        data = data.batch(batch_size)
    return data.prefetch(tf.data.AUTOTUNE)


def _array(value: Any, channels_last: bool) -> Any:
    if isinstance(value, str):
        return value
    array = value.numpy() if hasattr(value, "numpy") else np.asarray(value)
    if channels_last and array.ndim == 3:
        array = array.transpose(1, 2, 0)
    if array.dtype == np.float64:
        array = array.astype(np.float32)
    return array


def _spec(tf: Any, value: Any) -> Any:
    if isinstance(value, str):
        return tf.TensorSpec(shape=(), dtype=tf.string)
    return tf.TensorSpec(shape=value.shape, dtype=tf.as_dtype(value.dtype))
