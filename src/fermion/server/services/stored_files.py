"""Files of stored versions (datasets and models): served through the API for clients
that cannot read the artifact store themselves, and deleted with their rows."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from sqlalchemy.orm import Session

from fermion.errors import NotFound
from fermion.store.context import ServerContext


def listing(context: ServerContext, uri: str) -> list[str]:
    return context.artifacts.list_files(context.artifacts.key_of(uri))


def chunks(context: ServerContext, uri: str, path: str, what: str) -> Iterator[bytes]:
    """The file's bytes in 1 MiB chunks; NotFound (before any byte) if it is not there."""
    key = f"{context.artifacts.key_of(uri)}/{path}"
    try:
        found = context.artifacts.is_file(key)  # keys with '..' are refused: they stay inside
    except ValueError:
        found = False
    if not found:
        raise NotFound(f"{what} has no file {path!r}")

    def read() -> Iterator[bytes]:
        with context.artifacts.open_read(key) as f:
            while chunk := f.read(1 << 20):
                yield chunk

    return read()


def delete_versions(
    context: ServerContext, session: Session, parent: Any, doomed: Sequence[Any]
) -> None:
    """Delete `doomed` versions of `parent` (the parent too when none would be left).
    Rows go first, files after: a crash in between leaves unreferenced files, never a
    row without its files."""
    uris = [v.uri for v in doomed]
    if len(doomed) == len(parent.versions):
        session.delete(parent)
    else:
        for version in doomed:
            session.delete(version)
    session.commit()
    for uri in uris:
        context.artifacts.delete(context.artifacts.key_of(uri))
