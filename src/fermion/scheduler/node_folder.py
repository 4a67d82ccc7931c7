"""A job's folder on a Ray node that does not mount the server's home.

The server packs what an attempt reads from its job's folder (the code, the checkpoints
of earlier attempts, its own home and token: all but the logs and the executor's state)
into a tar, put in Ray's object store. The node's actor unpacks it into a folder of its
own and runs the attempt there, every path of the spec moved into it (`NodeFolder.spec`).

As it runs, the server's poll asks the actor what changed (`NodeFolder.changes`) and
writes that into the job's folder on its side (`apply`): new whole lines of the log,
appended to the job's log, which the other nodes write to too; files that grew, by their
new bytes; files replaced or new, whole, each written beside and renamed in; files this
node had sent and has since removed, removed. The job's log (`fermion job logs -f`), its
state, checkpoints, TensorBoard events and artifacts are then on the server as they
would be with a shared filesystem, a poll later. A retry on another node is shipped the
checkpoints the server holds, so it resumes from what the lost node sent last.
"""

from __future__ import annotations

import dataclasses
import io
import os
import shutil
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Any

from fermion.scheduler.executor import Isolation, LaunchSpec

NOT_SHIPPED = ("logs", "attempts")  # written by the attempt, never read by it
SCAN_EVERY_S = 1.0  # walking the folder costs more than reading the log's new lines
MAX_BATCH_BYTES = 64 * 2**20  # more waits for the next batch: one answer stays quick

# {"log": new log bytes, "files": {rel path: (offset, bytes)}, "removed": [rel path]};
# offset 0: the whole file
Changes = dict[str, Any]


def pack(job_dir: Path) -> bytes:
    """What an attempt on another machine needs of its job's folder, as a tar."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for path in sorted(job_dir.iterdir()):
            if path.name not in NOT_SHIPPED:
                tar.add(path, arcname=path.name)
    return buffer.getvalue()


class NodeFolder:
    """On a node: the job's folder unpacked into a folder of the node's own, and what
    changed there since the server last asked."""

    def __init__(self, spec: LaunchSpec, packed: bytes, name: str) -> None:
        self.server_dir = str(spec.job_dir)
        self.root = Path(tempfile.gettempdir()) / "fermion-jobs" / name
        shutil.rmtree(self.root, ignore_errors=True)
        self.root.mkdir(parents=True)
        with tarfile.open(fileobj=io.BytesIO(packed)) as tar:
            tar.extractall(self.root, filter="tar")  # keeps modes: scripts stay runnable
        self.spec = self._moved(spec)
        for folder in (self.spec.log_path.parent, self.spec.attempt_dir):  # not shipped
            folder.mkdir(parents=True, exist_ok=True)
        self.log = self.spec.log_path
        self.log_sent = 0
        self.sent: dict[str, tuple[int, int, int]] = self._scan()  # as shipped
        self.scanned_at = 0.0

    def _move(self, value: str) -> str:
        for server_path, node_path in self.moves.items():
            value = value.replace(server_path, node_path)
        return value

    def _moved(self, spec: LaunchSpec) -> LaunchSpec:
        self.moves = {self.server_dir: str(self.root)}
        cache = spec.env.get("FERMION_CACHE_DIR")
        if cache:  # the workspace's cache, on the server's disk: one on this node's
            node_cache = self.root.parent / "cache" / Path(cache).name
            node_cache.mkdir(parents=True, exist_ok=True)
            self.moves[cache] = str(node_cache)
        isolation = spec.isolation and Isolation(
            hide=spec.isolation.hide,
            keep=[Path(self._move(str(p))) for p in spec.isolation.keep],
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

    def _scan(self) -> dict[str, tuple[int, int, int]]:
        found = {}
        for folder, _, names in os.walk(self.root):
            for name in names:
                path = Path(folder, name)
                if path == self.log:
                    continue
                try:
                    st = path.lstat()
                except OSError:  # removed while walking
                    continue
                if path.is_file() and not path.is_symlink():
                    rel = path.relative_to(self.root).as_posix()
                    found[rel] = (st.st_ino, st.st_size, st.st_mtime_ns)
        return found

    def changes(self, final: bool = False, scan: bool = False) -> Changes:
        """What the server does not have yet. `final`: the attempt has ended here, so the
        log's last line goes too, whole or not. The files are looked at every
        SCAN_EVERY_S, or now with `scan`."""
        found: Changes = {"log": self._new_log(final), "files": {}, "removed": []}
        if not (final or scan) and time.monotonic() - self.scanned_at < SCAN_EVERY_S:
            return found
        self.scanned_at = time.monotonic()
        now, room = self._scan(), MAX_BATCH_BYTES
        # The supervisor's exit.json last: the server takes the attempt as ended once it
        # has it, so it comes with (or after) everything else.
        for rel in sorted(now, key=lambda rel: (rel.endswith("/exit.json"), rel)):
            inode, size, mtime = now[rel]
            before = self.sent.get(rel)
            if before == (inode, size, mtime):
                continue
            if room <= 0:  # the rest in the next batch
                self.scanned_at = 0.0
                break
            # A file that grew in place (a log, TensorBoard's events) sends its new bytes.
            offset = before[1] if before and before[0] == inode and size > before[1] else 0
            try:
                with open(self.root / rel, "rb") as f:
                    f.seek(offset)
                    data = f.read(size - offset)
            except OSError:  # removed since the scan: the next one says so
                continue
            found["files"][rel] = (offset, data)
            room -= len(data)
            self.sent[rel] = (inode, size, mtime)
        found["removed"] = [rel for rel in self.sent if rel not in now]
        for rel in found["removed"]:
            del self.sent[rel]
        return found

    def _new_log(self, final: bool) -> bytes:
        try:
            with open(self.log, "rb") as f:
                f.seek(self.log_sent)
                data = f.read()
        except OSError:
            return b""
        if not final:  # whole lines only: other nodes' lines go between them
            data = data[: data.rfind(b"\n") + 1]
        self.log_sent += len(data)
        return data

    def discard(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


def apply(changes: Changes, job_dir: Path, log_path: Path) -> None:
    """Write a node's changes into the job's folder on the server."""
    if changes["log"]:
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(log_path, "ab") as f:
            f.write(changes["log"])
    job_dir = job_dir.resolve()
    for rel, (offset, data) in changes["files"].items():
        path = _inside(job_dir, rel)
        path.parent.mkdir(parents=True, exist_ok=True)
        if offset and path.exists():
            with open(path, "r+b") as f:
                f.seek(offset)
                f.write(data)
                f.truncate()
            continue
        tmp = path.with_name(f".{path.name}.fermion-tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)
    for rel in changes["removed"]:
        path = _inside(job_dir, rel)
        path.unlink(missing_ok=True)
        for parent in path.parents:  # folders it leaves empty (a checkpoint swapped out)
            if parent == job_dir or any(parent.iterdir()):
                break
            parent.rmdir()


def _inside(job_dir: Path, rel: str) -> Path:
    """A node's path, held to the job's folder: a node names no other file."""
    path = (job_dir / rel).resolve()
    if not path.is_relative_to(job_dir):
        raise ValueError(f"a node sent a path outside the job's folder: {rel!r}")
    return path
