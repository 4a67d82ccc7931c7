"""Where a dataset comes from: a local path or any fsspec URL, opened as (fs, root)."""

from __future__ import annotations

import functools
import posixpath
from dataclasses import dataclass

import fsspec
from fsspec import AbstractFileSystem
from fsspec.implementations.local import LocalFileSystem

from fermion.errors import InvalidInput


@dataclass
class Source:
    fs: AbstractFileSystem
    root: str  # a folder, or a single file (manifest, CSV, JSONL, Parquet)
    display: str  # how messages name it

    @classmethod
    def open(cls, url: str, display: str | None = None) -> Source:
        try:
            fs, root = fsspec.core.url_to_fs(url)
        except (ImportError, ValueError) as exc:
            raise InvalidInput(f"cannot open dataset source {url!r}: {exc}") from None
        if not fs.exists(root):
            raise InvalidInput(f"dataset source {display or url} does not exist")
        return cls(fs=fs, root=root.rstrip("/") or "/", display=display or url)

    @property
    def is_dir(self) -> bool:
        return self.fs.isdir(self.root)

    @property
    def base_dir(self) -> str:
        """The folder that relative paths in a manifest are resolved against."""
        return self.root if self.is_dir else posixpath.dirname(self.root)

    @property
    def name(self) -> str:
        """The file or folder name, as problem reports name it."""
        return posixpath.basename(self.root)

    @property
    def suffix(self) -> str:
        return posixpath.splitext(self.root)[1].lower()

    def relative(self, path: str) -> str:
        return posixpath.relpath(path, self.base_dir)

    def resolve_inside(self, relative_path: str) -> str | None:
        """The full path of a manifest entry, or None when it escapes the source root."""
        if not relative_path or posixpath.isabs(relative_path) or "://" in relative_path:
            return None
        joined = posixpath.normpath(posixpath.join(self.base_dir, relative_path))
        if not self.is_inside(joined):
            return None
        return joined

    def is_inside(self, path: str) -> bool:
        base = self._real_base
        if isinstance(self.fs, LocalFileSystem):
            # Follow symlinks: a link that points outside the root escapes it too.
            path = posixpath.realpath(path)
        return path == base or path.startswith(base.rstrip("/") + "/")

    @functools.cached_property
    def _real_base(self) -> str:
        base = self.base_dir
        return posixpath.realpath(base) if isinstance(self.fs, LocalFileSystem) else base
