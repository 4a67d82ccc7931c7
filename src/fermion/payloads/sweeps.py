"""Hyperparameter sweeps: a search space over `fermion train`'s options, trials that are
training jobs, the metric they are judged by, and what the sweep found."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator, model_validator

from fermion.payloads.common import NAME_PATTERN
from fermion.payloads.jobs import TrainCreate

# The trainer's options a sweep may search; the others are fixed for every trial.
TUNABLE = (
    "lr",
    "batch_size",
    "epochs",
    "weight_decay",
    "warmup_ratio",
    "max_grad_norm",
    "optimizer",
    "scheduler",
    "model",
    "augment",
    "grad_accum",
    "image_size",
)
KINDS = ("uniform", "loguniform", "int", "logint", "choice")
SweepStatus = Literal["running", "succeeded", "failed", "cancelled"]
TrialState = Literal["running", "complete", "pruned", "failed"]


class ParamSpace(BaseModel):
    """One option's range: `lr=loguniform:1e-4:1e-1`, `epochs=int:3:10`,
    `batch_size=choice:32,64`."""

    name: str
    kind: Literal["uniform", "loguniform", "int", "logint", "choice"]
    low: float | None = None
    high: float | None = None
    choices: list[Any] | None = None

    @classmethod
    def parse(cls, name: str, text: str) -> ParamSpace:
        kind, _, rest = text.partition(":")
        if kind not in KINDS or not rest:
            raise ValueError(
                f"{name}={text!r}: write KIND:..., KIND one of {', '.join(KINDS)}"
                " (lr=loguniform:1e-4:1e-1, batch_size=choice:32,64)"
            )
        if kind == "choice":
            return cls(name=name, kind=kind, choices=[_value(v) for v in rest.split(",")])
        low, _, high = rest.partition(":")
        try:
            ends = float(low), float(high)
        except ValueError:
            raise ValueError(f"{name}={text!r}: {kind} takes LOW:HIGH, two numbers") from None
        return cls(name=name, kind=kind, low=ends[0], high=ends[1])

    @model_validator(mode="after")
    def _check(self) -> ParamSpace:
        if self.kind == "choice":
            if not self.choices:
                raise ValueError(f"{self.name}: choice needs at least one value")
            return self
        if self.low is None or self.high is None or not self.low < self.high:
            raise ValueError(f"{self.name}: LOW must be below HIGH")
        if self.kind.startswith("log") and self.low <= 0:
            raise ValueError(f"{self.name}: a log scale needs LOW above 0")
        if self.kind in ("int", "logint") and not (
            float(self.low).is_integer() and float(self.high).is_integer()
        ):
            raise ValueError(f"{self.name}: int takes whole numbers")
        return self


def _value(text: str) -> Any:
    """A choice as the option takes it: 32 -> int, 0.1 -> float, adamw -> str."""
    text = text.strip()
    for kind in (int, float):
        try:
            value = kind(text)
            return value if not (isinstance(value, float) and math.isnan(value)) else text
        except ValueError:
            continue
    return text


class SweepCreate(BaseModel):
    name: str = Field(pattern=NAME_PATTERN, description="the sweep's name; its best model's too")
    dataset: str = Field(description="NAME or NAME:vN")
    params: list[ParamSpace] = Field(min_length=1, description="the search space")
    metric: str = Field(
        "val_accuracy", description="a validation metric of the trainer: val_accuracy, val_loss"
    )
    direction: Literal["maximize", "minimize"] = "maximize"
    trials: int = Field(12, ge=1, le=1000)
    parallel: int = Field(2, ge=1, le=64)
    pruner: Literal["median", "none"] = "median"
    seed: int = 0
    train: dict[str, Any] = Field(
        default_factory=dict, description="fixed `fermion train` options for every trial"
    )

    @field_validator("params")
    @classmethod
    def _tunable(cls, params: list[ParamSpace]) -> list[ParamSpace]:
        names = [p.name for p in params]
        unknown = sorted(set(names) - set(TUNABLE))
        if unknown:
            raise ValueError(
                f"{', '.join(unknown)} cannot be searched; choose from {', '.join(TUNABLE)}"
            )
        if len(set(names)) != len(names):
            raise ValueError("each option may be searched once")
        return params

    @field_validator("train")
    @classmethod
    def _train_options(cls, options: dict[str, Any]) -> dict[str, Any]:
        fixed = set(TrainCreate.model_fields) - {"dataset", "name", "code"}
        unknown = sorted(set(options) - fixed)
        if unknown:
            raise ValueError(f"{', '.join(unknown)} are not options of fermion train")
        return options

    @property
    def metric_name(self) -> str:
        """The name the trainer logs it under: val_accuracy -> val/accuracy."""
        return self.metric.replace("_", "/", 1) if self.metric.startswith("val_") else self.metric


class SweepTrialPublic(BaseModel):
    number: int
    job_id: int | None
    state: TrialState
    params: dict[str, Any]
    epochs: int  # what it trains for, unless pruned
    value: float | None  # the best of its epochs' metric; the last one for a pruned trial
    intermediate: list[float]  # the metric after each epoch
    created_at: datetime
    finished_at: datetime | None


class SweepPublic(BaseModel):
    id: int
    name: str
    status: SweepStatus
    dataset: str
    metric: str
    direction: str
    trials_wanted: int
    parallel: int
    pruner: str
    params: list[ParamSpace]
    train: dict[str, Any]
    trials: list[SweepTrialPublic]
    best_trial: int | None
    best_value: float | None
    model: str | None = Field(description="the best trial's model, registered as NAME:vN")
    importance: dict[str, float] | None = Field(
        None, description="how much each option mattered to the metric (sums to 1)"
    )
    reason: str | None
    created_at: datetime
    finished_at: datetime | None

    @property
    def pruned(self) -> int:
        return sum(t.state == "pruned" for t in self.trials)


class SweepsPublic(BaseModel):
    data: list[SweepPublic]
    count: int
