"""Datasets: create (ingest and publish a version), list, show, head, delete.

A version becomes visible only when its row is committed, and its row is committed
only after every file is in the artifact store; a failed create removes what it wrote.
"""

from __future__ import annotations

import logging
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from fermion.datasets.ingest import IngestResult, ingest
from fermion.datasets.source import Source, reading
from fermion.errors import Conflict, InvalidInput, NotFound
from fermion.payloads import (
    DatasetCreate,
    DatasetFiles,
    DatasetHead,
    DatasetPublic,
    DatasetSamples,
    DatasetsPublic,
    DatasetVersionPublic,
)
from fermion.refs import format_ref, pick_version
from fermion.server.services import stored_files, uploads
from fermion.store.context import ServerContext
from fermion.store.tables import DatasetRow, DatasetVersionRow, User

log = logging.getLogger("fermion.server")


# -- reading ----------------------------------------------------------------------
def version_public(row: DatasetVersionRow, existing: bool = False) -> DatasetVersionPublic:
    name = row.dataset.name
    return DatasetVersionPublic(
        name=name,
        version=row.version,
        ref=format_ref(name, row.version),
        type=row.dataset.type,
        digest=row.digest,
        uri=row.uri,
        source=row.source,
        spec=row.spec,
        num_records=row.num_records,
        split_counts=row.split_counts,
        class_names=row.class_names,
        class_counts=row.class_counts,
        size_bytes=row.size_bytes,
        skipped=row.skipped.get("problems", []),
        skipped_count=row.skipped.get("count", 0),
        created_at=row.created_at,
        existing=existing,
    )


def dataset_public(row: DatasetRow) -> DatasetPublic:
    return DatasetPublic(
        name=row.name,
        type=row.type,
        created_at=row.created_at,
        versions=[version_public(v) for v in row.versions],
    )


def list_datasets(session: Session) -> DatasetsPublic:
    rows = session.scalars(select(DatasetRow).order_by(DatasetRow.name)).all()
    data = [dataset_public(r) for r in rows if r.versions]
    return DatasetsPublic(data=data, count=len(data))


def get_dataset(session: Session, name: str) -> DatasetRow:
    row = session.scalar(select(DatasetRow).where(DatasetRow.name == name))
    if row is None or not row.versions:
        known = session.scalars(select(DatasetRow.name).order_by(DatasetRow.name)).all()
        hint = f"; datasets: {', '.join(known)}" if known else "; there are no datasets yet"
        raise NotFound(f"dataset {name!r} not found{hint}")
    return row


def get_version(session: Session, name: str, version: int | None) -> DatasetVersionRow:
    return pick_version(get_dataset(session, name).versions, version, "dataset", name)


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
            columns = [c for c in reader.schema.names if c != "image"]
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
    if row.dataset.type != "image-classification":
        raise InvalidInput(f"{format_ref(row.dataset.name, row.version)} holds no images")
    seen = 0
    for batch in _batches(context, row, split):
        if index < seen + batch.num_rows:
            data = batch.column("image")[index - seen].as_py()["bytes"]
            kind = next(
                (t for magic, t in IMAGE_TYPES if data.startswith(magic)),
                "application/octet-stream",
            )
            return data, kind
        seen += batch.num_rows
    raise NotFound(
        f"{format_ref(row.dataset.name, row.version)} has {seen} records in {split};"
        f" there is no image {index}"
    )


def files(context: ServerContext, row: DatasetVersionRow) -> DatasetFiles:
    ref = format_ref(row.dataset.name, row.version)
    return DatasetFiles(ref=ref, digest=row.digest, files=stored_files.listing(context, row.uri))


def open_file(context: ServerContext, row: DatasetVersionRow, path: str) -> Iterator[bytes]:
    return stored_files.chunks(context, row.uri, path, format_ref(row.dataset.name, row.version))


# -- creating ---------------------------------------------------------------------
def create_dataset(
    context: ServerContext, session: Session, user: User, request: DatasetCreate
) -> DatasetVersionPublic:
    """Ingest the request's source as a new version, or return the version that already
    has the same content. An uploaded source is deleted afterwards, whatever happened:
    the client uploads again when it retries."""
    try:
        return _create(context, session, user, request)
    finally:
        if request.source.startswith(uploads.SCHEME):
            uploads.delete(context, request.source)


def _create(
    context: ServerContext, session: Session, user: User, request: DatasetCreate
) -> DatasetVersionPublic:
    dataset = session.scalar(select(DatasetRow).where(DatasetRow.name == request.name))
    if dataset is not None and dataset.versions and dataset.type != request.type.value:
        raise Conflict(
            f"dataset {request.name!r} already exists with type {dataset.type}; pick another"
            f" name, or delete it first (fermion dataset delete {request.name})"
        )
    with tempfile.TemporaryDirectory(dir=context.scratch) as tmp:
        source = _open_source(context, request.source, Path(tmp))
        with reading(source.display):
            result = ingest(request, source, Path(tmp))
        for existing in dataset.versions if dataset is not None else []:
            if existing.digest == result.digest:
                return version_public(existing, existing=True)
        key = f"datasets/{request.name}/{result.digest[:16]}-{uuid.uuid4().hex[:8]}"
        try:
            size = context.artifacts.put_dir(result.folder, key, move=True)
            row = _insert_version(context, session, user, request, dataset, result, key, size)
        except BaseException:
            session.rollback()
            context.artifacts.delete(key)
            raise
    log.info("dataset %s: %d records", format_ref(request.name, row.version), row.num_records)
    return version_public(row)


def _insert_version(
    context: ServerContext,
    session: Session,
    user: User,
    request: DatasetCreate,
    dataset: DatasetRow | None,
    result: IngestResult,
    key: str,
    size: int,
) -> DatasetVersionRow:
    """Commit the version's row: the moment it becomes visible."""
    if dataset is None:
        dataset = DatasetRow(
            name=request.name, type=request.type.value, owner_id=user.id, next_version=1
        )
        session.add(dataset)
    elif not dataset.versions:
        dataset.type = request.type.value  # a name whose versions were all deleted
    row = DatasetVersionRow(
        dataset=dataset,
        version=dataset.next_version,
        digest=result.digest,
        uri=context.artifacts.uri(key),
        source=request.source,
        spec=result.spec,
        num_records=result.num_records,
        split_counts=result.split_counts,
        class_names=result.class_names,
        class_counts=result.class_counts,
        size_bytes=size,
        skipped={
            "problems": [p.model_dump() for p in result.skipped.problems],
            "count": result.skipped.count,
        },
    )
    session.add(row)
    dataset.next_version += 1
    try:
        session.commit()
    except IntegrityError:
        raise Conflict(
            f"dataset {request.name!r} was changed by another request at the same time; retry"
        ) from None
    session.refresh(row)
    return row


def _open_source(context: ServerContext, source: str, work: Path) -> Source:
    if source.startswith(uploads.SCHEME):
        folder = work / "upload"
        name = uploads.extract(context, source, folder)
        return Source.open(str(folder / name), display=name)
    return Source.open(source)


# -- deleting ---------------------------------------------------------------------
def delete(context: ServerContext, session: Session, name: str, version: int | None) -> list[str]:
    """Delete one version, or the whole dataset; returns the refs deleted."""
    dataset = get_dataset(session, name)
    doomed = [get_version(session, name, version)] if version else list(dataset.versions)
    refs = [format_ref(name, v.version) for v in doomed]
    stored_files.delete_versions(context, session, dataset, doomed)
    return refs
