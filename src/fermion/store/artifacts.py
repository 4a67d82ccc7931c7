"""ArtifactStore: every file Fermion keeps (dataset shards, checkpoints, models,
logs) goes through here, on a local folder or any fsspec URL (s3://bucket/prefix).

Writes are atomic: on a local folder a file is written beside its destination and
renamed over it; on object stores a PUT becomes visible only once complete. A
reader never sees half a file.

A file may be sealed at rest (sealing.py): writers pass the `Seal` of its workspace's
data key, and readers need nothing: `open_read` sees a sealed file by its header and
opens it with the key it names (through `data_key`, set by the server).
"""

from __future__ import annotations

import io
import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import fsspec
from fsspec.implementations.local import LocalFileSystem

from fermion.store.sealing import (
    HEADER,
    SEGMENT,
    OpeningReader,
    Seal,
    SealedFileError,
    SealingWriter,
    key_id_of,
)


class ArtifactStore:
    def __init__(self, url: str, options: dict[str, Any] | None = None) -> None:
        self.url = url.rstrip("/")
        self.options = dict(options or {})
        self.fs, root = fsspec.core.url_to_fs(self.url, **self.options)
        self.root = root.rstrip("/")
        # key id -> data key, to open sealed files (keyring.Keyring.data_key)
        self.data_key: Callable[[int], bytes] | None = None
        if self.is_local:
            Path(self.root).mkdir(parents=True, exist_ok=True)

    @property
    def is_local(self) -> bool:
        return isinstance(self.fs, LocalFileSystem)

    def path(self, key: str) -> str:
        """The filesystem path of a key (relative to the store root)."""
        key = key.strip("/")
        if ".." in key.split("/"):
            raise ValueError(f"artifact key {key!r} must not contain '..'")
        return f"{self.root}/{key}" if key else self.root

    def uri(self, key: str) -> str:
        """A URL for the key that fsspec (and so any process) can open."""
        path = self.path(key)
        return path if self.is_local else self.fs.unstrip_protocol(path)

    def key_of(self, uri: str) -> str:
        """The key of a URI that `uri()` made."""
        base = self.uri("")
        if not uri.startswith(base):
            raise ValueError(f"{uri!r} is not in the artifact store at {self.url!r}")
        return uri[len(base) :].strip("/")

    def local_path(self, key: str) -> Path | None:
        """The key as a local path, when the store is a local folder."""
        return Path(self.path(key)) if self.is_local else None

    # -- writing ------------------------------------------------------------
    @contextmanager
    def open_write(self, key: str, seal: Seal | None = None) -> Iterator[IO[bytes]]:
        """A file to write `key` through, atomically; sealed when `seal` is given."""
        if seal is None:
            with self._open_write(key) as f:
                yield f
            return
        with self._open_write(key) as raw:
            sealing = SealingWriter(raw, seal.key_id, seal.key, key)
            yield sealing  # type: ignore[misc]
            sealing.close()  # the last segment: only on success, else the file is dropped

    @contextmanager
    def _open_write(self, key: str) -> Iterator[IO[bytes]]:
        dest = self.path(key)
        if not self.is_local:
            f = self.fs.open(dest, "wb")
            try:
                yield f
            except BaseException:
                # Closing would complete the upload; abort it so no partial object appears.
                if hasattr(f, "discard"):
                    f.discard()
                f.closed = True
                raise
            f.close()
            return
        Path(dest).parent.mkdir(parents=True, exist_ok=True)
        tmp = f"{dest}.tmp-{uuid.uuid4().hex}"
        try:
            with open(tmp, "wb") as f:
                yield f
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, dest)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)

    def write_bytes(self, key: str, data: bytes, seal: Seal | None = None) -> None:
        with self.open_write(key, seal) as f:
            f.write(data)

    def put_file(
        self, local: str | Path, key: str, move: bool = False, seal: Seal | None = None
    ) -> None:
        """Copy (or, on a local store, move) a local file to `key`, atomically."""
        dest = self.path(key)
        if seal is not None:
            with open(local, "rb") as src, self.open_write(key, seal) as dst:
                shutil.copyfileobj(src, dst, SEGMENT)
            if move:
                os.unlink(local)
            return
        if self.is_local and move:
            Path(dest).parent.mkdir(parents=True, exist_ok=True)
            try:
                os.replace(local, dest)  # same filesystem: a rename is atomic
                return
            except OSError:
                pass  # another filesystem: fall through to a copy
        if self.is_local:
            with open(local, "rb") as src, self.open_write(key) as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
        else:
            self.fs.put_file(str(local), dest)

    def put_dir(
        self, local_dir: str | Path, key: str, move: bool = False, seal: Seal | None = None
    ) -> int:
        """Write every file under `local_dir` below `key`; returns the bytes written."""
        total = 0
        base = Path(local_dir)
        for file in sorted(p for p in base.rglob("*") if p.is_file()):
            total += file.stat().st_size
            self.put_file(file, f"{key}/{file.relative_to(base).as_posix()}", move, seal)
        return total

    # -- reading ------------------------------------------------------------
    def exists(self, key: str) -> bool:
        return self.fs.exists(self.path(key))

    def is_file(self, key: str) -> bool:
        return self.fs.isfile(self.path(key))

    def open_read(self, key: str) -> IO[bytes]:
        """The file's bytes, opened (as plaintext) when it is sealed."""
        raw = self.fs.open(self.path(key), "rb")
        try:
            if key_id_of(raw.read(HEADER.size)) is None:
                raw.seek(0)
                return raw
            if self.data_key is None:
                raise SealedFileError(f"{key} is sealed and this store holds no keys")
            return io.BufferedReader(OpeningReader(raw, self.data_key, key), SEGMENT)
        except BaseException:
            raw.close()
            raise

    def sealed_with(self, key: str) -> int | None:
        """The id of the data key that sealed the file, or None for a plain file."""
        with self.fs.open(self.path(key), "rb") as f:
            return key_id_of(f.read(HEADER.size))

    def read_bytes(self, key: str) -> bytes:
        with self.open_read(key) as f:
            return f.read()

    def list_files(self, key: str) -> list[str]:
        """Keys of all files below `key`, relative to it, sorted."""
        base = self.path(key)
        if not self.fs.exists(base):
            return []
        found = self.fs.find(base)
        prefix = base.rstrip("/") + "/"
        return sorted(p.removeprefix(prefix) for p in found if p.startswith(prefix))

    def size(self, key: str) -> int:
        return sum(self.fs.size(self.path(f"{key}/{rel}")) for rel in self.list_files(key))

    # -- deleting -----------------------------------------------------------
    def delete(self, key: str) -> None:
        path = self.path(key)
        if self.fs.exists(path):
            self.fs.rm(path, recursive=True)
