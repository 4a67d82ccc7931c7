"""Pack a job's working directory, as git would see it: files matched by the root
.gitignore (and .fermionignore, for files git keeps but a job does not need) are left
out, and so is .git. Above the size limit the error names the largest files."""

from __future__ import annotations

import os
import tarfile
import tempfile
from pathlib import Path

import pathspec

from fermion.errors import InvalidInput
from fermion.resources import format_bytes

IGNORE_FILES = (".gitignore", ".fermionignore")
ALWAYS_IGNORED = [".git/"]


def _spec(root: Path) -> pathspec.GitIgnoreSpec:
    lines = list(ALWAYS_IGNORED)
    for name in IGNORE_FILES:
        if (root / name).is_file():
            lines += (root / name).read_text(errors="replace").splitlines()
    return pathspec.GitIgnoreSpec.from_lines(lines)


def collect(root: Path) -> list[tuple[str, int]]:
    """(relative path, size) of every file that ships, in a fixed order."""
    spec = _spec(root)
    found: list[tuple[str, int]] = []
    for folder, subfolders, files in os.walk(root):
        relative_folder = Path(folder).relative_to(root).as_posix()
        prefix = "" if relative_folder == "." else f"{relative_folder}/"
        subfolders[:] = sorted(d for d in subfolders if not spec.match_file(f"{prefix}{d}/"))
        for name in sorted(files):
            relative = f"{prefix}{name}"
            path = Path(folder) / name
            if not spec.match_file(relative) and (path.is_file() or path.is_symlink()):
                found.append((relative, path.lstat().st_size))
    return found


def pack_directory(root: Path, limit_bytes: int) -> Path:
    """A temporary tar.gz of `root`'s files under `code/`; the caller deletes it."""
    root = root.resolve()
    files = collect(root)
    total = sum(size for _, size in files)
    if total > limit_bytes:
        largest = sorted(files, key=lambda f: -f[1])[:5]
        listing = ", ".join(f"{name} ({format_bytes(size)})" for name, size in largest)
        raise InvalidInput(
            f"the working directory {root} has {format_bytes(total)} of files to ship with the"
            f" job, over the limit of {format_bytes(limit_bytes)}. Largest: {listing}. Add what"
            " the job does not need to .gitignore or .fermionignore (register data with"
            " `fermion dataset create`), or raise FERMION_MAX_CODE_MB."
        )
    handle, name = tempfile.mkstemp(suffix=".tar.gz", prefix="fermion-code-")
    os.close(handle)
    with tarfile.open(name, "w:gz") as tar:
        tar.add(root, arcname="code", recursive=False)
        for relative, _ in files:
            tar.add(root / relative, arcname=f"code/{relative}", recursive=False)
    return Path(name)
