"""Record attributions, SHAP-style: Shapley values of the features, estimated by
sampling feature orders (Captum's ShapleyValueSampling) against the training split's
average record; or Integrated Gradients from that record. Each feature's attribution is
its share of the change from the average record's output to this record's."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch

from fermion.explain.explainer import completeness
from fermion.modelfile.schema import TabularPreprocessing

if TYPE_CHECKING:
    from fermion.explain.explainer import Explainer

ORDERS = 64  # sampled feature orders: the values' noise falls as 1/sqrt(ORDERS)
STEPS = 64


def average_record(explainer: Explainer, batch: torch.Tensor) -> torch.Tensor:
    spec = explainer.model.preprocessing
    assert isinstance(spec, TabularPreprocessing)
    return torch.tensor([spec.mean], dtype=batch.dtype)


def attribute(
    explainer: Explainer, batch: torch.Tensor, index: int | None, method: str
) -> torch.Tensor:
    from captum.attr import IntegratedGradients, ShapleyValueSampling

    baseline = average_record(explainer, batch)
    if method == "integrated-gradients":
        return IntegratedGradients(explainer.forward).attribute(
            batch, baselines=baseline, target=index, n_steps=STEPS, internal_batch_size=STEPS
        )
    torch.manual_seed(0)  # the same record gets the same values
    return ShapleyValueSampling(explainer.forward).attribute(
        batch,
        baselines=baseline,
        target=index,
        n_samples=ORDERS,
        perturbations_per_eval=batch.shape[1] + 1,
    )


def explain(
    explainer: Explainer, batch: torch.Tensor, index: int | None, method: str, value: Any
) -> dict[str, Any]:
    found = attribute(explainer, batch, index, method)[0].detach()
    score = explainer.score(batch, index)
    baseline_score = explainer.score(average_record(explainer, batch), index)
    features = [
        {"name": name, "value": float(x), "attribution": round(float(a), 6)}
        for name, x, a in zip(explainer.pre.columns, batch[0].tolist(), found.tolist(), strict=True)
    ]
    features.sort(key=lambda f: -abs(f["attribution"]))
    return {
        "score": score,
        "baseline": "the training split's average record",
        "baseline_score": baseline_score,
        "features": features,
        "check": completeness(float(found.sum()), score - baseline_score),
    }
