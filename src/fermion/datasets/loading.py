"""`fm.Dataset` and `fm.DataLoader`: a registered dataset version as a PyTorch dataset.

The version's Arrow files are memory-mapped, not read into RAM. When the artifact store
is a folder this process can see, they are opened in place; otherwise they are
downloaded once through the API into `$FERMION_HOME/cache/datasets/<digest>` (content
addressed, so a cached copy is never stale). A version sealed at rest (an encrypted
workspace's) is downloaded, opened by the server, into memory of this process's own
(`Client.private_copy`), never into the cache.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

if "tensorflow" in sys.modules:
    # A Keras job: Triton's compiler library, loaded after TensorFlow's, crashes the
    # process (torchvision's ops import it through torch.compile). It only compiles for
    # GPUs, and torch treats it as absent when it cannot be imported.
    sys.modules.setdefault("triton", None)

import torch
import torch.distributed as dist
from torch.utils.data import DataLoader as TorchDataLoader
from torch.utils.data import Dataset as TorchDataset
from torch.utils.data import DistributedSampler, RandomSampler

from fermion import audio
from fermion.datasets.image_loading import ImageDecoder, Transform
from fermion.errors import InvalidInput
from fermion.payloads import DatasetType, DatasetVersionPublic


class Dataset(TorchDataset):
    """One split of a registered dataset version, as `(x, y)` pairs.

    - image-classification: x is a float tensor C x H x W (RGB by default), resized to
      `image_size` (default: the dataset's most common size) and normalised with the
      dataset's channel mean/std; or whatever `transform(PIL image)` returns.
    - audio-classification: x is a float32 tensor of mono samples at `sample_rate`
      (default 16 kHz), padded or cut to `clip_seconds` (default: long enough for 95% of
      the dataset's recordings); or whatever `transform(samples)` returns.
    - text-classification: x is the string, or `tokenizer(text)` when one is given.
    - tabular: x is a float32 tensor of the feature columns.
    - recommendation: x is the user id and y the item id (strings) of one interaction.
    - object-detection: x is a float tensor 3 x H x W in [0, 1] (fitted into `image_size`
      keeping its shape, `fermion.boxes`; default the dataset's most common size), y is
      {"boxes": [n, 4] float32 corners x0, y0, x1, y1 in x's pixels, "labels": [n] int64
      class indices}; `transform(image, target)`, a torchvision transforms v2 one,
      augments both before the fit.
      `fermion.datasets.box_loading.collate_boxed` batches them.
    Otherwise y is the class index (`dataset.classes[y]` is its name), or a float32 for regression.
    """

    def __init__(
        self,
        table: Any,
        info: DatasetVersionPublic,
        split: str,
        transform: Transform | None = None,
        image_size: int | tuple[int, int] | None = None,
        image_mode: str = "RGB",
        normalize: bool = True,
        tokenizer: Callable[[str], Any] | None = None,
        sample_rate: int | None = None,
        clip_seconds: float | None = None,
    ) -> None:
        self.table = table
        self.info = info
        self.split = split
        self.transform = transform
        self.tokenizer = tokenizer
        self.type = DatasetType(info.type)
        self.classes: list[str] = list(info.class_names)
        self.class_to_idx = {name: i for i, name in enumerate(self.classes)}
        self.label_column = info.spec["label_column"]
        self._pixels: Any = None  # the stored pixels, when batches can be made from them
        if self.type is DatasetType.IMAGE_CLASSIFICATION:
            import datasets as hf

            # Hand us the stored bytes; we decode them (faster than PIL objects).
            self.table = table.cast_column("image", hf.Image(decode=False))
            self._image = ImageDecoder(info.spec, image_size, image_mode, normalize)
            if self._image.batched and transform is None:
                self._pixels = table.select_columns(["pixels", self.label_column])
                self._pixels = self._pixels.with_format("arrow")
        if self.type is DatasetType.OBJECT_DETECTION:
            import datasets as hf

            from fermion.datasets.box_loading import BoxedImage

            self.table = table.cast_column("image", hf.Image(decode=False))
            size = image_size or info.spec["image_size"]
            size = (size, size) if isinstance(size, int) else tuple(size)
            self._boxed = BoxedImage(size, self.class_to_idx, transform)
        if self.type is DatasetType.AUDIO_CLASSIFICATION:
            rate = sample_rate or audio.Features.sample_rate
            seconds = clip_seconds or audio.clip_seconds_for(info.spec["seconds"])
            self.features = audio.Features(sample_rate=rate, clip_samples=round(rate * seconds))

    @classmethod
    def from_local(
        cls,
        name: str,
        split: str = "train",
        version: int | str | None = None,
        transform: Transform | None = None,
        *,
        image_size: int | tuple[int, int] | None = None,
        image_mode: str = "RGB",
        normalize: bool = True,
        tokenizer: Callable[[str], Any] | None = None,
        sample_rate: int | None = None,
        clip_seconds: float | None = None,
        client: Any = None,
    ) -> Dataset:
        """Open split `split` of the registered dataset `name` (latest version by default;
        `version=3`, `"v3"`, or `name="digits:v3"` pick one)."""
        from fermion.client import Client

        client = client or Client()
        ref = name if version is None else f"{name.split(':')[0]}:{str(version).lstrip('v')}"
        info = client.get_dataset_version(ref)
        if split not in info.split_counts:
            raise InvalidInput(
                f"{info.ref} has no split {split!r}; its splits: {', '.join(info.split_counts)}"
            )
        folder = _local_copy(info, client)
        table = _open_split(folder / split, info.split_counts[split])
        return cls(
            table,
            info,
            split,
            transform,
            image_size,
            image_mode,
            normalize,
            tokenizer,
            sample_rate,
            clip_seconds,
        )

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def __len__(self) -> int:
        return len(self.table)

    def __getitem__(self, index: int) -> tuple[Any, Any]:
        return self.__getitems__([index])[0]

    def __getitems__(self, indices: list[int]) -> list[tuple[Any, Any]]:
        """A batch of samples in one columnar read; DataLoader calls this per batch."""
        indices = [int(i) for i in indices]
        if self._pixels is not None:  # one tensor for the batch, copied, not decoded
            batch = self._pixels[indices]
            xs = self._image.batch(batch.column("pixels")).unbind(0)
            ys = self._targets(batch.column(self.label_column).to_pylist())
            return list(zip(xs, ys, strict=True))
        rows = self.table[indices]
        if self.type is DatasetType.RECOMMENDATION:
            return list(zip(rows["user"], rows["item"], strict=True))
        if self.type is DatasetType.OBJECT_DETECTION:
            found = zip(rows["image"], rows["boxes"], rows["categories"], strict=True)
            return [self._boxed(image["bytes"], boxes, names) for image, boxes, names in found]
        ys = self._targets(rows[self.label_column])
        if self.type is DatasetType.IMAGE_CLASSIFICATION:
            xs = [self._image(image["bytes"], self.transform) for image in rows["image"]]
        elif self.type is DatasetType.AUDIO_CLASSIFICATION:
            xs = [
                self._clip(data, path)
                for data, path in zip(rows["audio"], rows["path"], strict=True)
            ]
        elif self.type is DatasetType.TEXT_CLASSIFICATION:
            xs = [self.tokenizer(t) if self.tokenizer else t for t in rows["text"]]
            xs = [self.transform(x) for x in xs] if self.transform else xs
        else:
            columns = self.info.spec["feature_columns"]
            features = torch.tensor([rows[c] for c in columns], dtype=torch.float32).T
            xs = [self.transform(x) for x in features] if self.transform else list(features)
        return list(zip(xs, ys, strict=True))

    def _clip(self, data: bytes, path: str) -> Any:
        samples = torch.from_numpy(audio.clip(data, self.features, path))
        return self.transform(samples) if self.transform else samples

    def _targets(self, labels: list[Any]) -> list[Any]:
        if self.type is DatasetType.TABULAR_REGRESSION:
            return list(torch.tensor(labels, dtype=torch.float32))
        return [self.class_to_idx[label] for label in labels]

    def to_tf(self, batch_size: int | None = None, shuffle: bool = False, seed: int = 0) -> Any:
        """This split as a `tf.data.Dataset` of (x, y), images channels-last, batched when
        `batch_size` is given (`fermion.datasets.tf_data`; needs fermion[tensorflow])."""
        from fermion.datasets.tf_data import to_tf

        return to_tf(self, batch_size, shuffle, seed)

    def __repr__(self) -> str:
        return f"fermion.Dataset({self.info.ref}, split={self.split!r}, records={len(self)})"


def _open_split(folder: Path, count: int) -> Any:
    """A split's records, memory-mapped. An empty split (a "0.9,0.1" split's test) is
    saved without a data file, which `load_from_disk` cannot open: an empty table of the
    split's columns stands for it."""
    import datasets as hf

    if count == 0:
        features = hf.DatasetInfo.from_directory(str(folder)).features
        return hf.Dataset.from_dict({name: [] for name in features}, features=features)
    return hf.load_from_disk(str(folder))


def _local_copy(info: DatasetVersionPublic, client: Any) -> Path:
    if info.encrypted:  # sealed at rest: opened by the server, kept in memory here
        return client.private_copy(lambda dest: client.download_dataset(info.ref, dest))
    local = Path(info.uri)
    if "://" not in info.uri and (local / "dataset_dict.json").exists():
        return local
    return client.cached_copy(
        "datasets", info.digest, lambda dest: client.download_dataset(info.ref, dest)
    )


class DataLoader(TorchDataLoader):
    """A `torch.utils.data.DataLoader` that shards itself under DDP.

    When torch.distributed is initialised with more than one process, each rank gets a
    `DistributedSampler` share of the dataset (padded to equal length, so every rank
    takes the same number of steps), reshuffled every epoch without a `set_epoch` call.
    The train split is shuffled by default, other splits are not.
    """

    def __init__(
        self,
        dataset: TorchDataset,
        batch_size: int = 32,
        shuffle: bool | None = None,
        num_workers: int = 0,
        seed: int = 0,
        drop_last: bool = False,
        **kwargs: Any,
    ) -> None:
        if shuffle is None:
            shuffle = getattr(dataset, "split", "train") == "train"
        if "sampler" not in kwargs and "batch_sampler" not in kwargs:
            if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
                kwargs["sampler"] = DistributedSampler(
                    dataset, shuffle=shuffle, seed=seed, drop_last=drop_last
                )
            elif shuffle:
                generator = torch.Generator().manual_seed(seed)
                kwargs["sampler"] = RandomSampler(dataset, generator=generator)
        if num_workers > 0:
            kwargs.setdefault("persistent_workers", True)
        super().__init__(
            dataset, batch_size=batch_size, num_workers=num_workers, drop_last=drop_last, **kwargs
        )
        self._epoch = 0

    def __iter__(self) -> Iterator[Any]:
        if isinstance(self.sampler, DistributedSampler):
            self.sampler.set_epoch(self._epoch)
        self._epoch += 1
        return super().__iter__()
