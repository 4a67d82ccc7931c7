"""Ingest: source -> validated records -> content digest -> splits -> Arrow shards.

One streaming pass reads and validates every record and appends it to a staging Arrow
file on local disk (memory stays flat however large the source is); only keys and
labels are kept in memory, to compute the splits. The splits are then written as a
Hugging Face `DatasetDict` (`save_to_disk`: Arrow shards, memory-mapped on load).
Nothing reaches the artifact store here: the caller publishes the finished folder.
"""

from __future__ import annotations

import hashlib
import json
from array import array
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import datasets as hf
import numpy as np
import pyarrow as pa

from fermion.datasets.readers import make_reader
from fermion.datasets.records import ProblemReport, Record
from fermion.datasets.source import Source
from fermion.datasets.splits import SPLIT_NAMES, assign_splits, leave_last_out, split_rank
from fermion.errors import InvalidInput
from fermion.payloads import DatasetCreate, DatasetType

SHARD_SIZE = "256MB"
# Bump when the stored layout changes, so digests change with it. 2: small images are
# also stored decoded.
FORMAT_VERSION = 2
STAGING_BATCH = 256  # records per Arrow record batch


class StagingFile:
    """Records appended in batches to an Arrow stream file with the `datasets` schema
    (what `Dataset.from_file` memory-maps). pyarrow converts a batch of rows at once;
    `datasets`' own writer spent several times longer per row."""

    def __init__(self, path: Path, features: hf.Features) -> None:
        self.schema = features.arrow_schema
        self.writer = pa.ipc.new_stream(str(path), self.schema)
        self.rows: list[dict[str, Any]] = []

    def add(self, columns: dict[str, Any]) -> None:
        self.rows.append(columns)
        if len(self.rows) >= STAGING_BATCH:
            self.flush()

    def flush(self) -> None:
        if self.rows:
            self.writer.write_table(pa.Table.from_pylist(self.rows, schema=self.schema))
            self.rows.clear()

    def __enter__(self) -> StagingFile:
        return self

    def __exit__(self, *exc: object) -> None:
        if exc[0] is None:
            self.flush()
        self.writer.close()


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

    def __init__(self, request: DatasetCreate) -> None:
        self.request = request
        self.classification = request.type.is_classification
        self.by_user = request.type is DatasetType.RECOMMENDATION
        self.ranks, self.groups = array("Q"), array("q")
        self.users, self.times = array("q"), array("d")
        self.class_ids: dict[str, int] = {}
        self.user_ids: dict[str, int] = {}

    def add(self, record: Record) -> None:
        self.ranks.append(split_rank(self.request.seed, record.key))
        ids = self.class_ids
        self.groups.append(ids.setdefault(record.label, len(ids)) if self.classification else 0)
        if self.by_user:
            self.users.append(self.user_ids.setdefault(record.columns["user"], len(self.user_ids)))
            self.times.append(record.columns["timestamp"])

    @property
    def groups_array(self) -> np.ndarray:
        return np.frombuffer(self.groups, dtype=np.int64)

    def splits(self) -> dict[str, np.ndarray]:
        ranks = np.frombuffer(self.ranks, dtype=np.uint64)
        if self.by_user:
            users = np.frombuffer(self.users, dtype=np.int64)
            return leave_last_out(users, np.frombuffer(self.times, dtype=np.float64), ranks)
        return assign_splits(ranks, self.groups_array, self.request.split)


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
    digest = hashlib.sha256()
    keys = SplitKeys(request)

    staging = workdir / "records.arrow"
    with StagingFile(staging, reader.features) as writer:
        for record in reader:
            writer.add(record.columns)
            keys.add(record)
            digest.update(json.dumps([record.key, record.label]).encode())
            digest.update(record.content_sha256)

    class_ids = keys.class_ids
    class_names = _check(request, source, report, len(keys.ranks), list(class_ids))
    spec = {
        **reader.spec(),
        "split": list(request.split),
        "seed": request.seed,
        "format": FORMAT_VERSION,
    }
    # The digest covers the records and every choice that shapes the stored splits.
    digest.update(json.dumps({"type": request.type.value, **spec}, sort_keys=True).encode())

    splits = keys.splits()
    group_array = keys.groups_array
    records = hf.Dataset.from_file(str(staging))
    folder = workdir / "dataset"
    hf.DatasetDict({name: records.select(splits[name]) for name in SPLIT_NAMES}).save_to_disk(
        str(folder), max_shard_size=SHARD_SIZE
    )
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
