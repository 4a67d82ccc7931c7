"""Hyperparameter sweeps: a search space over `fermion train`'s options, trials that are
training jobs, the metric they are judged by, and what the sweep found."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field, model_validator

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
COMMAND_OPTIONS = ("cpu", "gpu", "memory", "nproc", "env")  # a script trial's job
KINDS = ("uniform", "loguniform", "int", "logint", "choice")
SweepStatus = Literal["running", "succeeded", "failed", "cancelled"]
TrialState = Literal["running", "complete", "pruned", "failed", "cancelled"]


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
    """A sweep over the built-in trainer (`dataset`, and `train` for the options every
    trial shares), or over a script of your own (`command`, with `code`; the script reads
    its options with fm.trial.suggest and reports the metric with fm.trial.report)."""

    name: str = Field(pattern=NAME_PATTERN, description="the sweep's name; its best model's too")
    dataset: str | None = Field(None, description="NAME or NAME:vN (the built-in trainer)")
    command: list[str] | None = Field(
        None, min_length=1, description="your own trial program, e.g. python train.py"
    )
    code: str | None = Field(None, description="the packed working directory: upload:ID/NAME")
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
        default_factory=dict,
        description="options every trial shares: `fermion train`'s, or a command's resources",
    )

    @model_validator(mode="after")
    def _check(self) -> SweepCreate:
        names = [p.name for p in self.params]
        if len(set(names)) != len(names):
            raise ValueError("each option may be searched once")
        if self.command is None:
            if self.dataset is None:
                raise ValueError("give the dataset to train on, or a command of your own")
            unknown = sorted(set(names) - set(TUNABLE))
            if unknown:
                raise ValueError(
                    f"{', '.join(unknown)} cannot be searched; choose from {', '.join(TUNABLE)}"
                )
            fixed = set(TrainCreate.model_fields) - {"dataset", "name", "code"}
        else:
            fixed = set(COMMAND_OPTIONS)
        unknown = sorted(set(self.train) - fixed)
        if unknown:
            raise ValueError(
                f"{', '.join(unknown)} cannot be fixed; choose from {', '.join(sorted(fixed))}"
            )
        return self

    @property
    def metric_name(self) -> str:
        """The name the metric is logged under: the trainer's val_accuracy is
        val/accuracy; a script's (fm.trial.report) is the metric itself."""
        if self.command is None and self.metric.startswith("val_"):
            return self.metric.replace("_", "/", 1)
        return self.metric


class SweepTrialPublic(BaseModel):
    number: int
    job_id: int | None
    state: TrialState
    params: dict[str, Any]
    epochs: int | None  # what it trains for, unless pruned (the built-in trainer)
    value: float | None  # the best of its epochs' metric; the last one for a pruned trial
    intermediate: list[float]  # the metric after each epoch
    created_at: datetime
    finished_at: datetime | None


class SweepPublic(BaseModel):
    id: int
    name: str
    status: SweepStatus
    dataset: str | None
    command: list[str] | None
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
