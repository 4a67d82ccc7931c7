"""Datasets and their versions."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field, field_validator

from fermion.dataset_types import DatasetType
from fermion.payloads.common import NAME_PATTERN

MAX_INGEST_WORKERS = 256


class DatasetCreate(BaseModel):
    name: str = Field(pattern=NAME_PATTERN, description="letters, digits, '.', '_', '-'")
    type: DatasetType
    source: str = Field(
        min_length=1, description="a path on the server, an fsspec URL, or upload:ID/NAME"
    )
    label_column: str | None = None
    text_column: str | None = None
    user_column: str | None = Field(default=None, description="recommendation: the user")
    item_column: str | None = Field(default=None, description="recommendation: the item")
    split: list[float] = Field(default=[0.8, 0.1, 0.1], description="train, validation, test")
    seed: int = 0
    skip_invalid: bool = False
    workers: int | None = Field(
        default=None,
        ge=1,
        le=MAX_INGEST_WORKERS,
        description="processes that read and check images (default: the server's CPUs)",
    )
    secrets: list[str] = Field(
        default_factory=list,
        max_length=8,
        description=(
            "the workspace's secrets holding the credentials of an s3://, gs:// or az://"
            " source: NAME (e.g. AWS_ACCESS_KEY_ID) or VARIABLE=NAME"
        ),
    )

    @field_validator("type", mode="before")
    @classmethod
    def _parse_type(cls, value: Any) -> Any:
        return DatasetType.parse(value) if isinstance(value, str) else value

    @field_validator("split")
    @classmethod
    def _split_fractions(cls, value: list[float]) -> list[float]:
        if len(value) == 2:
            value = [*value, 0.0]
        if len(value) != 3 or any(v < 0 for v in value) or abs(sum(value) - 1) > 1e-6:
            raise ValueError(
                "split must be 2 or 3 non-negative fractions (train, validation[, test])"
                " that add up to 1, e.g. 0.8,0.1,0.1"
            )
        if value[0] == 0:
            raise ValueError("the train fraction of split must be above 0")
        return value


class Problem(BaseModel):
    """One record that failed validation."""

    location: str
    reason: str


class DatasetVersionPublic(BaseModel):
    name: str
    version: int
    ref: str
    type: DatasetType
    digest: str
    uri: str
    source: str
    spec: dict[str, Any]
    num_records: int
    split_counts: dict[str, int]
    class_names: list[str]
    class_counts: dict[str, dict[str, int]]
    size_bytes: int
    # Its files are sealed at rest: read them through the API, never from the store's folder.
    encrypted: bool = False
    skipped: list[Problem] = []
    skipped_count: int = 0
    created_at: datetime
    # On create: True when this content already existed and no version was made.
    existing: bool = False


class DatasetPublic(BaseModel):
    name: str
    type: DatasetType
    created_at: datetime
    versions: list[DatasetVersionPublic]

    @property
    def latest(self) -> DatasetVersionPublic:
        return self.versions[-1]


class DatasetsPublic(BaseModel):
    data: list[DatasetPublic]
    count: int


class DatasetHead(BaseModel):
    ref: str
    split: str
    columns: list[str]
    rows: list[dict[str, Any]]


class DatasetSamples(BaseModel):
    ref: str
    split: str
    samples: list[dict[str, Any]]  # {"index": position in the split, "label": ...}


class DatasetFiles(BaseModel):
    ref: str
    digest: str
    files: list[str]
