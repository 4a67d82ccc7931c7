"""Metadata tables. The store holds rows and URIs; files live in the artifact store."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from fermion.store.base import Base, DateTime, utcnow
from fermion.store.keyring import DataKeyRow
from fermion.store.tenancy import WorkspaceBound

# Ids are Integer columns: 32 bits on PostgreSQL, where a larger number in a query is an
# error (a 500) rather than a row that is not there (a 404).
MAX_ROW_ID = 2**31 - 1


def is_row_id(value: int) -> bool:
    return 0 < value <= MAX_ROW_ID


# The base lives in store/base.py, data keys in store/keyring.py; tables import them here.
__all__ = ["Base", "DataKeyRow", "DateTime", "utcnow"]


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(16), default="member")  # admin | member | viewer
    # A disabled user's tokens stop working; their resources stay with their workspaces.
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    # The workspace a call acts in when it names none (X-Fermion-Workspace).
    default_workspace_id: Mapped[int | None] = mapped_column(
        ForeignKey("workspaces.id", ondelete="SET NULL")
    )
    # Default job resources set by `fermion config --cpu --gpu --memory`.
    job_defaults: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    tokens: Mapped[list[Token]] = relationship(back_populates="user", cascade="all, delete-orphan")


class Token(Base):
    __tablename__ = "tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(64))
    # SHA-256 of the secret; the secret itself is never stored.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # A job's own token acts for the job's owner, limited to that job; deleted when it ends.
    job_id: Mapped[int | None] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"))
    # A deployment token may call that deployment's endpoints and nothing else.
    deployment_id: Mapped[int | None] = mapped_column(
        ForeignKey("deployments.id", ondelete="CASCADE")
    )
    # Dashboard sessions expire; API tokens may.
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Less than its user may do, where set: {"read_only": true, "workspace": "vision"}.
    scope: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    user: Mapped[User] = relationship(back_populates="tokens")


class DatasetRow(WorkspaceBound, Base):
    __tablename__ = "datasets"
    __table_args__ = (UniqueConstraint("workspace_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    type: Mapped[str] = mapped_column(String(32))
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    # Version numbers are never reused, even after a version is deleted.
    next_version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    versions: Mapped[list[DatasetVersionRow]] = relationship(
        back_populates="dataset",
        cascade="all, delete-orphan",
        order_by="DatasetVersionRow.version",
    )


class DatasetVersionRow(Base):
    __tablename__ = "dataset_versions"
    __table_args__ = (
        UniqueConstraint("dataset_id", "version"),
        UniqueConstraint("dataset_id", "digest"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    digest: Mapped[str] = mapped_column(String(64))
    uri: Mapped[str] = mapped_column(String(1024))
    source: Mapped[str] = mapped_column(String(1024))
    # Columns, split ratios and seed, image statistics: everything a loader needs.
    spec: Mapped[dict[str, Any]] = mapped_column(JSON)
    num_records: Mapped[int] = mapped_column(Integer)
    split_counts: Mapped[dict[str, Any]] = mapped_column(JSON)
    class_names: Mapped[list[Any]] = mapped_column(JSON)
    class_counts: Mapped[dict[str, Any]] = mapped_column(JSON)
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    sealed: Mapped[bool] = mapped_column(Boolean, default=False)  # files sealed at rest
    # Records skipped with --skip-invalid, with the reason for each.
    skipped: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    dataset: Mapped[DatasetRow] = relationship(back_populates="versions")


class JobRow(WorkspaceBound, Base):
    __tablename__ = "jobs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16), default="command")
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(16), index=True)
    command: Mapped[list[Any]] = mapped_column(JSON)
    env: Mapped[dict[str, Any]] = mapped_column(JSON)
    nproc: Mapped[int] = mapped_column(Integer)  # processes per node
    nodes: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    # What each node gives the job (a job of several nodes holds this on every one).
    cpu: Mapped[float] = mapped_column(Float)
    gpu: Mapped[int] = mapped_column(Integer)
    memory_bytes: Mapped[int] = mapped_column(BigInteger)
    max_retries: Mapped[int] = mapped_column(Integer)
    attempt: Mapped[int] = mapped_column(Integer, default=0)  # attempts started so far
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    exit_code: Mapped[int | None] = mapped_column(Integer)
    failure_reason: Mapped[str | None] = mapped_column(String(1024))
    # What the executor needs to find the running attempt again after a restart.
    handle: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    gpu_ids: Mapped[list[Any]] = mapped_column(JSON, default=list)
    # Less than its owner may reach, where set: {"datasets": ["NAME:vN"]} limits the job's
    # token to that dataset and its own job, and the job runs isolated (a federated site).
    scope: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # Names of its owner's secrets it gets as environment variables (values: SecretRow).
    secrets: Mapped[list[Any] | None] = mapped_column(JSON)
    # One entry per finished attempt: started/finished times, exit code, reason.
    history: Mapped[list[Any]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class JobMetricRow(Base):
    __tablename__ = "job_metrics"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(128))
    step: Mapped[int | None] = mapped_column(Integer)
    value: Mapped[float] = mapped_column(Float)
    attempt: Mapped[int] = mapped_column(Integer)
    logged_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ModelRow(WorkspaceBound, Base):
    __tablename__ = "models"
    __table_args__ = (UniqueConstraint("workspace_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    type: Mapped[str] = mapped_column(String(32))  # the dataset type it was trained for
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    next_version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    versions: Mapped[list[ModelVersionRow]] = relationship(
        back_populates="model", cascade="all, delete-orphan", order_by="ModelVersionRow.version"
    )


class ModelVersionRow(Base):
    __tablename__ = "model_versions"
    __table_args__ = (UniqueConstraint("model_id", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    uri: Mapped[str] = mapped_column(String(1024))
    # Lineage: the job that made it and the exact dataset version it learned from.
    job_id: Mapped[int | None] = mapped_column(
        ForeignKey("jobs.id", ondelete="SET NULL"), index=True
    )
    dataset: Mapped[str] = mapped_column(String(128))  # NAME:vN
    metrics: Mapped[dict[str, Any]] = mapped_column(JSON)
    config: Mapped[dict[str, Any]] = mapped_column(JSON)
    # `fermion model evaluate` results: dataset version, split, metrics, job.
    evaluations: Mapped[list[Any]] = mapped_column(JSON, default=list)
    sealed: Mapped[bool] = mapped_column(Boolean, default=False)  # files sealed at rest
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    model: Mapped[ModelRow] = relationship(back_populates="versions")
    # The deployments serving it, loaded with it (one query for a whole list of versions).
    deployments: Mapped[list[DeploymentRow]] = relationship(
        back_populates="model_version", lazy="selectin", order_by="DeploymentRow.name"
    )


class DeploymentRow(WorkspaceBound, Base):
    """What a deployment should be; its replicas are jobs that the scheduler runs.

    Its name is its endpoint's address (/api/v1/deployments/NAME/predict), so unlike the
    other names it is unique across workspaces."""

    __tablename__ = "deployments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    # RESTRICT: a model version that a deployment serves cannot be deleted.
    model_version_id: Mapped[int] = mapped_column(
        ForeignKey("model_versions.id", ondelete="RESTRICT")
    )
    replicas: Mapped[int] = mapped_column(Integer)
    cpu: Mapped[float] = mapped_column(Float)
    memory_bytes: Mapped[int] = mapped_column(BigInteger)
    max_batch_size: Mapped[int] = mapped_column(Integer)
    max_batch_delay_ms: Mapped[float] = mapped_column(Float)
    public: Mapped[bool] = mapped_column(Boolean, default=False)
    runtime: Mapped[str] = mapped_column(String(16), default="torch")
    # {"min_replicas", "max_replicas", "target_concurrency", "scale_down_delay_s"}: the
    # autoscaler sets `replicas` within these; None: `replicas` is set by hand.
    autoscaling: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # The autoscaler's last changes, newest last: {"at", "from", "to", "reason"}.
    scale_events: Mapped[list[Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    model_version: Mapped[ModelVersionRow] = relationship(back_populates="deployments")
    replica_rows: Mapped[list[ReplicaRow]] = relationship(
        back_populates="deployment", cascade="all, delete-orphan", order_by="ReplicaRow.id"
    )


class ReplicaRow(Base):
    """One replica: the job that runs it, the model version it serves, and where it
    listens (reported by the replica itself for its current attempt)."""

    __tablename__ = "replicas"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    deployment_id: Mapped[int] = mapped_column(
        ForeignKey("deployments.id", ondelete="CASCADE"), index=True
    )
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), unique=True)
    model_version_id: Mapped[int] = mapped_column(
        ForeignKey("model_versions.id", ondelete="RESTRICT")
    )
    endpoint: Mapped[str | None] = mapped_column(String(256))
    # What the gateway shows the replica on every request; it answers no one else.
    key: Mapped[str | None] = mapped_column(String(128))
    endpoint_attempt: Mapped[int | None] = mapped_column(Integer)  # the attempt that listens there
    ready: Mapped[bool] = mapped_column(Boolean, default=False)  # its /readyz, last probed
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    deployment: Mapped[DeploymentRow] = relationship(back_populates="replica_rows")
    job: Mapped[JobRow] = relationship()
    model_version: Mapped[ModelVersionRow] = relationship()


class SweepRow(WorkspaceBound, Base):
    """A hyperparameter sweep: what it searches (`spec`, a SweepCreate), how it went,
    and what it found. Its trials are training jobs."""

    __tablename__ = "sweeps"
    __table_args__ = (UniqueConstraint("workspace_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    dataset: Mapped[str | None] = mapped_column(String(160))  # NAME:vN, pinned at creation
    spec: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16), index=True)
    best_trial: Mapped[int | None] = mapped_column(Integer)
    model: Mapped[str | None] = mapped_column(String(160))  # the best trial's, registered
    importance: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    reason: Mapped[str | None] = mapped_column(String(1024))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    trials: Mapped[list[SweepTrialRow]] = relationship(
        back_populates="sweep", cascade="all, delete-orphan", order_by="SweepTrialRow.number"
    )


class SweepTrialRow(Base):
    """One trial: the options it was given, the job that trained with them, and the
    metric after each epoch (what the pruner judges it by)."""

    __tablename__ = "sweep_trials"
    __table_args__ = (UniqueConstraint("sweep_id", "number"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sweep_id: Mapped[int] = mapped_column(ForeignKey("sweeps.id", ondelete="CASCADE"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    job_id: Mapped[int | None] = mapped_column(ForeignKey("jobs.id", ondelete="SET NULL"))
    params: Mapped[dict[str, Any]] = mapped_column(JSON)
    state: Mapped[str] = mapped_column(String(16))
    epochs: Mapped[int | None] = mapped_column(Integer)  # what it trains for (built-in trainer)
    value: Mapped[float | None] = mapped_column(Float)
    intermediate: Mapped[list[Any]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    sweep: Mapped[SweepRow] = relationship(back_populates="trials")
    job: Mapped[JobRow | None] = relationship()


class FederationRow(WorkspaceBound, Base):
    """A federated training: its sites (each with its dataset and its job), the
    coordinator job that runs the rounds, and the global model it registered."""

    __tablename__ = "federations"
    __table_args__ = (UniqueConstraint("workspace_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    spec: Mapped[dict[str, Any]] = mapped_column(JSON)  # the FederationCreate, as completed
    sites: Mapped[list[Any]] = mapped_column(JSON)  # [{"site", "dataset", "job_id"}]
    coordinator_job_id: Mapped[int | None] = mapped_column(
        ForeignKey("jobs.id", ondelete="SET NULL")
    )
    status: Mapped[str] = mapped_column(String(16), index=True)
    model: Mapped[str | None] = mapped_column(String(160))
    reason: Mapped[str | None] = mapped_column(String(1024))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    coordinator: Mapped[JobRow | None] = relationship()


class SecretRow(WorkspaceBound, Base):
    """A workspace's secret (its jobs may ask for it; `owner_id` set it): its value sealed with AES-GCM (store/secrets.py), never stored
    or shown in the clear."""

    __tablename__ = "secrets"
    __table_args__ = (UniqueConstraint("workspace_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(128))
    sealed: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class AuditEventRow(Base):
    """One mutating API call or sign-in: who, what, when, from where. Append-only: no
    code updates or deletes a row, and the database refuses to (triggers, migration 0009)."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    # Names, not keys: the record outlives what it names.
    actor: Mapped[str] = mapped_column(String(128), index=True)  # ana; job 12 (ana); -
    workspace: Mapped[str | None] = mapped_column(String(64))
    method: Mapped[str] = mapped_column(String(8))
    path: Mapped[str] = mapped_column(String(512))
    status: Mapped[int] = mapped_column(Integer)
    client: Mapped[str | None] = mapped_column(String(64))  # the caller's address
