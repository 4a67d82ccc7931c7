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
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import datasets as hf
from datasets.arrow_writer import ArrowWriter

from fermion.datasets.readers import make_reader
from fermion.datasets.records import ProblemReport
from fermion.datasets.source import Source
from fermion.datasets.splits import SPLIT_NAMES, assign_splits
from fermion.errors import InvalidInput
from fermion.payloads import DatasetCreate, Problem

SHARD_SIZE = "256MB"
FORMAT_VERSION = 1  # bump when the stored layout changes, so digests change with it


@dataclass
class IngestResult:
    folder: Path  # a DatasetDict saved with save_to_disk
    digest: str
    spec: dict[str, Any]
    num_records: int
    split_counts: dict[str, int]
    class_names: list[str]
    class_counts: dict[str, dict[str, int]]
    skipped: list[Problem] = field(default_factory=list)


def _class_order(names: set[str]) -> list[str]:
    """Numeric labels in numeric order ('2' before '10'), others alphabetically."""
    if all(name.lstrip("-").isdigit() for name in names):
        return sorted(names, key=int)
    return sorted(names)


def ingest(request: DatasetCreate, source: Source, workdir: Path) -> IngestResult:
    """Validate and convert `source` under `workdir`; raises InvalidRecords on bad records
    (unless request.skip_invalid) and InvalidInput when nothing valid is left."""
    report = ProblemReport()
    reader = make_reader(request, source, report)
    digest = hashlib.sha256()
    keys: list[str] = []
    labels: list[Any] = []

    staging = workdir / "records.arrow"
    with ArrowWriter(features=reader.features, path=str(staging)) as writer:
        for record in reader:
            writer.write(record.columns)
            keys.append(record.key)
            labels.append(record.label)
            digest.update(json.dumps([record.key, record.label]).encode())
            digest.update(hashlib.sha256(record.content).digest())
        writer.finalize()

    if report and not request.skip_invalid:
        raise report.error(source.display)
    if not keys:
        raise InvalidInput(f"no valid records in {source.display}")

    classification = request.type.is_classification
    class_names = _class_order(set(labels)) if classification else []
    if classification and len(class_names) < 2:
        raise InvalidInput(
            f"{source.display} has {len(class_names)} class ({', '.join(class_names)});"
            " classification needs at least two"
        )
    spec = {
        **reader.spec(),
        "split": list(request.split),
        "seed": request.seed,
        "format": FORMAT_VERSION,
    }
    # The digest covers the records and every choice that shapes the stored splits.
    digest.update(json.dumps({"type": request.type.value, **spec}, sort_keys=True).encode())

    splits = assign_splits(keys, labels, request.split, request.seed, stratify=classification)
    records = hf.Dataset.from_file(str(staging))
    folder = workdir / "dataset"
    hf.DatasetDict({name: records.select(splits[name]) for name in SPLIT_NAMES}).save_to_disk(
        str(folder), max_shard_size=SHARD_SIZE
    )
    return IngestResult(
        folder=folder,
        digest=digest.hexdigest(),
        spec=spec,
        num_records=len(keys),
        split_counts={name: len(indices) for name, indices in splits.items()},
        class_names=class_names,
        class_counts={
            name: dict(sorted(Counter(labels[i] for i in indices).items()))
            for name, indices in splits.items()
        }
        if classification
        else {},
        skipped=list(report.problems),
    )
