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

from fermion.datasets.image_check import Checked, Entry, check_chunk, map_chunks
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
    batch: pa.RecordBatch  # the valid images, as rows of the dataset's columns
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
        batch=_rows(valid, keys, schema),
        ranks=np.array([split_rank(seed, key) for key in keys], dtype=np.uint64),
        digest=b"".join(
            json.dumps([c.entry.key, c.entry.label]).encode() + c.sha256 for c in valid
        ),
        problems=problems,
        counts=counts,
    )


def _rows(valid: list[Checked], keys: list[str], schema: pa.Schema) -> pa.RecordBatch:
    """The images' columns built as arrays (a struct from its fields, not from dicts)."""
    encoded = pa.array([c.data for c in valid], pa.binary())
    image = pa.StructArray.from_arrays(
        [encoded, pa.nulls(len(valid), pa.string())], fields=list(schema.field("image").type)
    )
    columns = {
        "image": image,
        "label": pa.array([c.entry.label for c in valid], pa.string()),
        "path": pa.array(keys, pa.string()),
        "width": pa.array([c.size[0] for c in valid], pa.int32()),
        "height": pa.array([c.size[1] for c in valid], pa.int32()),
        "pixels": pa.array([c.pixels for c in valid], pa.binary()),
    }
    return pa.RecordBatch.from_arrays([columns[name] for name in schema.names], schema=schema)
