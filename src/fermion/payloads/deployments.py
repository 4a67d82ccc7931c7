"""Deployments, their replicas and tokens."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field, model_validator

from fermion.payloads.common import NAME_PATTERN

# A deployment's defaults, defined once: the API, the SDK, the CLI and the replica use them.
MAX_BATCH_SIZE = 32  # inputs per forward pass, at most
MAX_BATCH_DELAY_MS = 5.0  # how long the first input of a batch waits for others
REPLICA_CPU = 1.0
REPLICA_MEMORY = "2Gi"
# torch: any model, in PyTorch. onnx: image, sound, tabular and text models in ONNX
# Runtime, with no torch in the replica (it starts in about a second and idles in a
# tenth of the memory).
Runtime = Literal["torch", "onnx", "keras"]
TARGET_CONCURRENCY = 8.0  # requests in flight per replica that autoscaling aims at
SCALE_DOWN_DELAY_S = 60.0  # how long fewer replicas must have done before some stop


class Autoscaling(BaseModel):
    """Replicas set by load: between the bounds, enough that each has about
    `target_concurrency` requests in flight."""

    min_replicas: int = Field(1, ge=0, le=64, description="0: none while idle")
    max_replicas: int = Field(ge=1, le=64)
    target_concurrency: float = Field(
        TARGET_CONCURRENCY, gt=0, le=1000, description="requests in flight per replica"
    )
    scale_down_delay_s: float = Field(
        SCALE_DOWN_DELAY_S, ge=0, le=86400, description="quiet time before scaling down"
    )

    @model_validator(mode="after")
    def _ordered(self) -> Autoscaling:
        if self.min_replicas > self.max_replicas:
            raise ValueError(
                f"min_replicas ({self.min_replicas}) is more than max_replicas"
                f" ({self.max_replicas})"
            )
        return self


class ScaleEvent(BaseModel):
    at: datetime
    before: int  # replicas
    after: int
    reason: str


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
        "torch",
        description="torch, or onnx (ONNX Runtime: image, audio and tabular models);"
        " a Keras model is always served with keras",
    )
    autoscaling: Autoscaling | None = Field(
        None, description="replicas set by load within bounds; `replicas` is where it starts"
    )


class DeploymentAutoscale(BaseModel):
    autoscaling: Autoscaling | None = Field(description="null: replicas set by hand again")


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
    autoscaling: Autoscaling | None = None
    in_flight: float | None = None  # autoscaled: requests in flight, mean of the last 4 s
    scale_events: list[ScaleEvent] = []  # the autoscaler's last changes, newest last
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
