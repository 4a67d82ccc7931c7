"""Jobs, their metrics and capacity, and the built-in trainer's request."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field, field_validator, model_validator

from fermion.payloads.common import NAME_PATTERN
from fermion.precision import Precision

NPROC = 1  # processes per job unless asked: above 1, the command runs under torchrun
MAX_NPROC = 256
MAX_NODES = 64
MAX_STEP = 2**31 - 1  # a metric's step: an Integer column (32 bits on PostgreSQL)


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
    nproc: int = Field(
        NPROC, ge=1, le=MAX_NPROC, description="processes per node; above 1 runs under torchrun"
    )
    nodes: int = Field(
        1,
        ge=1,
        le=MAX_NODES,
        description="machines of the cluster, each running nproc processes under torchrun;"
        " cpu, gpu and memory are per node",
    )
    cpu: float | None = Field(None, gt=0, description="default: fermion config, else nproc")
    gpu: int | None = Field(None, ge=0)
    memory: str | None = Field(
        None, description="e.g. 4Gi; default: fermion config, else 1Gi + 2.5Gi per process"
    )
    env: dict[str, str] = Field(default_factory=dict)
    secrets: list[str] = Field(
        default_factory=list, description="names of your secrets, given as environment variables"
    )
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

    @model_validator(mode="after")
    def _secret_names(self) -> JobCreate:
        import re

        for name in self.secrets:
            if not re.match(ENV_NAME, name) or name.startswith("FERMION_"):
                raise ValueError(f"secret {name!r} cannot be an environment variable's name")
            if name in self.env:
                raise ValueError(f"{name} is both a secret and an environment value; pick one")
        return self

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
    nproc: int  # per node
    nodes: int = 1
    cpu: float  # cpu, gpu and memory: per node
    gpu: int
    memory: str
    env: dict[str, str]
    secrets: list[str] = []  # names only; the values never leave the server
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
    step: int | None = Field(None, ge=0, le=MAX_STEP)


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
    job_isolation: str | None = None  # how this server keeps jobs apart


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
    nproc: int = Field(NPROC, ge=1, le=MAX_NPROC, description="processes per node")
    nodes: int = Field(1, ge=1, le=MAX_NODES, description="machines of the cluster")
    cpu: float | None = Field(None, gt=0)
    gpu: int | None = Field(None, ge=0)
    memory: str | None = None
    seed: int = 0
    early_stopping: int | None = Field(None, ge=1, description="epochs without improvement")
    image_size: int | None = Field(None, ge=4, le=4096)
    augment: str | None = Field(None, pattern="^(none|light|standard)$")
    max_retries: int = Field(0, ge=0, le=100)
    register_model: bool = Field(True, description="register the model when training ends")
    code: str | None = Field(None, description="the packed working directory (for model_file)")


class TrainPublic(BaseModel):
    job: JobPublic
    config: dict[str, Any]
    warnings: list[str] = []  # what will run, but badly (bf16 emulated on a CPU)
