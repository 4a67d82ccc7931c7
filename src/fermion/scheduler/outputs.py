"""Reading a job's files with the server's own rights: its logs, its output, its model.

The job owns its folder and may change it while the server reads: a check of the paths
followed by a read would let it swap a file for a link to the server's database between
the two. So every step opens relative to the folder already opened, refuses links
(O_NOFOLLOW) and anything that is not a plain file or folder, and reads what it opened.
A model folder is also bounded (MAX_COPY_BYTES, MAX_DEPTH) and may hold no hard link.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from fermion.errors import Forbidden, InvalidInput

_FOLDER = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW
_FILE = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK  # a planted FIFO must not block us
MAX_COPY_BYTES = 64 * 2**30
MAX_DEPTH = 32


def open_job_file(root: Path, relative: str) -> BinaryIO | None:
    """The plain file `relative` under the job's folder `root`, opened without following
    a link at any step; None where there is none (or a link or special file instead)."""
    parts = PurePosixPath(relative).parts
    if not parts or PurePosixPath(relative).is_absolute() or ".." in parts:
        return None
    try:
        fd = os.open(root, _FOLDER)
    except OSError:
        return None
    try:
        for part in parts[:-1]:
            inner = os.open(part, _FOLDER, dir_fd=fd)
            os.close(fd)
            fd = inner
        child = os.open(parts[-1], _FILE, dir_fd=fd)
    except OSError:
        return None
    finally:
        os.close(fd)
    if not stat.S_ISREG(os.fstat(child).st_mode):
        os.close(child)
        return None
    return os.fdopen(child, "rb")


def read_job_file(root: Path, path: Path, offset: int = 0) -> bytes:
    """What the job's file at `path` (under `root`) holds from `offset`; b"" where there
    is no plain file."""
    f = open_job_file(root, path.relative_to(root).as_posix())
    if f is None:
        return b""
    with f:
        f.seek(offset)
        return f.read()


def plain_files(folder: Path) -> Iterator[tuple[str, BinaryIO]]:
    """(relative path, opened file) for every plain file under `folder`, found and opened
    without following links; links and special files are left out."""
    try:
        fd = os.open(folder, _FOLDER)
    except OSError:
        return
    try:
        yield from _plain_files(fd, PurePosixPath())
    finally:
        os.close(fd)


def _plain_files(fd: int, where: PurePosixPath) -> Iterator[tuple[str, BinaryIO]]:
    for name in sorted(os.listdir(fd)):
        try:
            child = os.open(name, _FILE, dir_fd=fd)
        except OSError:
            continue  # a link, or gone
        mode = os.fstat(child).st_mode
        if stat.S_ISDIR(mode) and len(where.parts) < MAX_DEPTH:
            try:
                yield from _plain_files(child, where / name)
            finally:
                os.close(child)
        elif stat.S_ISREG(mode):
            with os.fdopen(child, "rb") as f:
                yield str(where / name), f
        else:
            os.close(child)


def copy_job_folder(output: Path, folder: str, dest: Path, job_id: int) -> Path:
    """Copy `folder` (relative to the job's `output`) to `dest`, which must not exist."""
    parts = PurePosixPath(folder).parts
    if PurePosixPath(folder).is_absolute() or ".." in parts:
        raise Forbidden(f"job {job_id} may register a folder of its own output only, not {folder}")
    fd = _open(str(output), _FOLDER, folder, job_id)
    try:
        for part in (p for p in parts if p != "."):
            inner = _open(part, _FOLDER, folder, job_id, dir_fd=fd)
            os.close(fd)
            fd = inner
        _copy_tree(fd, dest, job_id, PurePosixPath(folder), [MAX_COPY_BYTES])
    except OSError as e:  # names too long for the copy, a file vanishing mid-read, ...
        raise InvalidInput(f"job {job_id}'s model folder could not be copied: {e}") from None
    finally:
        os.close(fd)
    return dest


def _open(path: str, flags: int, folder: str, job_id: int, dir_fd: int | None = None) -> int:
    try:
        return os.open(path, flags, dir_fd=dir_fd)
    except FileNotFoundError:
        raise InvalidInput(
            f"job {job_id} has no model to register: {folder}/ does not exist"
        ) from None
    except OSError as e:  # ELOOP or ENOTDIR: a link or a file where a folder should be
        raise Forbidden(
            f"job {job_id} may register a plain folder of its own output only; {folder}"
            f" is a link or not a folder ({e.strerror})"
        ) from None


def _copy_tree(fd: int, dest: Path, job_id: int, where: PurePosixPath, budget: list[int]) -> None:
    if len(where.parts) > MAX_DEPTH:
        raise Forbidden(f"job {job_id}'s model folder is nested deeper than {MAX_DEPTH} levels")
    dest.mkdir()
    for name in os.listdir(fd):
        try:
            child = os.open(name, _FILE, dir_fd=fd)
        except OSError as e:  # ELOOP: a link, planted before or after the listing
            raise Forbidden(
                f"job {job_id}'s model folder has a link or special file ({where / name}:"
                f" {e.strerror}); write the files themselves"
            ) from None
        try:
            info = os.fstat(child)
            if stat.S_ISDIR(info.st_mode):
                _copy_tree(child, dest / name, job_id, where / name, budget)
            elif stat.S_ISREG(info.st_mode) and info.st_nlink == 1:
                _copy_file(child, dest / name, job_id, budget)
            else:
                raise Forbidden(
                    f"job {job_id}'s model folder has {where / name}, which is not a plain"
                    " file or folder (or is a hard link); write the files themselves"
                )
        finally:
            os.close(child)


def _copy_file(fd: int, dest: Path, job_id: int, budget: list[int]) -> None:
    """Copy what `fd` holds, counting it against the budget left (a file that grows
    while it is read counts as it grows)."""
    with os.fdopen(os.dup(fd), "rb") as src, open(dest, "wb") as out:
        while chunk := src.read(1 << 20):
            budget[0] -= len(chunk)
            if budget[0] < 0:
                raise Forbidden(
                    f"job {job_id}'s model folder is over {MAX_COPY_BYTES >> 30} GiB; a model"
                    " folder holds the model's files only"
                )
            out.write(chunk)
