"""Copying a folder out of a job's output with the server's own rights.

The job owns its output and may change it while the server reads: a check of the paths
followed by a copy would let it swap a file for a link to the server's database between
the two. So every step opens relative to the folder already opened, refuses links
(O_NOFOLLOW) and anything that is not a plain file or folder, and reads what it opened.
"""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path, PurePosixPath

from fermion.errors import Forbidden, InvalidInput

_FOLDER = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW
_FILE = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK  # a planted FIFO must not block us


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
        _copy_tree(fd, dest, job_id, PurePosixPath(folder))
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


def _copy_tree(fd: int, dest: Path, job_id: int, where: PurePosixPath) -> None:
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
            mode = os.fstat(child).st_mode
            if stat.S_ISDIR(mode):
                _copy_tree(child, dest / name, job_id, where / name)
            elif stat.S_ISREG(mode):
                with os.fdopen(os.dup(child), "rb") as src, open(dest / name, "wb") as out:
                    shutil.copyfileobj(src, out, 1 << 20)
            else:
                raise Forbidden(
                    f"job {job_id}'s model folder has {where / name}, which is not a plain"
                    " file or folder; write the files themselves"
                )
        finally:
            os.close(child)
