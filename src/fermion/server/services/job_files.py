"""A job's files as the API serves them: its log (whole, from an offset, or followed),
its artifacts, its TensorBoard events, and the configuration Fermion wrote for it."""

from __future__ import annotations

import asyncio
import io
import json
import tarfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from fermion.errors import NotFound
from fermion.payloads import (
    JobStatus,
)
from fermion.scheduler.scheduler import job_files
from fermion.server.services.jobs import BUILTIN_KINDS
from fermion.store.context import ServerContext
from fermion.store.tables import JobRow

FOLLOW_POLL_S = 0.1


# -- logs ---------------------------------------------------------------------------
def read_log(context: ServerContext, job: JobRow, attempt: int | None) -> bytes:
    attempt = attempt or job.attempt
    if attempt < 1:
        return b""
    path = job_files(context, job.id).log(attempt)
    return path.read_bytes() if path.exists() else b""


async def follow_log(context: ServerContext, job_id: int) -> AsyncIterator[bytes]:
    """The log as it grows, attempt after attempt, until the job ends."""
    files = job_files(context, job_id)
    attempt, offset = 0, 0
    while True:
        with context.metadata.session() as session:
            job = session.get(JobRow, job_id)
            status, current = (JobStatus(job.status), job.attempt) if job else (None, attempt)
        if current > attempt:
            if attempt:
                yield await asyncio.to_thread(_read_from, files.log(attempt), offset)
                yield f"--- attempt {current} ---\n".encode()
            attempt, offset = current, 0
        if attempt:
            chunk = await asyncio.to_thread(_read_from, files.log(attempt), offset)
            offset += len(chunk)
            if chunk:
                yield chunk
        if status is None or status.is_terminal:
            return
        await asyncio.sleep(FOLLOW_POLL_S)


def _read_from(path: Path, offset: int) -> bytes:
    if not path.exists():
        return b""
    with open(path, "rb") as f:
        f.seek(offset)
        return f.read()


# -- configuration ------------------------------------------------------------------
def config(context: ServerContext, job: JobRow) -> dict[str, Any]:
    """A job of Fermion's own (train, evaluate, export, import): its KIND.json, written by
    the server at submit; and where its files are."""
    files = job_files(context, job.id)
    found = {}
    path = files.code / f"{job.kind}.json"
    if job.kind in BUILTIN_KINDS and path.is_file():
        try:
            found[path.name] = json.loads(path.read_text())
        except json.JSONDecodeError:
            found[path.name] = path.read_text()
    return {"files": found, "job_dir": str(files.root), "tensorboard_dir": str(files.tensorboard)}


def tensorboard_archive(context: ServerContext, job: JobRow) -> bytes:
    """The job's event files packed as job-ID/..., for TensorBoard on another machine."""
    folder = job_files(context, job.id).tensorboard
    events = sorted(p for p in folder.rglob("*") if p.is_file()) if folder.exists() else []
    if not events:
        raise NotFound(f"job {job.id} has written no TensorBoard events (fm.log writes them)")
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for path in events:
            tar.add(path, arcname=f"job-{job.id}/{path.relative_to(folder).as_posix()}")
    return buffer.getvalue()


# -- artifacts ----------------------------------------------------------------------
def artifacts(context: ServerContext, job: JobRow) -> list[str]:
    """Files kept with fm.save_artifact, relative to the job's artifacts folder."""
    folder = job_files(context, job.id).artifacts
    if not folder.exists():
        return []
    return sorted(
        p.relative_to(folder).as_posix()
        for p in folder.rglob("*")
        if p.is_file() and not p.name.startswith(".")
    )


def artifact_path(context: ServerContext, job: JobRow, path: str) -> Path:
    folder = job_files(context, job.id).artifacts.resolve()
    target = (folder / path).resolve()
    if not target.is_relative_to(folder) or not target.is_file():
        raise NotFound(f"job {job.id} has no artifact {path!r}; `fermion job artifacts {job.id}`")
    return target
