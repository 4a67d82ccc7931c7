"""Federated training: sites that each keep their dataset, the rounds that combine what
they learn, and the global model that comes of it."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator

from fermion.payloads.common import NAME_PATTERN

FederationStatus = Literal["running", "succeeded", "failed", "cancelled"]
SITE_PATTERN = r"^[a-z0-9][a-z0-9-]{0,31}$"


class PrivacyOptions(BaseModel):
    """Differential privacy on the server's side: every site's update is clipped to
    `clipping_norm` (L2), and Gaussian noise of std noise_multiplier * clipping_norm /
    sites is added to their average."""

    noise_multiplier: float = Field(gt=0, le=100)
    clipping_norm: float = Field(gt=0)


class FederationCreate(BaseModel):
    name: str = Field(pattern=NAME_PATTERN, description="the federation's, and its model's, name")
    sites: dict[str, str] = Field(
        description="site name -> the dataset it trains on (NAME or NAME:vN), one per site"
    )
    rounds: int = Field(10, ge=1, le=1000)
    model: str | None = Field(None, description="an architecture; the dataset type's default")
    local_epochs: int = Field(1, ge=1, le=100, description="epochs each site trains per round")
    batch_size: int = Field(32, ge=1, le=65536)
    lr: float = Field(2e-3, gt=0, le=10)
    weight_decay: float = Field(0.05, ge=0)
    strategy: Literal["fedavg", "fedprox"] = "fedavg"
    proximal_mu: float = Field(0.01, ge=0, description="FedProx's pull towards the global model")
    privacy: PrivacyOptions | None = None
    seed: int = 0
    cpu: float | None = Field(None, gt=0, description="each site's CPUs")
    memory: str | None = Field(None, description="each site's memory: 2Gi")
    round_timeout_s: float = Field(600, gt=0, description="how long a round waits for sites")
    port: int | None = Field(None, ge=1024, le=65535, description="the SuperLink's port")
    site_address: str | None = Field(
        None,
        pattern=r"^[A-Za-z0-9.\-\[\]:]+:\d+$",
        description="HOST:PORT the sites dial, when they reach the SuperLink through a proxy",
    )

    @field_validator("sites")
    @classmethod
    def _sites(cls, value: dict[str, str]) -> dict[str, str]:
        import re

        if len(value) < 2:
            raise ValueError("a federation needs at least 2 sites: --sites a=DATASET,b=DATASET")
        bad = [name for name in value if not re.match(SITE_PATTERN, name)]
        if bad:
            raise ValueError(
                f"site names are lower-case letters, digits and dashes: {', '.join(bad)}"
            )
        return value


class FederationPlan(BaseModel):
    """What every party of a federation works from, fixed by the server when it is
    created from the sites' dataset metadata (never their samples): the network, the
    classes, the image size and normalisation, the rounds and local training. The
    coordinator job and each site's job read it from their spec file."""

    name: str
    dataset_type: str
    model: str
    classes: list[str]
    image_size: int
    mean: list[float]
    std: list[float]
    rounds: int
    local_epochs: int
    batch_size: int
    lr: float
    weight_decay: float
    strategy: str
    proximal_mu: float
    privacy: PrivacyOptions | None
    seed: int
    sites: dict[str, str]  # site -> NAME:vN
    superlink: str  # HOST:PORT the coordinator's SuperLink listens on
    site_address: str | None  # where the sites dial it, if not at `superlink`
    round_timeout_s: float
    site: str | None = None  # in a site's own copy: which site it is
    dataset: str | None = None  # ... and its dataset

    @classmethod
    def read(cls, path: Any) -> FederationPlan:
        from pathlib import Path

        return cls.model_validate_json(Path(path).read_text())


class FederationSitePublic(BaseModel):
    site: str
    dataset: str  # NAME:vN, pinned at creation
    job_id: int | None
    status: str | None  # its job's


class FederationPublic(BaseModel):
    id: int
    name: str
    status: FederationStatus
    sites: list[FederationSitePublic]
    coordinator_job_id: int | None = Field(description="its job carries the per-round metrics")
    rounds: int
    strategy: str
    model_type: str = Field(description="the architecture")
    privacy: PrivacyOptions | None
    model: str | None = Field(description="the global model, registered as NAME:vN")
    options: dict[str, Any]
    reason: str | None
    created_at: datetime
    finished_at: datetime | None


class FederationsPublic(BaseModel):
    data: list[FederationPublic]
    count: int
