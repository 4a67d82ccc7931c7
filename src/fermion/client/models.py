"""The SDK's calls for the model registry (register, fetch, import, evaluate), mixed
into `fermion.Client`, which provides the HTTP plumbing and the file transfers."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx

from fermion.client.timeouts import LONG
from fermion.payloads import (
    DatasetType,
    EvaluationCreate,
    EvaluationRecord,
    ExportCreate,
    ImportCreate,
    JobPublic,
    ModelFiles,
    ModelImport,
    ModelPublic,
    ModelRegister,
    ModelsPublic,
    ModelVersionPublic,
    build,
)
from fermion.refs import parse_ref


class ModelCalls:
    _json: Callable[..., Any]
    _request: Callable[..., httpx.Response]
    _stream_text: Callable[..., Iterator[str]]
    upload: Callable[[Path], str]
    _download_files: Callable[[str, list[str], Path], None]
    cached_copy: Callable[..., Path]
    _ship_code: Callable[[Path], str]
    job_artifacts: Callable[[int], list[str]]
    download_artifact: Callable[[int, str, Path], Path]

    def register_job_model(
        self, job_id: int, name: str, folder: str = "model"
    ) -> ModelVersionPublic:
        body = build(ModelRegister, name=name, folder=folder).model_dump()
        return ModelVersionPublic.model_validate(
            self._json("POST", f"/api/v1/jobs/{job_id}/model", json=body)
        )

    def list_models(self, job_id: int | None = None) -> ModelsPublic:
        params = {"job_id": job_id} if job_id is not None else {}
        return ModelsPublic.model_validate(self._json("GET", "/api/v1/models", params=params))

    def get_model(self, name: str) -> ModelPublic:
        return ModelPublic.model_validate(self._json("GET", f"/api/v1/models/{name}"))

    def get_model_version(self, ref: str) -> ModelVersionPublic:
        name, version = parse_ref(ref, kind="model")
        return ModelVersionPublic.model_validate(
            self._json("GET", f"/api/v1/models/{name}/versions/{version or 'latest'}")
        )

    def delete_model(self, ref: str) -> list[str]:
        """Delete a version (NAME:vN) or, given NAME alone, the whole model."""
        name, version = parse_ref(ref, kind="model")
        path = f"/api/v1/models/{name}" + (f"/versions/{version}" if version else "")
        return self._json("DELETE", path)

    def download_model(self, ref: str, dest: Path) -> ModelFiles:
        """Download every file of a model version into `dest`."""
        name, version = parse_ref(ref, kind="model")
        base = f"/api/v1/models/{name}/versions/{version or 'latest'}/files"
        listing = ModelFiles.model_validate(self._json("GET", base))
        self._download_files(base, listing.files, dest)
        return listing

    def fetch_model(self, ref: str) -> Path:
        """A local folder with the model version's files: the stored folder itself when
        the artifact store is on this machine, else a cached download (a private one in
        memory for a version sealed at rest)."""
        info = self.get_model_version(ref)
        if info.encrypted:  # sealed at rest: opened by the server, kept in memory here
            return self.private_copy(lambda dest: self.download_model(info.ref, dest))
        local = Path(info.uri)
        if "://" not in info.uri and (local / "config.json").is_file():
            return local
        key = f"{info.name}-v{info.version}-{hashlib.sha256(info.uri.encode()).hexdigest()[:12]}"
        return self.cached_copy("models", key, lambda dest: self.download_model(info.ref, dest))

    def import_model(self, name: str, folder: Path) -> ModelVersionPublic:
        """Register a model folder (model.safetensors or model.keras, config.json, labels.json,
        preprocessing.json) made elsewhere; `fermion.modelfile.save` writes one."""
        body = build(ModelImport, name=name, upload=self.upload(folder)).model_dump()
        return ModelVersionPublic.model_validate(
            self._json("POST", "/api/v1/models/import", json=body, timeout=LONG)
        )

    def export_model(
        self, ref: str, format: str = "onnx", cpu: float | None = None, memory: str | None = None
    ) -> JobPublic:
        """Queue a job that exports the model as ONNX or TorchScript, checked against
        PyTorch; `download_export` fetches the result once the job has succeeded."""
        name, version = parse_ref(ref, kind="model")
        body = build(ExportCreate, format=format, cpu=cpu, memory=memory)
        return JobPublic.model_validate(
            self._json(
                "POST",
                f"/api/v1/models/{name}/versions/{version or 'latest'}/export",
                json=body.model_dump(exclude_none=True),
            )
        )

    def download_export(self, job_id: int, dest: Path) -> dict[str, Any]:
        """An export job's files into `dest`; returns what it made (file, inputs,
        labels, the largest difference from PyTorch)."""
        prefix = "export/"
        for path in self.job_artifacts(job_id):
            if path.startswith(prefix):
                self.download_artifact(job_id, path, dest / path.removeprefix(prefix))
        described = json.loads((dest / "export.json").read_text())
        return {**described, "folder": str(dest), "file": str(dest / described["file"])}

    def import_trained_elsewhere(
        self,
        name: str,
        type: str,
        path: Path,
        model: str | None = None,
        image_size: int = 224,
        labels: str | None = None,
        cpu: float | None = None,
        memory: str | None = None,
    ) -> JobPublic:
        """Queue a job that makes the folder `path` (a torchvision state dict with a label
        map, or a Hugging Face model folder) into a model folder and registers it as
        `name`. `labels` is a path inside `path`."""
        body = build(
            ImportCreate,
            name=name,
            type=DatasetType.parse(type),
            model=model,
            image_size=image_size,
            labels=labels,
            cpu=cpu,
            memory=memory,
            code=self._ship_code(Path(path)),
            origin=str(Path(path).resolve()),
        )
        return JobPublic.model_validate(
            self._json("POST", "/api/v1/models/imports", json=body.model_dump(mode="json"))
        )

    def evaluate_model(
        self,
        ref: str,
        dataset: str,
        split: str = "test",
        importance: bool = False,
        cpu: float | None = None,
        memory: str | None = None,
    ) -> JobPublic:
        """Queue a job that evaluates the model on a dataset split (and, with
        `importance`, measures its global feature importance there); the result is added
        to the model version's evaluations."""
        name, version = parse_ref(ref, kind="model")
        body = build(
            EvaluationCreate,
            dataset=dataset,
            split=split,
            importance=importance,
            cpu=cpu,
            memory=memory,
        )
        return JobPublic.model_validate(
            self._json(
                "POST",
                f"/api/v1/models/{name}/versions/{version or 'latest'}/evaluate",
                json=body.model_dump(exclude_none=True),
            )
        )

    def record_evaluation(
        self,
        ref: str,
        dataset: str,
        split: str,
        metrics: dict[str, Any],
        importance: dict[str, Any] | None = None,
    ) -> ModelVersionPublic:
        name, version = parse_ref(ref, kind="model")
        body = build(
            EvaluationRecord, dataset=dataset, split=split, metrics=metrics, importance=importance
        )
        return ModelVersionPublic.model_validate(
            self._json(
                "POST",
                f"/api/v1/models/{name}/versions/{version or 'latest'}/evaluations",
                json=body.model_dump(mode="json"),
            )
        )
