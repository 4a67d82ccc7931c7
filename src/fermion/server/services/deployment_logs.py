"""A deployment's logs: its replicas' logs, each line prefixed with the replica's job."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from fermion.scheduler.outputs import read_job_file
from fermion.scheduler.scheduler import job_files
from fermion.store.context import ServerContext
from fermion.store.tables import DeploymentRow, JobRow, ReplicaRow

FOLLOW_POLL_S = 0.2


def _prefix(job_id: int, text: bytes) -> bytes:
    tag = f"[replica {job_id}] ".encode()
    return b"".join(tag + line for line in text.splitlines(keepends=True))


def read_logs(context: ServerContext, session: Session, row: DeploymentRow) -> bytes:
    parts = []
    for replica in row.replica_rows:
        job = replica.job
        if job.attempt:
            files = job_files(context, job.id)
            text = read_job_file(files.root, files.log(job.attempt))
            if text:
                parts.append(_prefix(job.id, text))
    return b"".join(parts)


def _replicas(context: ServerContext, deployment_id: int) -> list[tuple[int, int]] | None:
    """(job id, attempt) of each replica; None once the deployment is gone."""
    with context.metadata.session() as session:
        if session.get(DeploymentRow, deployment_id) is None:
            return None
        rows = session.execute(
            select(JobRow.id, JobRow.attempt)
            .join(ReplicaRow, ReplicaRow.job_id == JobRow.id)
            .where(ReplicaRow.deployment_id == deployment_id)
        ).all()
    return [(job_id, attempt) for job_id, attempt in rows if attempt]


def _read_from(root: Path, path: Path, offset: int) -> bytes:
    data = read_job_file(root, path, offset)
    end = data.rfind(b"\n")  # whole lines only; the rest comes with the next read
    return data[: end + 1] if end >= 0 else b""


async def follow_logs(context: ServerContext, deployment_id: int) -> AsyncIterator[bytes]:
    """Every replica's log as it grows, new replicas and new attempts included, until the
    deployment is deleted."""
    offsets: dict[tuple[int, int], int] = {}
    while True:
        replicas = await asyncio.to_thread(_replicas, context, deployment_id)
        if replicas is None:
            return
        for job_id, attempt in replicas:
            key = (job_id, attempt)
            files = job_files(context, job_id)
            chunk = await asyncio.to_thread(
                _read_from, files.root, files.log(attempt), offsets.get(key, 0)
            )
            if chunk:
                offsets[key] = offsets.get(key, 0) + len(chunk)
                yield _prefix(job_id, chunk)
        await asyncio.sleep(FOLLOW_POLL_S)
