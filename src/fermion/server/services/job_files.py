"""A job's files as the API serves them: its log (whole, from an offset, or followed),
its artifacts, its TensorBoard events, and the configuration Fermion wrote for it."""

from __future__ import annotations

import asyncio
import io
import json
import mimetypes
import os
import tarfile
from collections.abc import AsyncIterator, Iterator
from typing import Any

from fermion.errors import NotFound
from fermion.payloads import (
    JobStatus,
)
from fermion.scheduler.outputs import open_job_file, plain_files, read_job_file
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
    files = job_files(context, job.id)
    return read_job_file(files.root, files.log(attempt))


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
                yield await asyncio.to_thread(read_job_file, files.root, files.log(attempt), offset)
                yield f"--- attempt {current} ---\n".encode()
            attempt, offset = current, 0
        if attempt:
            chunk = await asyncio.to_thread(read_job_file, files.root, files.log(attempt), offset)
            offset += len(chunk)
            if chunk:
                yield chunk
        if status is None or status.is_terminal:
            return
        await asyncio.sleep(FOLLOW_POLL_S)


# -- configuration ------------------------------------------------------------------
def config(context: ServerContext, job: JobRow) -> dict[str, Any]:
    """A job of Fermion's own (train, evaluate, export, import): its KIND.json, written by
    the server at submit; and where its files are."""
    files = job_files(context, job.id)
    found = {}
    name = f"{job.kind}.json"
    text = read_job_file(files.root, files.code / name).decode(errors="replace")
    if job.kind in BUILTIN_KINDS and text:
        try:
            found[name] = json.loads(text)
        except json.JSONDecodeError:
            found[name] = text
    return {"files": found, "job_dir": str(files.root), "tensorboard_dir": str(files.tensorboard)}


def tensorboard_archive(context: ServerContext, job: JobRow) -> bytes:
    """The job's event files packed as job-ID/..., for TensorBoard on another machine."""
    buffer = io.BytesIO()
    count = 0
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for relative, f in plain_files(job_files(context, job.id).tensorboard):
            entry = tarfile.TarInfo(f"job-{job.id}/{relative}")
            entry.size = os.fstat(f.fileno()).st_size
            tar.addfile(entry, io.BytesIO(f.read(entry.size)))
            count += 1
    if not count:
        raise NotFound(f"job {job.id} has written no TensorBoard events (fm.log writes them)")
    return buffer.getvalue()


# -- artifacts ----------------------------------------------------------------------
def artifacts(context: ServerContext, job: JobRow) -> list[str]:
    """Files kept with fm.save_artifact, relative to the job's artifacts folder."""
    return [
        relative
        for relative, _ in plain_files(job_files(context, job.id).artifacts)
        if not relative.rpartition("/")[2].startswith(".")
    ]


def artifact_download(
    context: ServerContext, job: JobRow, path: str
) -> tuple[Iterator[bytes], int, str]:
    """The artifact's bytes in chunks, its size and media type; opened without following
    a link the job may have put there."""
    files = job_files(context, job.id)
    opened = open_job_file(files.root, f"artifacts/{path}")
    if opened is None:
        raise NotFound(f"job {job.id} has no artifact {path!r}; `fermion job artifacts {job.id}`")

    def chunks() -> Iterator[bytes]:
        with opened:
            while chunk := opened.read(1 << 20):
                yield chunk

    kind = mimetypes.guess_type(path)[0] or "application/octet-stream"
    return chunks(), os.fstat(opened.fileno()).st_size, kind
