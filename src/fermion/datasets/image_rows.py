"""Checked images made into rows of an image-classification dataset, in the worker
processes that checked them.

A worker returns a chunk's valid images as one Arrow record batch, with each row's split
rank, the bytes the version's digest is fed for them, and what `spec()` counts (sizes,
modes, channel sums). The server's own process then only appends batches to the staging
file: building rows one by one there took it about as long as decoding took a worker,
and it shares the same cores.

Like `image_check`, this module stays light (Pillow, NumPy, pyarrow): the fork server
preloads it.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

from fermion.datasets.image_check import (
    MAX_COLUMN_BYTES,
    Checked,
    Entry,
    check_chunk,
    map_chunks,
)
from fermion.datasets.splits import split_rank


@dataclass
class ImageCounts:
    """What the reader's `spec()` is made of: images by size, by mode and by the mode
    their pixels are stored in ("": encoded only), and the channel sums of those measured
    (`image_check._channel_sums`)."""

    sizes: Counter[tuple[int, int]] = field(default_factory=Counter)
    modes: Counter[str] = field(default_factory=Counter)
    pixels_modes: Counter[str] = field(default_factory=Counter)
    sums: np.ndarray = field(default_factory=lambda: np.zeros(7))

    def count(self, checked: Checked) -> None:
        self.sizes[checked.size] += 1
        self.modes[checked.mode] += 1
        self.pixels_modes[checked.pixels_mode] += 1
        if checked.sums is not None:
            self.sums += checked.sums

    def add(self, other: ImageCounts) -> None:
        self.sizes.update(other.sizes)
        self.modes.update(other.modes)
        self.pixels_modes.update(other.pixels_modes)
        self.sums += other.sums


@dataclass
class RowChunk:
    table: pa.Table  # the valid images, as rows of the dataset's columns
    ranks: np.ndarray  # uint64: each row's split rank
    digest: bytes  # what the version's digest is fed for these rows, in order
    problems: list[tuple[str, str]]  # (where, why) of the images left out
    counts: ImageCounts


def row_chunks(
    fs: Any, entries: Iterable[Entry], workers: int, schema: pa.Schema, seed: int
) -> Iterator[RowChunk]:
    """A RowChunk per chunk of `entries`, in listing order, built on `workers` processes."""
    return map_chunks(row_chunk, fs, entries, workers, schema, seed)


def row_chunk(fs: Any, entries: list[Entry], schema: pa.Schema, seed: int) -> RowChunk:
    """Check `entries` and make the valid ones rows in `schema`."""
    valid, problems, counts = [], [], ImageCounts()
    for checked in check_chunk(fs, entries):
        if checked.problem:
            problems.append((checked.entry.where, checked.problem))
        else:
            valid.append(checked)
            counts.count(checked)
    keys = [c.entry.key for c in valid]
    return RowChunk(
        table=pa.Table.from_batches(
            [_rows(valid[i:j], keys[i:j], schema) for i, j in _under_offset_limit(valid)],
            schema,
        ),
        ranks=np.array([split_rank(seed, key) for key in keys], dtype=np.uint64),
        digest=b"".join(
            json.dumps([c.entry.key, c.entry.label]).encode() + c.sha256 for c in valid
        ),
        problems=problems,
        counts=counts,
    )


def _under_offset_limit(
    valid: list[Checked], limit: int = MAX_COLUMN_BYTES
) -> Iterator[tuple[int, int]]:
    """Slices of `valid` whose bytes and whose pixels each total at most `limit`: one
    binary array's 32-bit offsets reach 2 GiB (a chunk of large images may hold more)."""
    start, data, pixels = 0, 0, 0
    for i, checked in enumerate(valid):
        size, decoded = len(checked.data), len(checked.pixels or b"")
        if i > start and (data + size > limit or pixels + decoded > limit):
            yield start, i
            start, data, pixels = i, 0, 0
        data, pixels = data + size, pixels + decoded
    yield start, len(valid)


def _rows(valid: list[Checked], keys: list[str], schema: pa.Schema) -> pa.RecordBatch:
    """The images' columns built from their buffers (a struct from its fields, not from
    dicts). `pa.array` of a list would import pandas in each worker: 0.27 s a worker
    per ingest, longer than checking a few thousand images."""
    rows = len(valid)
    encoded = _binary([c.data for c in valid])
    image = pa.StructArray.from_arrays(
        [encoded, pa.nulls(rows, pa.string())], fields=list(schema.field("image").type)
    )
    columns = {
        "image": image,
        "label": _binary([c.entry.label.encode() for c in valid], pa.string()),
        "path": _binary([key.encode() for key in keys], pa.string()),
        "width": _int32([c.size[0] for c in valid]),
        "height": _int32([c.size[1] for c in valid]),
        "pixels": _binary([c.pixels for c in valid]),
    }
    return pa.RecordBatch.from_arrays([columns[name] for name in schema.names], schema=schema)


def _binary(values: list[bytes | None], type: pa.DataType = pa.binary()) -> pa.Array:
    """A binary (or, of UTF-8 bytes, string) array; None is null."""
    lengths = np.fromiter((len(v) if v is not None else 0 for v in values), np.int64, len(values))
    offsets = np.zeros(len(values) + 1, np.int64)
    np.cumsum(lengths, out=offsets[1:])
    present = [v is not None for v in values]
    validity = None if all(present) else pa.py_buffer(np.packbits(present, bitorder="little"))
    data = pa.py_buffer(b"".join(v for v in values if v is not None))
    return pa.Array.from_buffers(
        type, len(values), [validity, pa.py_buffer(offsets.astype(np.int32)), data]
    )


def _int32(values: list[int]) -> pa.Array:
    return pa.Array.from_buffers(
        pa.int32(), len(values), [None, pa.py_buffer(np.array(values, np.int32))]
    )
