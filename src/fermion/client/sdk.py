"""`fermion.Client`: one method per API call; each builds one payload and makes one
HTTP request. Errors come back as the same `FermionError` subclass the server raised.

With no configuration the client talks to the local default server and starts it in
the background when none answers.
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import sys
import tarfile
import tempfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx

from fermion.client import launcher
from fermion.client.accounts import AccountCalls
from fermion.client.deployments import DeploymentCalls
from fermion.client.explanations import ExplainCalls
from fermion.client.federations import FederationCalls
from fermion.client.jobs import JobCalls
from fermion.client.models import ModelCalls
from fermion.client.packing import pack_directory
from fermion.client.secrets import SecretCalls
from fermion.client.sweeps import SweepCalls
from fermion.client.timeouts import LONG, TIMEOUT
from fermion.client.tokens import TokenCalls
from fermion.errors import InvalidInput, ServerUnavailable, SourceOutsideRoots, error_from_body
from fermion.payloads import (
    DatasetCreate,
    DatasetFiles,
    DatasetHead,
    DatasetPublic,
    DatasetsPublic,
    DatasetVersionPublic,
    JobDefaults,
    UploadPublic,
    UserPublic,
    build,
)
from fermion.refs import parse_ref
from fermion.settings import LOOPBACK_HOSTS, Settings, load_settings


class Client(
    DeploymentCalls,
    ExplainCalls,
    FederationCalls,
    JobCalls,
    ModelCalls,
    SecretCalls,
    SweepCalls,
    TokenCalls,
    AccountCalls,
):
    def __init__(
        self,
        url: str | None = None,
        token: str | None = None,
        *,
        workspace: str | None = None,
        settings: Settings | None = None,
        autostart: bool = True,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        given = {"url": url, "token": token, "workspace": workspace}
        overrides = {k: v for k, v in given.items() if v is not None}
        self.settings = (settings or load_settings()).model_copy(update=overrides)
        self.url = self.settings.server_url
        self.autostart = (
            autostart
            and self.settings.autostart
            and transport is None
            and self.settings.server_is_local_default
        )
        self._token = self.settings.token
        self._http = httpx.Client(
            base_url=self.url, timeout=TIMEOUT, transport=transport, verify=self.settings.verify
        )

    # -- plumbing --------------------------------------------------------------
    @property
    def token(self) -> str | None:
        if self._token is None and self.settings.token_file is not None:
            try:  # a job's: only it can read the file
                self._token = self.settings.token_file.read_text().strip() or None
            except OSError:
                return None
        if self._token is None:
            try:
                self._token = json.loads(self.settings.credentials_path.read_text())["token"]
            except (OSError, ValueError, KeyError):
                return None
        return self._token

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self._send(method, path, **kwargs)
        except httpx.ConnectError as exc:
            if "CERTIFICATE_VERIFY_FAILED" in str(exc):
                raise ServerUnavailable(
                    f"the server at {self.url} shows a certificate this machine does not"
                    " trust; give the certificates to trust with FERMION_CA_BUNDLE=FILE.pem"
                ) from None
            if not self.autostart:
                raise ServerUnavailable(
                    f"no Fermion server answers at {self.url}; start one with"
                    " `fermion server start` or check FERMION_URL"
                ) from None
            started = launcher.start(self.settings)
            if started.url.rstrip("/") != self.url:
                raise ServerUnavailable(
                    f"no server answers at {self.url}, but this FERMION_HOME's server runs at"
                    f" {started.url}; set FERMION_URL={started.url}, or stop that one first"
                    " (fermion server stop)"
                ) from None
            print(
                f"Started a Fermion server at {started.url} (log: {self.settings.server_log_path})",
                file=sys.stderr,
            )
            try:
                response = self._send(method, path, **kwargs)
            except httpx.ConnectError:
                raise ServerUnavailable(
                    f"the server at {self.url} started but does not answer; see"
                    f" {self.settings.server_log_path}"
                ) from None
        if response.status_code >= 400:
            try:
                body = response.json()
            except ValueError:
                body = response.text
            raise error_from_body(response.status_code, body)
        return response

    def _auth(self) -> dict[str, str]:
        """The token, and the workspace the calls act in where one is chosen."""
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        if self.settings.workspace:
            headers["X-Fermion-Workspace"] = self.settings.workspace
        return headers

    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {**kwargs.pop("headers", {}), **self._auth()}
        return self._http.request(method, path, headers=headers, **kwargs)

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        return self._request(method, path, **kwargs).json()

    def _stream_text(self, path: str, **kwargs: Any) -> Iterator[str]:
        """A GET whose text arrives as it is written (a followed log)."""
        with self._http.stream(
            "GET", path, headers=self._auth(), timeout=LONG, **kwargs
        ) as response:
            if response.status_code >= 400:
                raise error_from_body(response.status_code, json.loads(response.read() or b"{}"))
            yield from response.iter_text()

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def server_is_remote(self) -> bool:
        return httpx.URL(self.url).host not in LOOPBACK_HOSTS

    # -- server and user ---------------------------------------------------------
    def health(self) -> dict[str, Any]:
        return self._json("GET", "/healthz")

    def me(self) -> UserPublic:
        return UserPublic.model_validate(self._json("GET", "/api/v1/users/me"))

    def clear_job_defaults(self) -> UserPublic:
        """Forget this user's default job resources (back to the platform's)."""
        body = {"cpu": None, "gpu": None, "memory": None}
        return UserPublic.model_validate(
            self._json("PATCH", "/api/v1/users/me/job-defaults", json=body)
        )

    def set_job_defaults(
        self, cpu: float | None = None, gpu: int | None = None, memory: str | None = None
    ) -> UserPublic:
        given = {
            k: v for k, v in {"cpu": cpu, "gpu": gpu, "memory": memory}.items() if v is not None
        }
        body = build(JobDefaults, **given).model_dump(exclude_unset=True)
        return UserPublic.model_validate(
            self._json("PATCH", "/api/v1/users/me/job-defaults", json=body)
        )

    # -- datasets ----------------------------------------------------------------
    def create_dataset(
        self,
        name: str,
        type: str,
        source: str | Path,
        *,
        label_column: str | None = None,
        text_column: str | None = None,
        user_column: str | None = None,
        item_column: str | None = None,
        split: Sequence[float] = (0.8, 0.1, 0.1),
        seed: int = 0,
        skip_invalid: bool = False,
        upload: bool | None = None,
        workers: int | None = None,
        secrets: Sequence[str] = (),
    ) -> DatasetVersionPublic:
        """Register a dataset version from a local path or an fsspec URL.

        A local path is read by the server in place when the server runs on this
        machine, and uploaded to it otherwise (or when `upload=True`). Images are read
        and checked by `workers` processes on the server (default: its CPUs). `secrets`
        name the workspace's secrets holding an object store's credentials
        (`AWS_ACCESS_KEY_ID`, or `AWS_ACCESS_KEY_ID=TEAM_KEY` for another name).
        """
        source = str(source)
        path = None
        if "://" not in source and not source.startswith("upload:"):
            path = Path(source).expanduser()
            if not path.exists():
                raise InvalidInput(f"dataset source {source} does not exist")
            must_upload = self.server_is_remote if upload is None else upload
            source = self.upload(path) if must_upload else str(path.resolve())
        options = dict(
            name=name,
            type=type,
            label_column=label_column,
            text_column=text_column,
            user_column=user_column,
            item_column=item_column,
            split=list(split),
            seed=seed,
            skip_invalid=skip_invalid,
            workers=workers,
            secrets=list(secrets),
        )
        try:
            return self._create_dataset(source, options)
        except SourceOutsideRoots:
            if path is None or upload is False:
                raise
            # The server does not read that folder in place: send it instead.
            return self._create_dataset(self.upload(path), options)

    def _create_dataset(self, source: str, options: dict[str, Any]) -> DatasetVersionPublic:
        payload = build(DatasetCreate, source=source, **options)
        return DatasetVersionPublic.model_validate(
            self._json(
                "POST", "/api/v1/datasets", json=payload.model_dump(mode="json"), timeout=LONG
            )
        )

    def upload(self, path: Path) -> str:
        """Pack a local file or folder and upload it; returns the `upload:ID/NAME` source."""
        with tempfile.TemporaryFile() as archive:
            with tarfile.open(fileobj=archive, mode="w:gz") as tar:
                tar.add(path, arcname=path.name)
            archive.seek(0)
            return self._upload_archive(archive, path.name)

    def _ship_code(self, workdir: Path) -> str:
        """Pack a job's working directory and upload it; returns its `upload:ID/code`."""
        archive = pack_directory(workdir, self.settings.max_code_mb * 1024 * 1024)
        try:
            with open(archive, "rb") as f:
                return self._upload_archive(f, "code")
        finally:
            archive.unlink()

    def _upload_archive(self, archive: Any, name: str) -> str:
        done = UploadPublic.model_validate(
            self._json(
                "POST",
                "/api/v1/uploads",
                content=archive,
                timeout=LONG,
                headers={"Content-Type": "application/gzip"},
            )
        )
        return f"upload:{done.id}/{name}"

    def list_datasets(self) -> DatasetsPublic:
        return DatasetsPublic.model_validate(self._json("GET", "/api/v1/datasets"))

    def get_dataset(self, name: str) -> DatasetPublic:
        return DatasetPublic.model_validate(self._json("GET", f"/api/v1/datasets/{name}"))

    def get_dataset_version(self, ref: str) -> DatasetVersionPublic:
        name, version = parse_ref(ref)
        return DatasetVersionPublic.model_validate(
            self._json("GET", f"/api/v1/datasets/{name}/versions/{version or 'latest'}")
        )

    def dataset_head(self, ref: str, split: str = "train", limit: int = 10) -> DatasetHead:
        name, version = parse_ref(ref)
        return DatasetHead.model_validate(
            self._json(
                "GET",
                f"/api/v1/datasets/{name}/versions/{version or 'latest'}/head",
                params={"split": split, "limit": limit},
            )
        )

    def delete_dataset(self, ref: str) -> list[str]:
        name, version = parse_ref(ref)
        path = f"/api/v1/datasets/{name}" + (f"/versions/{version}" if version else "")
        return self._json("DELETE", path)

    def download_dataset(self, ref: str, dest: Path) -> DatasetFiles:
        """Download every file of a dataset version into `dest` (for remote stores)."""
        name, version = parse_ref(ref)
        base = f"/api/v1/datasets/{name}/versions/{version or 'latest'}/files"
        listing = DatasetFiles.model_validate(self._json("GET", base))
        self._download_files(base, listing.files, dest)
        return listing

    def _download_files(self, base: str, files: list[str], dest: Path) -> None:
        for rel in files:
            target = dest / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            with self._http.stream(
                "GET", f"{base}/{rel}", timeout=LONG, headers=self._auth()
            ) as response:
                if response.status_code >= 400:
                    raise error_from_body(response.status_code, response.read().decode())
                with open(target, "wb") as f:
                    for chunk in response.iter_bytes(1 << 20):
                        f.write(chunk)

    def private_copy(self, download: Callable[[Path], Any]) -> Path:
        """A folder of this process's own, in memory (/dev/shm where there is one) and
        removed when the process ends: for the files of a version sealed at rest, whose
        plaintext must not land on a disk. Never cached."""
        memory = "/dev/shm" if os.access("/dev/shm", os.W_OK) else None
        folder = Path(tempfile.mkdtemp(prefix="fermion-private-", dir=memory))
        atexit.register(shutil.rmtree, folder, True)
        download(folder)
        return folder

    def cached_copy(self, kind: str, key: str, download: Callable[[Path], Any]) -> Path:
        """`$FERMION_CACHE_DIR/KIND/KEY` (default $FERMION_HOME/cache), downloaded once: into a folder beside it, then
        renamed into place, so a reader never sees a partial copy and two processes
        downloading at once both end with a whole one."""
        cache = self.settings.resolved_cache_dir / kind / key
        if cache.is_dir():
            return cache
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=cache.parent, prefix=f".{key[:24]}-"))
        try:
            download(tmp)
            try:
                os.rename(tmp, cache)
            except OSError:
                if not cache.is_dir():
                    raise
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return cache
