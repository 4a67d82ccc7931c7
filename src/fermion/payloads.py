"""Request and response bodies, shared by the server and the SDK.

Named by role: `XCreate` is what a client sends to make an X, `XPublic` what the
API returns, `XsPublic` a list of them.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, TypeVar

from pydantic import BaseModel, Field, ValidationError, field_validator

from fermion.dataset_types import DatasetType
from fermion.errors import InvalidInput
from fermion.precision import Precision

__all__ = ["DatasetType", "Precision"]  # defined in the foundation, part of the API

Model = TypeVar("Model", bound=BaseModel)


def describe_errors(errors: list[Any]) -> str:
    """Pydantic's error list as one line a person can act on."""
    parts = []
    for error in errors:
        where = ".".join(str(p) for p in error.get("loc", ()) if p != "body")
        message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
        parts.append(f"{where}: {message}" if where else message)
    return "; ".join(parts)


def build(payload: type[Model], /, **values: Any) -> Model:
    """Construct a payload, turning a validation failure into InvalidInput."""
    try:
        return payload(**values)
    except ValidationError as exc:
        raise InvalidInput(describe_errors(exc.errors())) from None


NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$"


class Health(BaseModel):
    status: str
    version: str


# -- users ----------------------------------------------------------------------
class JobDefaults(BaseModel):
    """A user's default job resources (`fermion config --cpu --gpu --memory`)."""

    cpu: float | None = Field(None, gt=0, description="CPU cores per job")
    gpu: int | None = Field(None, ge=0, description="GPUs per job")
    memory: str | None = Field(None, description="memory per job, e.g. 8Gi")

    @field_validator("memory")
    @classmethod
    def _memory_is_a_size(cls, value: str | None) -> str | None:
        from fermion.resources import format_memory, parse_memory

        return None if value is None else format_memory(parse_memory(value))


class UserPublic(BaseModel):
    name: str
    role: str
    job_defaults: JobDefaults
    created_at: datetime


class SessionCreate(BaseModel):
    token: str = Field(min_length=1, description="an API token, exchanged for a session cookie")


# -- uploads --------------------------------------------------------------------
class UploadPublic(BaseModel):
    id: str
    size_bytes: int


# -- datasets -------------------------------------------------------------------
class DatasetCreate(BaseModel):
    name: str = Field(pattern=NAME_PATTERN, description="letters, digits, '.', '_', '-'")
    type: DatasetType
    source: str = Field(
        min_length=1, description="a path on the server, an fsspec URL, or upload:ID/NAME"
    )
    label_column: str | None = None
    text_column: str | None = None
    split: list[float] = Field(default=[0.8, 0.1, 0.1], description="train, validation, test")
    seed: int = 0
    skip_invalid: bool = False

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


# -- jobs -----------------------------------------------------------------------
class JobStatus(StrEnum):
    QUEUED = "queued"
    STARTING = "starting"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def is_terminal(self) -> bool:
        return self in (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED)

    @property
    def is_active(self) -> bool:
        return self in (JobStatus.STARTING, JobStatus.RUNNING)


ENV_NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"


class JobCreate(BaseModel):
    name: str | None = Field(None, pattern=NAME_PATTERN)
    command: list[str] = Field(min_length=1, description="the command and its arguments")
    nproc: int = Field(1, ge=1, le=256, description="processes; above 1 runs under torchrun")
    cpu: float | None = Field(None, gt=0, description="default: fermion config, else nproc")
    gpu: int | None = Field(None, ge=0)
    memory: str | None = Field(
        None, description="e.g. 4Gi; default: fermion config, else 1Gi + 2.5Gi per process"
    )
    env: dict[str, str] = Field(default_factory=dict)
    max_retries: int = Field(0, ge=0, le=100)
    code: str | None = Field(None, description="the packed working directory: upload:ID/NAME")

    @field_validator("command")
    @classmethod
    def _command_words(cls, command: list[str]) -> list[str]:
        if not command[0].strip():
            raise ValueError("the command is empty; give a program to run, e.g. python train.py")
        if any("\x00" in word for word in command):
            raise ValueError("a command cannot hold a NUL character")
        return command

    @field_validator("env")
    @classmethod
    def _env_names(cls, env: dict[str, str]) -> dict[str, str]:
        import re

        if any("\x00" in value for value in env.values()):
            raise ValueError("an environment value cannot hold a NUL character")
        for key in env:
            if not re.match(ENV_NAME, key):
                raise ValueError(f"{key!r} is not an environment variable name")
            if key.startswith("FERMION_"):
                raise ValueError(f"{key} is set by Fermion for every job; pick another name")
        return env

    @field_validator("memory")
    @classmethod
    def _memory_is_a_size(cls, value: str | None) -> str | None:
        from fermion.resources import format_memory, parse_memory

        return None if value is None else format_memory(parse_memory(value))


class AttemptPublic(BaseModel):
    attempt: int
    started_at: datetime | None = None
    finished_at: datetime | None = None
    exit_code: int | None = None
    reason: str | None = None


class JobPublic(BaseModel):
    id: int
    name: str
    kind: str
    status: JobStatus
    command: list[str]
    nproc: int
    cpu: float
    gpu: int
    memory: str
    env: dict[str, str]
    max_retries: int
    attempt: int
    queue_position: int | None = None
    waiting_for: str | None = None  # a queued job: the resource it lacks, who holds it
    gpu_ids: list[int] = []
    exit_code: int | None = None
    failure_reason: str | None = None
    history: list[AttemptPublic] = []
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None


class JobsPublic(BaseModel):
    data: list[JobPublic]
    count: int


class MetricPoint(BaseModel):
    name: str = Field(min_length=1, max_length=128)
    value: float
    step: int | None = None


class MetricsCreate(BaseModel):
    metrics: list[MetricPoint] = Field(max_length=10_000)


class MetricValue(BaseModel):
    step: int | None
    value: float
    attempt: int
    time: datetime


class JobMetrics(BaseModel):
    job_id: int
    series: dict[str, list[MetricValue]]


class CapacityPublic(BaseModel):
    executor: str
    total: dict[str, Any]
    used: dict[str, Any]
    free: dict[str, Any]


# -- training -------------------------------------------------------------------
class TrainCreate(BaseModel):
    """`fermion train`: options left out get defaults for the dataset's type."""

    dataset: str = Field(description="NAME or NAME:vN")
    name: str | None = Field(None, pattern=NAME_PATTERN, description="the model's name")
    model: str | None = None
    pretrained: str | None = Field(None, description="weights or a model folder on the server")
    model_file: str | None = Field(None, description="path.py:ClassName in the shipped code")
    epochs: int | None = Field(None, ge=1, le=10_000)
    batch_size: int | None = Field(None, ge=1, le=65_536, description="per process")
    lr: float | None = Field(None, gt=0)
    weight_decay: float | None = Field(None, ge=0)
    optimizer: str | None = Field(None, pattern="^(adamw|sgd)$")
    scheduler: str | None = Field(None, pattern="^(cosine|linear|constant)$")
    warmup_ratio: float | None = Field(None, ge=0, lt=1)
    precision: Precision = Precision.AUTO
    grad_accum: int = Field(1, ge=1, le=1024)
    max_grad_norm: float | None = Field(None, ge=0)
    nproc: int = Field(1, ge=1, le=256)
    cpu: float | None = Field(None, gt=0)
    gpu: int | None = Field(None, ge=0)
    memory: str | None = None
    seed: int = 0
    early_stopping: int | None = Field(None, ge=1, description="epochs without improvement")
    image_size: int | None = Field(None, ge=4, le=4096)
    augment: str | None = Field(None, pattern="^(none|light|standard)$")
    max_retries: int = Field(0, ge=0, le=100)
    code: str | None = Field(None, description="the packed working directory (for model_file)")


class TrainPublic(BaseModel):
    job: JobPublic
    config: dict[str, Any]
    warnings: list[str] = []  # what will run, but badly (bf16 emulated on a CPU)


# -- models ---------------------------------------------------------------------
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


# -- deployments -----------------------------------------------------------------------
class DeploymentCreate(BaseModel):
    name: str = Field(pattern=NAME_PATTERN)
    model: str = Field(description="the model to serve: NAME[:VERSION]")
    replicas: int = Field(1, ge=1, le=64)
    max_batch_size: int = Field(32, ge=1, le=1024)
    max_batch_delay_ms: float = Field(5.0, ge=0, le=1000)
    cpu: float = Field(1.0, gt=0)
    memory: str = "2Gi"
    public: bool = False


class DeploymentScale(BaseModel):
    replicas: int = Field(ge=0, le=64)


class DeploymentUpdate(BaseModel):
    model: str = Field(description="the model version to roll out: NAME[:VERSION]")


class ReplicaPublic(BaseModel):
    job_id: int
    model: str  # NAME:vN it serves
    state: str  # queued | starting | loading | ready | restarting | stopping | failed
    endpoint: str | None
    attempt: int
    restarts: int
    reason: str | None = None


class DeploymentPublic(BaseModel):
    name: str
    model: str  # NAME:vN it should serve
    status: str  # ready | starting | updating | scaling | degraded | unavailable | failed | stopped
    replicas: int
    ready_replicas: int
    cpu: float
    memory: str
    max_batch_size: int
    max_batch_delay_ms: float
    public: bool
    url: str  # where applications send requests
    replica_details: list[ReplicaPublic]
    created_at: datetime
    updated_at: datetime


class DeploymentsPublic(BaseModel):
    data: list[DeploymentPublic]
    count: int


class DeploymentToken(BaseModel):
    deployment: str
    token: str


class EndpointRegister(BaseModel):
    url: str = Field(pattern=r"^https?://")
