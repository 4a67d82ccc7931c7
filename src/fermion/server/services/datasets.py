"""Datasets: create (ingest and publish a version), list, show, head, delete.

A version becomes visible only when its row is committed, and its row is committed
only after every file is in the artifact store; a failed create removes what it wrote.
"""

from __future__ import annotations

import logging
import tempfile
import uuid
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from fermion.datasets.ingest import IngestResult, ingest
from fermion.datasets.source import Source, credential_options, reading
from fermion.errors import Conflict, NotFound
from fermion.payloads import (
    DatasetCreate,
    DatasetPublic,
    DatasetsPublic,
    DatasetVersionPublic,
)
from fermion.refs import format_ref, pick_version
from fermion.server.services import encryption, secrets, source_roots, stored_files, uploads
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
        encrypted=row.sealed,
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
        source = _open_source(context, session, request, Path(tmp))
        with reading(source.display):
            result = ingest(request, source, Path(tmp))
        for existing in dataset.versions if dataset is not None else []:
            if existing.digest == result.digest:
                return version_public(existing, existing=True)
        key = f"datasets/{request.name}/{result.digest[:16]}-{uuid.uuid4().hex[:8]}"
        with encryption.sealing(context, session) as seal:  # held until the row is committed
            try:
                size = context.artifacts.put_dir(result.folder, key, move=True, seal=seal)
                sealed = seal is not None
                row = _insert_version(
                    context, session, user, request, dataset, result, key, size, sealed
                )
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
    sealed: bool,
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
        sealed=sealed,
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


def _open_source(
    context: ServerContext, session: Session, request: DatasetCreate, work: Path
) -> Source:
    source = request.source
    wanted = dict(_credential_secret(entry) for entry in request.secrets)
    values = secrets.open_values(context, session, wanted)
    options = credential_options(source, values)  # refused for a local or uploaded source
    if source.startswith(uploads.SCHEME):
        folder = work / "upload"
        name = uploads.extract(context, source, folder)
        return Source.open(str(folder / name), display=name)
    where = source_roots.checked(context.settings, context.artifacts.local_path(""), source)
    return Source.open(where, display=source, options=options)


def _credential_secret(entry: str) -> tuple[str, str]:
    """`NAME` or `VARIABLE=NAME`: the credential variable and the secret that holds it."""
    variable, _, name = entry.partition("=")
    return variable.strip(), (name or variable).strip()


# -- deleting ---------------------------------------------------------------------
def delete(context: ServerContext, session: Session, name: str, version: int | None) -> list[str]:
    """Delete one version, or the whole dataset; returns the refs deleted."""
    dataset = get_dataset(session, name)
    doomed = [get_version(session, name, version)] if version else list(dataset.versions)
    refs = [format_ref(name, v.version) for v in doomed]
    stored_files.delete_versions(context, session, dataset, doomed)
    return refs
