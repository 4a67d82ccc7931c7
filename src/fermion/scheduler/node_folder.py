"""A job's folder on a Ray node that does not mount the server's home.

The server packs what an attempt reads from its job's folder (the code, the checkpoints
of earlier attempts, its own home and token: all but the logs and the executor's state)
into a tar, put in Ray's object store once the node's actor says it cannot see the home.
The actor unpacks it into a folder of its own and runs the attempt there, every path of
the spec moved into it (`NodeFolder.spec`).

As it runs, the server's poll asks the actor what changed (`NodeFolder.changes`) and
writes that into the job's folder on its side (`apply`): new whole lines of the log,
appended to the job's log, which the other nodes write to too; files that grew, by their
new bytes; files replaced or new, whole (in pieces when large, renamed in when the last
piece is written); files removed, removed. Each batch holds at most MAX_BATCH_BYTES. The
job's log (`fermion job logs -f`), its state, checkpoints, TensorBoard events and
artifacts are then on the server as they would be with a shared filesystem, a poll
later. A retry on another node is shipped the checkpoints the server holds, so it
resumes from what the lost node sent last.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import io
import os
import re
import shutil
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Any

from fermion.scheduler.executor import Isolation, LaunchSpec

NOT_SHIPPED = ("logs", "attempts")  # written by the attempt, never read by it
SCAN_EVERY_S = 1.0  # walking the folder costs more than reading the log's new lines
MAX_BATCH_BYTES = 32 * 2**20  # more waits for the next batch: one answer stays quick
TAIL_BYTES = 4096  # what must still match for a grown file to be sent as an append
CACHE = "cache"  # beside the jobs' folders: what the node keeps for every job
PART = ".fermion-part"

# {"log": bytes, "files": {rel: (offset, bytes, "whole" | "append", last piece)},
#  "removed": [rel], "left": whether more waits for the next batch}
Changes = dict[str, Any]


def node_base() -> Path:
    """Where a node keeps the folders of the jobs it runs for servers it does not share
    a disk with, and their caches; its user's alone."""
    base = Path(tempfile.gettempdir()) / "fermion-jobs"
    base.mkdir(mode=0o700, exist_ok=True)
    return base


def pack(job_dir: Path) -> bytes:
    """What an attempt on another machine needs of its job's folder, as a tar."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for path in sorted(job_dir.iterdir()):
            if path.name not in NOT_SHIPPED:
                tar.add(path, arcname=path.name)
    return buffer.getvalue()


def sweep(prefix: str, alive: set[str]) -> None:
    """Remove the folders of this server's attempts (names starting with `prefix`) whose
    actor is gone: ended without being told to clean up (its node's process killed, the
    server gone). Other servers' and other clusters' folders on this machine are theirs."""
    for folder in node_base().glob(f"{prefix}*"):
        if folder.name not in alive:
            shutil.rmtree(folder, ignore_errors=True)


class NodeFolder:
    """On a node: the job's folder unpacked into a folder of the node's own, and what
    changed there since the server last asked."""

    def __init__(self, spec: LaunchSpec, packed: bytes, name: str) -> None:
        self.server_dir = str(spec.job_dir)
        self.root = node_base() / name
        shutil.rmtree(self.root, ignore_errors=True)
        self.root.mkdir()
        with tarfile.open(fileobj=io.BytesIO(packed)) as tar:
            tar.extractall(self.root, filter="tar")  # keeps modes: scripts stay runnable
        self.spec = self._moved(spec)
        for folder in (self.spec.log_path.parent, self.spec.attempt_dir):  # not shipped
            folder.mkdir(parents=True, exist_ok=True)
        self.log = self.spec.log_path
        self.log_sent = 0
        # As shipped; their tails unread (a shipped file that grows is sent whole).
        self.sent = {rel: (*key, None) for rel, key in self._scan().items()}
        self.partial: dict[str, tuple] = {}  # rel -> (key, sent up to, how): in pieces
        self.scanned_at = 0.0
        self.discarded = False

    # -- the spec, moved here ---------------------------------------------------------
    def _move(self, value: str) -> str:
        for server_path, node_path in self.moves:
            value = server_path.sub(lambda _: node_path, value)  # noqa: B023 - used at once
        return value

    def _moved(self, spec: LaunchSpec) -> LaunchSpec:
        def path(server: str) -> re.Pattern:  # the path itself or under it, not /jobs/12x
            return re.compile(re.escape(server) + r"(?![^/:\s,;=])")

        self.moves = [(path(self.server_dir), str(self.root))]
        keep = [self.root]
        cache = spec.env.get("FERMION_CACHE_DIR")
        if cache:  # the workspace's cache, on the server's disk: one on this node's
            node_cache = self.root.parent / CACHE / Path(cache).name
            node_cache.mkdir(parents=True, exist_ok=True)
            self.moves.append((path(cache), str(node_cache)))
            keep.append(node_cache)
        isolation = spec.isolation and Isolation(
            # Other jobs' folders here, their tokens among them, as the server's home.
            hide=[*spec.isolation.hide, self.root.parent],
            keep=list(
                dict.fromkeys([*(Path(self._move(str(p))) for p in spec.isolation.keep), *keep])
            ),
        )
        return dataclasses.replace(
            spec,
            command=[self._move(a) for a in spec.command],
            env={k: self._move(v) for k, v in spec.env.items()},
            code_dir=Path(self._move(str(spec.code_dir))),
            attempt_dir=Path(self._move(str(spec.attempt_dir))),
            log_path=Path(self._move(str(spec.log_path))),
            job_dir=self.root,
            isolation=isolation,
        )

    # -- what changed -----------------------------------------------------------------
    def _scan(self) -> dict[str, tuple[int, int, int]]:
        found = {}
        for folder, _, names in os.walk(self.root):
            for name in names:
                path = Path(folder, name)
                try:
                    st = path.lstat()
                except OSError:  # removed while walking
                    continue
                if path != self.log and path.is_file() and not path.is_symlink():
                    rel = path.relative_to(self.root).as_posix()
                    found[rel] = (st.st_ino, st.st_size, st.st_mtime_ns)
        return found

    def _tail(self, rel: str, size: int) -> str:
        """A digest of the file's last bytes before `size`, as they are now."""
        with contextlib.suppress(OSError), open(self.root / rel, "rb") as f:
            f.seek(max(0, size - TAIL_BYTES))
            return hashlib.sha256(f.read(min(size, TAIL_BYTES))).hexdigest()
        return ""

    def changes(self, final: bool = False, scan: bool = False) -> Changes:
        """What the server does not have yet, at most MAX_BATCH_BYTES of it. `final`:
        the attempt has ended here, so the log's last line goes too, whole or not. The
        files are looked at every SCAN_EVERY_S, or now with `scan`."""
        found: Changes = {"log": b"", "files": {}, "removed": [], "left": False}
        if self.discarded or not self.root.is_dir():  # nothing to say, least of all "gone"
            return found
        found["log"], found["left"] = self._new_log(final, MAX_BATCH_BYTES)
        if not (final or scan) and time.monotonic() - self.scanned_at < SCAN_EVERY_S:
            found["left"] = True
            return found
        self.scanned_at = time.monotonic()
        now, room = self._scan(), MAX_BATCH_BYTES - len(found["log"])
        # The supervisor's exit.json last: the server takes the attempt as ended once it
        # has it, so it comes with (or after) everything else.
        for rel in sorted(now, key=lambda rel: (rel.endswith("/exit.json"), rel)):
            if self.sent.get(rel, (None,))[:3] == now[rel]:
                continue
            if room <= 0 or (found["left"] and rel.endswith("/exit.json")):
                found["left"] = True
                break
            piece = self._piece(rel, now[rel], room)
            if piece is not None:
                found["files"][rel] = piece
                room -= len(piece[1])
                found["left"] |= not piece[3]
        found["removed"] = [rel for rel in self.sent if rel not in now]
        for rel in found["removed"]:
            del self.sent[rel]
        for rel in [rel for rel in self.partial if rel not in now]:
            del self.partial[rel]
        return found

    def _piece(self, rel: str, key: tuple[int, int, int], room: int) -> tuple | None:
        inode, size, _ = key
        before, partial = self.sent.get(rel), self.partial.get(rel)
        if partial and partial[0] == key:  # a file going in pieces: the next one
            start, how = partial[1], partial[2]
        elif (
            before
            and before[0] == inode
            and size > before[1]
            and before[3] is not None
            and self._tail(rel, before[1]) == before[3]
        ):  # grown in place (a log, TensorBoard's events): its new bytes
            start, how = before[1], "append"
        else:
            start, how = 0, "whole"
        try:
            with open(self.root / rel, "rb") as f:
                f.seek(start)
                data = f.read(min(size - start, room))
        except OSError:  # removed since the scan: the next one says so
            return None
        last = start + len(data) >= size
        if last:
            self.sent[rel] = (*key, self._tail(rel, size))
            self.partial.pop(rel, None)
        else:
            self.partial[rel] = (key, start + len(data), how)
        return start, data, how, last

    def _new_log(self, final: bool, room: int) -> tuple[bytes, bool]:
        """The log's new bytes (whole lines, but at its end) and whether more waits."""
        try:
            with open(self.log, "rb") as f:
                f.seek(self.log_sent)
                data = f.read(room + 1)
        except OSError:
            return b"", False
        more = len(data) > room
        data = data[:room]
        if more or not final:  # other nodes' lines go between whole lines
            cut = data.rfind(b"\n") + 1
            data = data[:cut] if cut or not more else data  # a line longer than a batch
        self.log_sent += len(data)
        return data, more

    def discard(self) -> None:
        self.discarded = True
        shutil.rmtree(self.root, ignore_errors=True)


def apply(changes: Changes, job_dir: Path, log_path: Path) -> list[str]:
    """Write a node's changes into the job's folder on the server; what could not be
    written, said (the rest is written all the same)."""
    problems = []
    job_dir = job_dir.resolve()
    for rel, piece in changes["files"].items():
        try:
            _write_piece(_inside(job_dir, rel), *piece)
        except (OSError, ValueError) as exc:
            problems.append(f"{rel}: {exc}")
    for rel in changes["removed"]:
        with contextlib.suppress(OSError, ValueError):  # removed already (another rank)
            path = _inside(job_dir, rel)
            path.unlink(missing_ok=True)
            for parent in path.parents:  # folders it leaves empty (a checkpoint swapped)
                if parent == job_dir or any(parent.iterdir()):
                    break
                parent.rmdir()
    if changes["log"]:
        try:
            log_path.parent.mkdir(parents=True, exist_ok=True)
            with open(log_path, "ab") as f:
                f.write(changes["log"])
        except OSError as exc:
            problems.append(f"the log: {exc}")
    return problems


def _write_piece(path: Path, offset: int, data: bytes, how: str, last: bool) -> None:
    """A whole file goes to a part beside it, renamed in with its last piece; an append
    goes into the file at its offset."""
    path.parent.mkdir(parents=True, exist_ok=True)
    target = path if how == "append" else path.with_name(f".{path.name}{PART}")
    with open(target, "r+b" if offset and target.exists() else "wb") as f:
        f.seek(offset)
        f.write(data)
        f.truncate()
    if how == "whole" and last:
        os.replace(target, path)


def _inside(job_dir: Path, rel: str) -> Path:
    """A node's path, held to the job's folder: a node names no other file."""
    path = (job_dir / rel).resolve()
    if not path.is_relative_to(job_dir):
        raise ValueError(f"a node sent a path outside the job's folder: {rel!r}")
    return path
