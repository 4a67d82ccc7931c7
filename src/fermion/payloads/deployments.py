"""Deployments, their replicas and tokens."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from fermion.payloads.common import NAME_PATTERN

# A deployment's defaults, defined once: the API, the SDK, the CLI and the replica use them.
MAX_BATCH_SIZE = 32  # inputs per forward pass, at most
MAX_BATCH_DELAY_MS = 5.0  # how long the first input of a batch waits for others
REPLICA_CPU = 1.0
REPLICA_MEMORY = "2Gi"
# torch: any model, in PyTorch. onnx: image and tabular models in ONNX Runtime, with no
# torch in the replica (it starts in about a second and idles in a tenth of the memory).
Runtime = Literal["torch", "onnx"]


class DeploymentCreate(BaseModel):
    name: str = Field(pattern=NAME_PATTERN)
    model: str = Field(description="the model to serve: NAME[:VERSION]")
    replicas: int = Field(1, ge=1, le=64)
    max_batch_size: int = Field(MAX_BATCH_SIZE, ge=1, le=1024)
    max_batch_delay_ms: float = Field(MAX_BATCH_DELAY_MS, ge=0, le=1000)
    cpu: float = Field(REPLICA_CPU, gt=0)
    memory: str = REPLICA_MEMORY
    public: bool = False
    runtime: Runtime = Field(
        "torch", description="torch, or onnx (ONNX Runtime: image and tabular models)"
    )


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
    runtime: str
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
    key: str | None = Field(
        None,
        min_length=16,
        max_length=128,
        description="the replica's own key: it answers requests carrying it only",
    )
