"""Which local folders the server reads dataset sources from.

A caller names a path and the server reads it with its own rights, so an unchecked path
would let any member read the server's machine (/etc, other users' files, the server's
own database). Local sources must lie under the configured roots (FERMION_SOURCE_ROOTS;
by default the home folder of the user running the server and the temporary folder), and
neither inside nor around the server's own home, its artifact store or its user's
credential folders (~/.ssh, ~/.aws, ...): a source of `~` would take `~/.fermion` along. The path is resolved first, so
neither `..` nor a symbolic link leads out. A source outside is refused with
SourceOutsideRoots, on which the CLI and SDK upload it instead: uploads work from
anywhere. Remote sources are object stores only (datasets/source.py refuses http://),
reached through the server's own configured endpoints.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from fermion.errors import SourceOutsideRoots
from fermion.scheduler.confinement import CREDENTIAL_DIRS
from fermion.settings import Settings


def roots(settings: Settings) -> list[Path]:
    if settings.source_roots:
        given = [p for p in settings.source_roots.split(os.pathsep) if p.strip()]
    else:
        given = [str(Path.home()), tempfile.gettempdir()]
    return [Path(p).expanduser().resolve() for p in given]


def forbidden(settings: Settings, store: Path | None) -> list[Path]:
    """The server's own files and its user's credentials: never a dataset source, nor
    any part of one, whatever the roots."""
    own = [settings.home.resolve(), *(Path.home() / name for name in CREDENTIAL_DIRS)]
    return [p.resolve() for p in own] + ([store.resolve()] if store is not None else [])


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


# Names of one object store's protocol, as fsspec takes them.
SAME_STORE = {"s3a": "s3", "gcs": "gs", "abfs": "az", "abfss": "az"}


def _store_path(url: str) -> tuple[str, str]:
    protocol, _, path = url.partition("://")
    protocol = protocol.lower()
    return SAME_STORE.get(protocol, protocol), path.strip("/")


def checked(settings: Settings, store: Path | None, source: str) -> str:
    """The source as the server reads it: a local path resolved (`~` and links taken),
    refused outside the roots or inside or around the server's own files; a URL refused
    inside or around the server's own artifact store."""
    protocol = source.partition("://")[0].lower() if "://" in source else "file"
    if protocol not in ("file", "local"):
        _check_remote(settings, source)
        return source
    given = source.partition("://")[2] if "://" in source else source
    path = Path(given).expanduser().resolve()
    own = [f for f in forbidden(settings, store) if _inside(path, f) or _inside(f, path)]
    allowed = roots(settings)
    if own or not any(_inside(path, root) for root in allowed):
        where = (
            f"reaches the server's own files ({own[0]}), never a source"
            if own
            else "is outside the folders the server reads sources from"
        )
        raise SourceOutsideRoots(
            f"dataset source {source} {where}; the server reads sources from"
            f" {os.pathsep.join(str(r) for r in allowed)} (FERMION_SOURCE_ROOTS sets them);"
            " upload it from your machine instead: fermion dataset create --upload"
        )
    return str(path)


def _check_remote(settings: Settings, source: str) -> None:
    """The artifact store holds every workspace's files, read with the server's own
    credentials: never a source, nor a folder around it."""
    if "://" not in settings.resolved_artifact_url:
        return
    store, wanted = _store_path(settings.resolved_artifact_url), _store_path(source)
    if store[0] != wanted[0]:
        return
    a, b = store[1], wanted[1]
    if a == b or a.startswith(b + "/") or b.startswith(a + "/") or not b:
        raise SourceOutsideRoots(
            f"dataset source {source} reaches the server's artifact store"
            f" ({settings.resolved_artifact_url}), never a source; name the data's own"
            " bucket or folder"
        )
