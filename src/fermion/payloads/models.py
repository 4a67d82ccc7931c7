"""The model registry: versions, files, evaluations, imports."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from fermion.dataset_types import DatasetType
from fermion.payloads.common import NAME_PATTERN


class ModelRegister(BaseModel):
    name: str = Field(pattern=NAME_PATTERN)
    folder: str = Field("model", description="the folder of the job's artifacts to register")


class ModelVersionPublic(BaseModel):
    name: str
    version: int
    ref: str
    type: DatasetType
    uri: str
    job_id: int | None
    dataset: str
    metrics: dict[str, Any]
    config: dict[str, Any]
    evaluations: list[dict[str, Any]] = []
    deployments: list[str] = []  # the deployments that serve this version
    # Its files are sealed at rest: read them through the API, never from the store's folder.
    encrypted: bool = False
    created_at: datetime


class ModelPublic(BaseModel):
    name: str
    type: DatasetType
    created_at: datetime
    versions: list[ModelVersionPublic]

    @property
    def latest(self) -> ModelVersionPublic:
        return self.versions[-1]


class ModelsPublic(BaseModel):
    data: list[ModelPublic]
    count: int


class ModelFiles(BaseModel):
    ref: str
    files: list[str]


class EvaluationCreate(BaseModel):
    dataset: str = Field(description="NAME[:VERSION] of the dataset to evaluate on")
    split: str = "test"
    importance: bool = Field(
        False, description="also measure the model's global feature importance on the split"
    )
    cpu: float | None = Field(None, gt=0)
    memory: str | None = None


class EvaluationRecord(BaseModel):
    """What an evaluation job reports back to the model version."""

    dataset: str
    split: str
    metrics: dict[str, Any]
    importance: dict[str, Any] | None = None  # fermion.explain.importance's report


class ModelImport(BaseModel):
    name: str = Field(pattern=NAME_PATTERN)
    upload: str = Field(description="an upload holding the model folder (upload:ID/NAME)")


class ExportCreate(BaseModel):
    """Export a model version for other runtimes, in a job."""

    format: Literal["onnx", "torchscript"] = "onnx"
    cpu: float | None = Field(None, gt=0)
    memory: str | None = None


class ImportCreate(BaseModel):
    """Make a model trained elsewhere into a model folder and register it, in a job whose
    code is the model's folder (`fermion model import` uploads it)."""

    name: str = Field(pattern=NAME_PATTERN)
    type: DatasetType
    code: str = Field(description="the uploaded source folder: upload:ID/NAME")
    model: str | None = Field(None, description="image models: the architecture, e.g. resnet18")
    image_size: int = Field(224, ge=8, le=4096, description="image models: the input side")
    labels: str | None = Field(None, description="a label map's path inside the folder")
    origin: str | None = Field(None, max_length=1024, description="where it came from, for people")
    cpu: float | None = Field(None, gt=0)
    memory: str | None = None
