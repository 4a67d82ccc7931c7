"""Ingest: source -> validated records -> content digest -> splits -> Arrow shards.

One streaming pass reads and validates every record and appends it to a staging Arrow
file on local disk (memory stays flat however large the source is); only keys and
labels are kept in memory, to compute the splits. The splits are then written as a
Hugging Face `DatasetDict` (`save_to_disk`: Arrow shards, memory-mapped on load).
Nothing reaches the artifact store here: the caller publishes the finished folder.
"""

from __future__ import annotations

import contextlib
import itertools
import json
from array import array
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import datasets as hf
import numpy as np
import pyarrow as pa

from fermion.datasets.readers import make_reader
from fermion.datasets.readers.base import RecordChunk
from fermion.datasets.records import ProblemReport
from fermion.datasets.source import Source
from fermion.datasets.splits import SPLIT_NAMES, assign_splits, leave_last_out
from fermion.errors import InvalidInput
from fermion.payloads import DatasetCreate, DatasetType

SHARD_SIZE = "256MB"
# Bump when the stored layout changes, so digests change with it. 2: small images are
# also stored decoded.
FORMAT_VERSION = 2


@dataclass
class IngestResult:
    folder: Path  # a DatasetDict saved with save_to_disk
    digest: str
    spec: dict[str, Any]
    num_records: int
    split_counts: dict[str, int]
    class_names: list[str]
    class_counts: dict[str, dict[str, int]]
    skipped: ProblemReport


class SplitKeys:
    """What splitting needs of each record, and nothing more: a rank and a class id (16
    bytes a record), and for interactions the user and the time (leave-last-out)."""

    def __init__(self, request: DatasetCreate, label_column: str) -> None:
        self.request = request
        self.label_column = label_column
        self.classification = request.type.is_classification
        self.by_user = request.type is DatasetType.RECOMMENDATION
        self.ranks, self.groups = array("Q"), array("q")
        self.users, self.times = array("q"), array("d")
        self.class_ids: dict[str, int] = {}
        self.user_ids: dict[str, int] = {}

    def extend(self, chunk: RecordChunk) -> None:
        self.ranks.frombytes(np.asarray(chunk.ranks, dtype=np.uint64).tobytes())
        if self.classification:
            labels = chunk.table.column(self.label_column)
            self.groups.frombytes(_ids(labels, self.class_ids).tobytes())
        else:
            self.groups.extend(itertools.repeat(0, len(chunk.ranks)))
        if self.by_user:
            self.users.frombytes(_ids(chunk.table.column("user"), self.user_ids).tobytes())
            times = chunk.table.column("timestamp").to_numpy().astype(np.float64)
            self.times.frombytes(times.tobytes())

    @property
    def groups_array(self) -> np.ndarray:
        return np.frombuffer(self.groups, dtype=np.int64)

    def splits(self) -> dict[str, np.ndarray]:
        ranks = np.frombuffer(self.ranks, dtype=np.uint64)
        if self.by_user:
            users = np.frombuffer(self.users, dtype=np.int64)
            return leave_last_out(users, np.frombuffer(self.times, dtype=np.float64), ranks)
        return assign_splits(ranks, self.groups_array, self.request.split)


def _ids(column: pa.ChunkedArray, ids: dict[str, int]) -> np.ndarray:
    """An int64 id per value, new values numbered in order of first appearance."""
    encoded = column.combine_chunks().dictionary_encode()
    names = encoded.dictionary.to_pylist()
    lookup = np.array([ids.setdefault(name, len(ids)) for name in names], np.int64)
    return lookup[encoded.indices.to_numpy(zero_copy_only=False)]


def _class_order(names: list[str]) -> list[str]:
    """Numeric labels in numeric order ('2' before '10'), others alphabetically."""
    if all(name.lstrip("-").isdigit() for name in names):
        return sorted(names, key=int)
    return sorted(names)


def ingest(request: DatasetCreate, source: Source, workdir: Path) -> IngestResult:
    """Validate and convert `source` under `workdir`; raises InvalidRecords on bad records
    (unless request.skip_invalid) and InvalidInput when nothing valid is left."""
    report = ProblemReport()
    reader = make_reader(request, source, report)
    classification = request.type.is_classification
    keys = SplitKeys(request, reader.label_column)

    # Records are staged in an Arrow stream file with the `datasets` schema (what
    # `Dataset.from_file` memory-maps), a chunk at a time.
    staging = workdir / "records.arrow"
    with pa.ipc.new_stream(str(staging), reader.features.arrow_schema) as writer:
        for chunk in reader.chunks():
            writer.write_table(chunk.table)
            keys.extend(chunk)

    class_ids = keys.class_ids
    class_names = _check(request, source, report, len(keys.ranks), list(class_ids))
    spec = {
        **reader.spec(),
        "split": list(request.split),
        "seed": request.seed,
        "format": FORMAT_VERSION,
    }
    # The digest covers the records and every choice that shapes the stored splits.
    digest = reader.digest
    digest.update(json.dumps({"type": request.type.value, **spec}, sort_keys=True).encode())

    splits = keys.splits()
    group_array = keys.groups_array
    records = hf.Dataset.from_file(str(staging))
    folder = workdir / "dataset"
    _save_splits(records, splits, folder)
    class_counts = (
        _class_counts(splits, group_array, class_ids, class_names) if classification else {}
    )
    if request.type is DatasetType.OBJECT_DETECTION:  # classes are what the boxes hold
        class_names = reader.categories
        class_counts = _object_counts(records, splits, class_names)
    return IngestResult(
        folder=folder,
        digest=digest.hexdigest(),
        spec=spec,
        num_records=len(keys.ranks),
        split_counts={name: len(indices) for name, indices in splits.items()},
        class_names=class_names,
        class_counts=class_counts,
        skipped=report,
    )


def _save_splits(records: hf.Dataset, splits: dict[str, np.ndarray], folder: Path) -> None:
    """A `DatasetDict` folder of the records in each split. One pass over the staged
    batches sends each batch's rows to their split's file, in order (memory: one batch);
    each file is then saved as its split. `save_to_disk` of a `select` instead gathers
    rows one index at a time in Python: a second or more for 100,000 images."""
    table = records.data.table
    split_of = np.full(table.num_rows, -1, dtype=np.int8)
    for number, name in enumerate(SPLIT_NAMES):
        split_of[splits[name]] = number
    folder.mkdir()
    copies = [folder / f"{name}.arrow" for name in SPLIT_NAMES]
    with contextlib.ExitStack() as stack:
        writers = [stack.enter_context(pa.ipc.new_stream(str(c), table.schema)) for c in copies]
        start = 0
        for batch in table.to_batches():
            batch_splits = split_of[start : start + batch.num_rows]
            start += batch.num_rows
            for number, writer in enumerate(writers):
                rows = batch_splits == number
                if rows.all():
                    writer.write_batch(batch)
                elif rows.any():
                    writer.write_batch(batch.filter(rows))
    for name, copy in zip(SPLIT_NAMES, copies, strict=True):
        part = hf.Dataset.from_file(str(copy), info=records.info)
        part.save_to_disk(str(folder / name), max_shard_size=SHARD_SIZE)
        del part
        copy.unlink()
    (folder / hf.config.DATASETDICT_JSON_FILENAME).write_text(json.dumps({"splits": SPLIT_NAMES}))


def _check(
    request: DatasetCreate, source: Source, report: ProblemReport, records: int, classes: list
) -> list[str]:
    """Refuse what cannot make a dataset; returns the class names in their order."""
    if report and not request.skip_invalid:
        raise report.error(source.display)
    if not records:
        raise InvalidInput(f"no valid records in {source.display}")
    class_names = _class_order(classes)
    if request.type.is_classification and len(class_names) < 2:
        raise InvalidInput(
            f"{source.display} has {len(class_names)} class ({', '.join(class_names)});"
            " classification needs at least two"
        )
    return class_names


def _object_counts(
    records: hf.Dataset, splits: dict[str, np.ndarray], class_names: list[str]
) -> dict[str, dict[str, int]]:
    """Boxes per category in each split."""
    column = records.data.column("categories")
    counts = {}
    for split, indices in splits.items():
        names = column.take(pa.array(indices)).combine_chunks()
        found = dict.fromkeys(class_names, 0)
        for entry in names.flatten().value_counts().to_pylist():
            found[entry["values"]] = int(entry["counts"])
        counts[split] = found
    return counts


def _class_counts(
    splits: dict[str, np.ndarray],
    class_of: np.ndarray,
    class_ids: dict[str, int],
    class_names: list[str],
) -> dict[str, dict[str, int]]:
    """Records per class in each split, classes in `class_names` order."""
    names_by_id = {i: name for name, i in class_ids.items()}
    counts = {}
    for split, indices in splits.items():
        per_id = np.bincount(class_of[indices], minlength=len(class_ids))
        by_name = {names_by_id[i]: int(n) for i, n in enumerate(per_id)}
        counts[split] = {c: by_name[c] for c in class_names}
    return counts
