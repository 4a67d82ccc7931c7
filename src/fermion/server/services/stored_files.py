"""Files of a stored version (dataset or model), served through the API for clients
that cannot read the artifact store themselves."""

from __future__ import annotations

from collections.abc import Iterator

from fermion.errors import NotFound
from fermion.server.context import ServerContext


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
