"""The SDK's calls for jobs (submit, train, follow, artifacts, metrics), mixed into
`fermion.Client`, which provides the HTTP plumbing and the code shipping."""

from __future__ import annotations

import io
import tarfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx

from fermion.client.timeouts import LONG
from fermion.payloads import (
    NPROC,
    CapacityPublic,
    JobCreate,
    JobMetrics,
    JobPublic,
    JobsPublic,
    MetricsCreate,
    TrainCreate,
    TrainPublic,
    build,
)


class JobCalls:
    _json: Callable[..., Any]
    _request: Callable[..., httpx.Response]
    _stream_text: Callable[..., Iterator[str]]
    _ship_code: Callable[[Path], str]

    def submit_job(
        self,
        command: Sequence[str],
        *,
        name: str | None = None,
        nproc: int = NPROC,
        nodes: int = 1,
        cpu: float | None = None,
        gpu: int | None = None,
        memory: str | None = None,
        env: dict[str, str] | None = None,
        secrets: Sequence[str] = (),
        max_retries: int = 0,
        workdir: str | Path | None = ".",
    ) -> JobPublic:
        """Run `command` as a job. The files of `workdir` (default: the current folder,
        minus what .gitignore/.fermionignore exclude) ship with it and are its working
        directory; `workdir=None` ships nothing. `secrets` names secrets of yours
        (`set_secret`) the job gets as environment variables. `nodes` > 1 runs it on that
        many machines of a Ray cluster, `nproc` processes on each (cpu, gpu and memory are
        per node)."""
        payload = build(
            JobCreate,
            name=name,
            command=list(command),
            nproc=nproc,
            nodes=nodes,
            cpu=cpu,
            gpu=gpu,
            memory=memory,
            env=env or {},
            secrets=list(secrets),
            max_retries=max_retries,
        )
        if workdir is not None:
            payload.code = self._ship_code(Path(workdir))
        body = payload.model_dump(mode="json")
        return JobPublic.model_validate(self._json("POST", "/api/v1/jobs", json=body))

    def train(
        self, dataset: str, *, workdir: str | Path | None = None, **options: Any
    ) -> TrainPublic:
        """Train a model on `dataset` with the built-in trainer; options as `fermion train`
        (model, epochs, batch_size, lr, precision, grad_accum, nproc, nodes, ...). The files of
        `workdir` ship with it (needed for model_file)."""
        payload = build(TrainCreate, dataset=dataset, **options)
        if workdir is not None:
            payload.code = self._ship_code(Path(workdir))
        body = payload.model_dump(mode="json", exclude_none=True)
        return TrainPublic.model_validate(self._json("POST", "/api/v1/jobs/train", json=body))

    def list_jobs(self, status: str | None = None) -> JobsPublic:
        params = {"status": status} if status else {}
        return JobsPublic.model_validate(self._json("GET", "/api/v1/jobs", params=params))

    def get_job(self, job_id: int) -> JobPublic:
        return JobPublic.model_validate(self._json("GET", f"/api/v1/jobs/{job_id}"))

    def cancel_job(self, job_id: int) -> JobPublic:
        return JobPublic.model_validate(self._json("POST", f"/api/v1/jobs/{job_id}/cancel"))

    def delete_job(self, job_id: int) -> None:
        """Remove a finished job with its logs, metrics and files (its models stay)."""
        self._request("DELETE", f"/api/v1/jobs/{job_id}")

    def retry_job(self, job_id: int) -> JobPublic:
        return JobPublic.model_validate(self._json("POST", f"/api/v1/jobs/{job_id}/retry"))

    def wait_job(self, job_id: int, timeout: float | None = None, poll_s: float = 0.5) -> JobPublic:
        """Block until the job has ended (or `timeout` seconds pass); returns it."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            job = self.get_job(job_id)
            if job.status.is_terminal or (deadline is not None and time.monotonic() > deadline):
                return job
            time.sleep(poll_s)

    def job_logs(self, job_id: int, attempt: int | None = None) -> str:
        params = {"attempt": attempt} if attempt else {}
        return self._request("GET", f"/api/v1/jobs/{job_id}/logs", params=params).text

    def follow_job_logs(self, job_id: int) -> Iterator[str]:
        """The job's output as it is written, until the job ends."""
        yield from self._stream_text(f"/api/v1/jobs/{job_id}/logs", params={"follow": "true"})

    def job_artifacts(self, job_id: int) -> list[str]:
        return self._json("GET", f"/api/v1/jobs/{job_id}/artifacts")

    def download_artifact(self, job_id: int, path: str, dest: Path) -> Path:
        """Save one of the job's artifacts as `dest` (written whole, then renamed)."""
        response = self._request("GET", f"/api/v1/jobs/{job_id}/artifacts/{path}", timeout=LONG)
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(f".{dest.name}.part")
        tmp.write_bytes(response.content)
        tmp.replace(dest)
        return dest

    def download_tensorboard(self, job_id: int, dest: Path) -> Path:
        """Unpack the job's TensorBoard event files under `dest`; returns the job's folder
        there (`tensorboard --logdir` it)."""
        response = self._request("GET", f"/api/v1/jobs/{job_id}/tensorboard", timeout=LONG)
        dest.mkdir(parents=True, exist_ok=True)
        with tarfile.open(fileobj=io.BytesIO(response.content), mode="r:gz") as tar:
            tar.extractall(dest, filter="data")  # nothing may land outside dest
        return dest / f"job-{job_id}"

    def log_metrics(self, job_id: int, points: list[dict[str, Any]]) -> int:
        body = build(MetricsCreate, metrics=points).model_dump(mode="json")
        return self._json("POST", f"/api/v1/jobs/{job_id}/metrics", json=body)["recorded"]

    def job_metrics(self, job_id: int, name: str | None = None) -> JobMetrics:
        params = {"name": name} if name else {}
        return JobMetrics.model_validate(
            self._json("GET", f"/api/v1/jobs/{job_id}/metrics", params=params)
        )

    def set_job_endpoint(self, job_id: int, url: str, key: str | None = None) -> None:
        """A replica reports where it listens, and the key the gateway must show it."""
        body = {"url": url, "key": key}
        self._request("PUT", f"/api/v1/jobs/{job_id}/endpoint", json=body)

    def capacity(self) -> CapacityPublic:
        return CapacityPublic.model_validate(self._json("GET", "/api/v1/capacity"))
