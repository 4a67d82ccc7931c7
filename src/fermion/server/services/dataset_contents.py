"""What is inside a dataset version, as the API and the dashboard show it: the first
rows, samples of every class, single images, and its stored files."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

from fermion.errors import InvalidInput, NotFound
from fermion.payloads import (
    DatasetFiles,
    DatasetHead,
    DatasetSamples,
)
from fermion.refs import format_ref
from fermion.server.services import stored_files
from fermion.store.context import ServerContext
from fermion.store.tables import DatasetVersionRow

log = logging.getLogger("fermion.server")

BINARY_COLUMNS = ("image", "pixels", "audio")  # stored files' data: not shown as rows
IMAGE_DATASETS = ("image-classification", "object-detection")


def head(context: ServerContext, row: DatasetVersionRow, split: str, limit: int) -> DatasetHead:
    """The first rows of a split, read from its first Arrow shard (no full load)."""
    import pyarrow as pa

    if split not in row.split_counts:
        raise InvalidInput(f"unknown split {split!r}; choose one of: {', '.join(row.split_counts)}")
    key = f"{context.artifacts.key_of(row.uri)}/{split}"
    shards = [f for f in context.artifacts.list_files(key) if f.endswith(".arrow")]
    rows: list[dict[str, Any]] = []
    columns: list[str] = []
    if shards:
        with context.artifacts.open_read(f"{key}/{shards[0]}") as f:
            reader = pa.ipc.open_stream(f)
            columns = [c for c in reader.schema.names if c not in BINARY_COLUMNS]
            for batch in reader:
                rows += batch.select(columns).to_pylist()[: limit - len(rows)]
                if len(rows) >= limit:
                    break
    return DatasetHead(
        ref=format_ref(row.dataset.name, row.version), split=split, columns=columns, rows=rows
    )


def _batches(context: ServerContext, row: DatasetVersionRow, split: str) -> Iterator[Any]:
    """The record batches of a split, shard after shard, in their stored order."""
    import pyarrow as pa

    if split not in row.split_counts:
        raise InvalidInput(f"unknown split {split!r}; choose one of: {', '.join(row.split_counts)}")
    key = f"{context.artifacts.key_of(row.uri)}/{split}"
    for shard in sorted(f for f in context.artifacts.list_files(key) if f.endswith(".arrow")):
        with context.artifacts.open_read(f"{key}/{shard}") as f:
            yield from pa.ipc.open_stream(f)


def samples(
    context: ServerContext, row: DatasetVersionRow, split: str, per_class: int
) -> DatasetSamples:
    """A few records of each class (their positions in the split and labels), so a sample
    grid shows every class even when records are stored sorted by class."""
    if row.dataset.type == "object-detection":
        return _first_boxed(context, row, split, per_class)
    label = row.spec["label_column"]
    picked: dict[str, list[int]] = {}
    seen = 0
    for batch in _batches(context, row, split):
        for offset, value in enumerate(batch.column(label).to_pylist()):
            chosen = picked.setdefault(str(value), [])
            if len(chosen) < per_class:
                chosen.append(seen + offset)
        seen += batch.num_rows
    rows = [
        {"index": indices[rank], "label": name}
        for rank in range(per_class)
        for name, indices in picked.items()
        if rank < len(indices)
    ]
    return DatasetSamples(ref=format_ref(row.dataset.name, row.version), split=split, samples=rows)


def _first_boxed(
    context: ServerContext, row: DatasetVersionRow, split: str, count: int
) -> DatasetSamples:
    """Detection: the split's first `count` images with their boxes, sizes and the classes
    in them (the label)."""
    columns = ["width", "height", "boxes", "categories"]
    rows: list[dict[str, Any]] = []
    for batch in _batches(context, row, split):
        for found in batch.select(columns).to_pylist()[: count - len(rows)]:
            label = ", ".join(sorted(set(found["categories"])))
            rows.append({"index": len(rows), "label": label, **found})
        if len(rows) >= count:
            break
    return DatasetSamples(ref=format_ref(row.dataset.name, row.version), split=split, samples=rows)


OCTETS = "application/octet-stream"
IMAGE_TYPES = (
    (b"\x89PNG", "image/png"),
    (b"\xff\xd8", "image/jpeg"),
    (b"GIF8", "image/gif"),
    (b"BM", "image/bmp"),
    (b"RIFF", "image/webp"),
)


def image(
    context: ServerContext, row: DatasetVersionRow, split: str, index: int
) -> tuple[bytes, str]:
    """The stored bytes of the split's image at `index`, with its media type."""
    data = _stored_file(context, row, split, index, IMAGE_DATASETS, "image")["bytes"]
    kind = next((t for magic, t in IMAGE_TYPES if data.startswith(magic)), OCTETS)
    return data, kind


AUDIO_TYPES = (
    (b"RIFF", "audio/wav"),
    (b"fLaC", "audio/flac"),
    (b"OggS", "audio/ogg"),
    (b"ID3", "audio/mpeg"),
    (b"\xff\xfb", "audio/mpeg"),
)


def sound(
    context: ServerContext, row: DatasetVersionRow, split: str, index: int
) -> tuple[bytes, str]:
    """The stored bytes of the split's sound file at `index`, with its media type."""
    data = _stored_file(context, row, split, index, ("audio-classification",), "audio")
    return data, next((t for magic, t in AUDIO_TYPES if data.startswith(magic)), OCTETS)


def spectrogram(context: ServerContext, row: DatasetVersionRow, split: str, index: int) -> bytes:
    """The log-mel spectrogram of the split's sound file at `index`, as a PNG."""
    from fermion import audio

    data = _stored_file(context, row, split, index, ("audio-classification",), "audio")
    return audio.spectrogram_png(data, f"{split}/{index}")


def _stored_file(
    context: ServerContext,
    row: DatasetVersionRow,
    split: str,
    index: int,
    dataset_types: tuple[str, ...],
    column: str,
) -> Any:
    ref = format_ref(row.dataset.name, row.version)
    if row.dataset.type not in dataset_types:
        raise InvalidInput(f"{ref} is a {row.dataset.type} dataset; it holds no {column} files")
    seen = 0
    for batch in _batches(context, row, split):
        if index < seen + batch.num_rows:
            return batch.column(column)[index - seen].as_py()
        seen += batch.num_rows
    raise NotFound(f"{ref} has {seen} records in {split}; there is no record {index}")


def files(context: ServerContext, row: DatasetVersionRow) -> DatasetFiles:
    ref = format_ref(row.dataset.name, row.version)
    return DatasetFiles(ref=ref, digest=row.digest, files=stored_files.listing(context, row.uri))


def open_file(context: ServerContext, row: DatasetVersionRow, path: str) -> Iterator[bytes]:
    return stored_files.chunks(context, row.uri, path, format_ref(row.dataset.name, row.version))
