"""The model registry: versions, files, evaluations, imports."""

from __future__ import annotations

from datetime import datetime
from typing import Any

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
    cpu: float | None = Field(None, gt=0)
    memory: str | None = None


class EvaluationRecord(BaseModel):
    """What an evaluation job reports back to the model version."""

    dataset: str
    split: str
    metrics: dict[str, Any]


class ModelImport(BaseModel):
    name: str = Field(pattern=NAME_PATTERN)
    upload: str = Field(description="an upload holding the model folder (upload:ID/NAME)")
