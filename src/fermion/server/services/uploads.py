"""Uploaded dataset sources: a tar.gz the client made of a local file or folder, kept
in the artifact store until an ingest has used it."""

from __future__ import annotations

import tarfile
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

from fermion.errors import InvalidInput, NotFound, PayloadTooLarge
from fermion.payloads import UploadPublic
from fermion.store.context import ServerContext

SCHEME = "upload:"


def _key(upload_id: str) -> str:
    return f"uploads/{upload_id}.tar.gz"


async def receive(context: ServerContext, body: AsyncIterator[bytes]) -> UploadPublic:
    limit = context.settings.max_upload_mb * 1024 * 1024
    upload_id = uuid.uuid4().hex
    size = 0
    with context.artifacts.open_write(_key(upload_id)) as f:
        async for chunk in body:
            size += len(chunk)
            if size > limit:
                raise PayloadTooLarge(
                    f"upload is larger than the server's limit of {context.settings.max_upload_mb}"
                    " MB (FERMION_MAX_UPLOAD_MB); put the data where the server can read it"
                    " (an s3:// URL) and pass that as the source"
                )
            f.write(chunk)
    return UploadPublic(id=upload_id, size_bytes=size)


def _parse(source: str) -> tuple[str, str]:
    upload_id, _, name = source.removeprefix(SCHEME).partition("/")
    if not upload_id.isalnum() or not name or "/" in name or name in (".", ".."):
        raise InvalidInput(f"{source!r} is not an upload source; write upload:ID/NAME")
    return upload_id, name


def check(context: ServerContext, source: str) -> tuple[str, str]:
    """The upload's id and name, once it is known to be there."""
    upload_id, name = _parse(source)
    if not context.artifacts.exists(_key(upload_id)):
        raise NotFound(f"upload {upload_id} not found; upload the source again")
    return upload_id, name


def extract(context: ServerContext, source: str, dest: Path) -> str:
    """Unpack the upload into `dest`; returns the name of the file or folder it holds."""
    upload_id, name = check(context, source)
    dest.mkdir(parents=True)
    with (
        context.artifacts.open_read(_key(upload_id)) as f,
        tarfile.open(fileobj=f, mode="r:*") as tar,
    ):
        try:
            # The "data" filter refuses absolute paths, '..' and links leaving the folder.
            tar.extractall(dest, filter="data")
        except tarfile.TarError as exc:
            raise InvalidInput(f"upload {upload_id} is not a readable archive: {exc}") from None
    if not (dest / name).exists():
        raise InvalidInput(f"upload {upload_id} holds no {name!r}")
    return name


def delete(context: ServerContext, source: str) -> None:
    upload_id, _ = _parse(source)
    context.artifacts.delete(_key(upload_id))
