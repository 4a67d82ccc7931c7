"""Where a dataset comes from: a local path or any fsspec URL, opened as (fs, root)."""

from __future__ import annotations

import functools
import json
import os
import posixpath
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import fsspec
from fsspec import AbstractFileSystem
from fsspec.implementations.local import LocalFileSystem

from fermion.errors import FermionError, InvalidInput


@contextmanager
def reading(source: str) -> Iterator[None]:
    """Failures of the storage behind a source (no credentials, access denied, a server
    that does not answer) as a clear error about that source, not a server fault."""
    try:
        yield
    except FermionError:
        raise
    except OSError as exc:  # PermissionError, FileNotFoundError, timeouts, ...
        raise InvalidInput(f"cannot read dataset source {source}: {_describe(exc)}") from None
    except Exception as exc:  # noqa: BLE001 - storage SDKs raise their own error classes
        if type(exc).__module__.split(".")[0] not in STORAGE_LIBRARIES:
            raise
        raise InvalidInput(f"cannot read dataset source {source}: {_describe(exc)}") from None


# The packages behind fsspec's object stores, whose errors mean "that storage refused".
STORAGE_LIBRARIES = {
    "botocore",
    "aiobotocore",
    "s3fs",
    "gcsfs",
    "google",
    "adlfs",
    "azure",
    "aiohttp",
    "fsspec",
}


def _describe(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    hint = ""
    refused = ("credential", "forbidden", "access denied", "signature", "invalidaccesskey")
    if any(word in text.lower() for word in refused) or isinstance(exc, PermissionError):
        hint = (
            "; check the credentials: give them as secrets (fermion secret set"
            " AWS_ACCESS_KEY_ID ..., then --secret AWS_ACCESS_KEY_ID --secret"
            " AWS_SECRET_ACCESS_KEY), or the server uses its own (AWS_* in its environment)"
        )
    return f"{type(exc).__name__}: {text[:300]}{hint}"


# The credentials a source may be read with, by protocol: variable -> fsspec option.
CREDENTIALS = {
    "s3": {
        "AWS_ACCESS_KEY_ID": "key",
        "AWS_SECRET_ACCESS_KEY": "secret",
        "AWS_SESSION_TOKEN": "token",
    },
    "az": {
        "AZURE_STORAGE_ACCOUNT_NAME": "account_name",
        "AZURE_STORAGE_ACCOUNT_KEY": "account_key",
        "AZURE_STORAGE_CONNECTION_STRING": "connection_string",
        "AZURE_STORAGE_SAS_TOKEN": "sas_token",
    },
    "gs": {"GOOGLE_SERVICE_ACCOUNT_JSON": "token"},  # the key file's JSON text
}
ALIASES = {"s3a": "s3", "gcs": "gs", "abfs": "az", "abfss": "az"}


def credential_options(url: str, values: dict[str, str]) -> dict[str, Any]:
    """fsspec options for `url` from credentials by variable name (from secrets)."""
    if not values:
        return {}
    protocol = url.partition("://")[0].lower() if "://" in url else "file"
    known = CREDENTIALS.get(ALIASES.get(protocol, protocol))
    if known is None:
        raise InvalidInput(
            f"secrets give the credentials of an s3://, gs:// or az:// source; {url} is read"
            " without them"
        )
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise InvalidInput(
            f"{unknown[0]} is not a credential of a {protocol}:// source; name its secret as"
            f" one of {', '.join(known)} (--secret VARIABLE=SECRET_NAME)"
        )
    options = {known[name]: value for name, value in values.items()}
    if "token" in options and protocol in ("gs", "gcs"):
        try:
            token = json.loads(options["token"])
        except ValueError:
            token = None
        if not isinstance(token, dict):  # a string would name a file on the server
            raise InvalidInput("GOOGLE_SERVICE_ACCOUNT_JSON must hold a key file's JSON object")
        options["token"] = token
    return options


# What a dataset source may be: a local path, or an object store every node reaches.
# Archives (zip://, tar://), FTP, hubs and plain HTTP are refused by name: each either
# needs options a URL cannot carry or reaches places the server should not read.
PROTOCOLS = ("file", "local", "s3", "s3a", "gs", "gcs", "az", "abfs", "abfss")


@dataclass
class Source:
    fs: AbstractFileSystem
    root: str  # a folder, or a single file (manifest, CSV, JSONL, Parquet)
    display: str  # how messages name it

    @classmethod
    def open(
        cls, url: str, display: str | None = None, options: dict[str, Any] | None = None
    ) -> Source:
        """`options`: fsspec storage options (credentials_options gives them)."""
        protocol = url.partition("://")[0].lower() if "://" in url else "file"
        if "::" in url or protocol not in PROTOCOLS:
            raise InvalidInput(
                f"dataset source {url!r}: {protocol}:// is not a source Fermion reads; give a"
                " local path (or --upload it from your machine), or an s3://, gs:// or az://"
                " URL"
            )
        source = display or url
        with reading(source):
            try:
                fs, root = fsspec.core.url_to_fs(url, **(options or {}))
            except (ImportError, TypeError, ValueError) as exc:
                raise InvalidInput(f"cannot open dataset source {url!r}: {exc}") from None
            if not fs.exists(root):
                raise InvalidInput(f"dataset source {source} does not exist")
        return cls(fs=fs, root=root.rstrip("/") or "/", display=source)

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

    def walk_files(self) -> Iterator[tuple[str, str, bool]]:
        """Every file under a folder source as (path, path relative to the root, whether
        it escapes the root through a link), in a fixed order: folders top down, names
        sorted, hidden files and folders left out. One folder listing in memory at a time."""
        if isinstance(self.fs, LocalFileSystem):
            yield from self._walk_local(self.root, self.root, inside=True, seen=set())
            return
        for folder, subfolders, files in self.fs.walk(self.root, topdown=True):
            # Sorting in place fixes the order walk descends in; hidden folders are pruned.
            subfolders[:] = sorted(d for d in subfolders if not d.startswith("."))
            for file in sorted(f for f in files if not f.startswith(".")):
                path = posixpath.join(folder, file)
                yield path, posixpath.relpath(path, self.root), not self.is_inside(path)

    def _walk_local(
        self, folder: str, relative: str, inside: bool, seen: set[str]
    ) -> Iterator[tuple[str, str, bool]]:
        """The local walk without a realpath per file: only links are resolved (a file is
        inside when it is no link and its folder is inside). A folder reached twice
        through links is listed once."""
        real = posixpath.realpath(folder)
        if real in seen:
            return
        seen.add(real)
        with os.scandir(folder) as listing:
            entries = sorted((e for e in listing if not e.name.startswith(".")), key=_name)
        prefix = "" if folder == self.root else relative + "/"
        folders = []
        for entry in entries:
            escapes = not inside or (entry.is_symlink() and not self.is_inside(entry.path))
            if entry.is_dir():
                folders.append((entry, not escapes))
            else:
                yield entry.path, prefix + entry.name, escapes
        for entry, folder_inside in folders:
            yield from self._walk_local(entry.path, prefix + entry.name, folder_inside, seen)

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


def _name(entry: os.DirEntry) -> str:
    return entry.name
