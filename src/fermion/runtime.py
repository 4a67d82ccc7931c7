"""Inside a job: `fm.log`, `fm.save_artifact`, `fm.checkpoint_dir`.

The server starts a job with FERMION_URL, FERMION_TOKEN_FILE (where the job's own token
is), FERMION_JOB_ID and FERMION_JOB_DIR in its environment, so these need no setup. Run
outside a job they still work, on local folders, so a script can be tried by hand.

Under torchrun only rank 0 reports metrics: every rank may call `fm.log`.
"""

from __future__ import annotations

import atexit
import math
import os
import shutil
import sys
import threading
import time
import types
import uuid
from pathlib import Path
from typing import Any

from fermion.payloads.jobs import MAX_STEP

FLUSH_EVERY_S = 1.0


def job_id() -> int | None:
    value = os.environ.get("FERMION_JOB_ID")
    return int(value) if value else None


def _job_dir() -> Path:
    return Path(os.environ.get("FERMION_JOB_DIR") or ".")


def is_rank_zero() -> bool:
    return os.environ.get("RANK", "0") == "0"


def checkpoint_dir() -> Path:
    """A folder that survives retries of this job: save checkpoints here, and look here
    first when starting to resume. Outside a job: ./checkpoints."""
    folder = _job_dir() / "checkpoints"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def artifacts_dir() -> Path:
    """Where this job's artifacts are kept (what `save_artifact` copies into; a built-in
    job writes there directly). Outside a job: ./artifacts."""
    return _job_dir() / "artifacts"


def save_artifact(path: str | os.PathLike, name: str | None = None) -> Path:
    """Keep a file or folder as an artifact of this job (copied atomically: a reader
    never sees half of it). Outside a job: copied to ./artifacts."""
    source = Path(path)
    if not source.exists():
        from fermion.errors import InvalidInput

        raise InvalidInput(f"cannot save artifact {source}: it does not exist")
    target = artifacts_dir() / (name or source.name)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex}")
    if source.is_dir():
        shutil.copytree(source, tmp)
        if target.exists():
            shutil.rmtree(target)
    else:
        shutil.copyfile(source, tmp)
    os.replace(tmp, target)
    return target


class _EventWriter:
    """TensorBoard event files, written with TensorBoard's own writer: torch's
    SummaryWriter would import torch (half a gigabyte, seconds) into every job that logs a
    number, those that never use torch too."""

    def __init__(self, folder: Path) -> None:
        # TensorBoard's writer uses TensorFlow where it is installed: seconds of import
        # and hundreds of megabytes in every job. Its own stand-in does the same here.
        if "tensorflow" not in sys.modules:
            sys.modules.setdefault("tensorboard.compat.notf", types.ModuleType("notf"))
        from tensorboard.summary.writer.event_file_writer import EventFileWriter

        folder.mkdir(parents=True, exist_ok=True)
        self._file = EventFileWriter(str(folder))
        self._closed = False

    def add_scalar(self, tag: str, value: float, step: int | None) -> None:
        from tensorboard.compat.proto.event_pb2 import Event
        from tensorboard.compat.proto.summary_pb2 import Summary

        summary = Summary(value=[Summary.Value(tag=tag, simple_value=value)])
        self._file.add_event(Event(wall_time=time.time(), step=step or 0, summary=summary))

    def flush(self) -> None:
        if not self._closed:
            self._file.flush()

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._file.close()


class _Reporter:
    """Buffers metrics and sends them to the server from a background thread; writes
    TensorBoard events as they come."""

    def __init__(self) -> None:
        self._pending: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._job = job_id()
        self._client: Any = None
        self._warned: set[str] = set()
        self._writer = _EventWriter(_job_dir() / "tensorboard")
        if self._job is not None:
            threading.Thread(target=self._run, name="fermion-metrics", daemon=True).start()
        atexit.register(self.close)

    def add(self, metrics: dict[str, Any], step: int | None) -> None:
        if step is not None and not 0 <= step <= MAX_STEP:  # the server would refuse the batch
            raise ValueError(f"fm.log: step {step} is out of range; give a count, 0 to {MAX_STEP}")
        points = []
        for name, raw in metrics.items():
            value = float(raw.item() if hasattr(raw, "item") else raw)
            self._writer.add_scalar(name, value, step)
            if math.isfinite(value):
                points.append({"name": name, "value": value, "step": step})
            elif name not in self._warned:
                self._warned.add(name)
                print(f"fermion: {name} is {value}; kept in TensorBoard, not sent", file=sys.stderr)
        if self._job is not None:
            with self._lock:
                self._pending += points

    def _run(self) -> None:
        while True:
            self._wake.wait(FLUSH_EVERY_S)
            self._wake.clear()
            self.flush()

    def flush(self) -> None:
        self._writer.flush()
        with self._lock:
            batch, self._pending = self._pending, []
        if not batch or self._job is None:
            return
        try:
            if self._client is None:
                from fermion.client import Client

                self._client = Client()
            self._client.log_metrics(self._job, batch)
        except Exception as exc:  # metrics must never crash the training loop
            with self._lock:
                self._pending = batch + self._pending
            print(f"fermion: could not send metrics ({exc}); will retry", file=sys.stderr)

    def close(self) -> None:
        self.flush()
        self._writer.close()


_reporter: _Reporter | None = None
_reporter_lock = threading.Lock()


def log(metrics: dict[str, Any], step: int | None = None) -> None:
    """Record scalar metrics (numbers or 0-d tensors) at `step`. They reach the server
    (the dashboard, `fermion job show`) and TensorBoard event files in the job's folder.
    Only rank 0 reports under torchrun, so every rank may call it."""
    global _reporter
    if not is_rank_zero():
        return
    with _reporter_lock:
        if _reporter is None:
            _reporter = _Reporter()
    _reporter.add(metrics, step)


def flush() -> None:
    """Send buffered metrics now (they are also sent every second and at exit)."""
    if _reporter is not None:
        _reporter.flush()
