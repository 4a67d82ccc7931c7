"""Explanations: why a model gave one input its answer (attributions per pixel, token or
feature), and a model's global feature importance over a dataset split."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

ExplainMethod = Literal["integrated-gradients", "occlusion", "shapley"]
EXPLAIN_METHODS: dict[str, tuple[str, ...]] = {  # by input kind; the first is the default
    "image": ("integrated-gradients", "occlusion"),
    "text": ("integrated-gradients", "occlusion"),
    "tabular": ("shapley", "integrated-gradients"),
}


class ExplainCreate(BaseModel):
    """One input, as `predict` takes it: an image (base64), a text, or a record."""

    input: Any = Field(description="a base64 image, a text, or a record {column: value}")
    target: str | None = Field(
        None, max_length=256, description="the class to explain; default: the predicted one"
    )
    method: ExplainMethod | None = Field(None, description="default: the kind's first method")
    cpu: float | None = Field(None, gt=0)
    memory: str | None = None


class TokenAttribution(BaseModel):
    token: str
    attribution: float


class FeatureAttribution(BaseModel):
    name: str
    value: float
    attribution: float


class AttributionCheck(BaseModel):
    """Completeness: the attributions add up to the change of the explained output from
    the baseline to the input (exactly for Shapley values; Integrated Gradients within
    its integration error). A large `error` says not to trust the picture."""

    total: float
    expected: float
    error: float


class Explanation(BaseModel):
    model: str
    kind: Literal["image", "text", "tabular"]
    method: str
    target: str | None = Field(description="the explained class; None for a regression")
    score: float = Field(description="the target's probability, or the predicted value")
    baseline: str = Field(description="what the input is compared with")
    baseline_score: float
    attributions: list[list[float]] | None = Field(
        None, description="images: one value per pixel (height x width) at the model's size"
    )
    heatmap_png: str | None = Field(None, description="images: the map over the image, base64")
    tokens: list[TokenAttribution] | None = None
    features: list[FeatureAttribution] | None = Field(
        None, description="tables: every feature, the largest attribution first"
    )
    check: AttributionCheck | None = None
    seconds: float
