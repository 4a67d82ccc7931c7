"""The federation's network and model folder, from its plan: every party builds the same
network (the ServerApp's initial weights are the ones that count), and the global model
is saved with the federation's classes and normalisation."""

from __future__ import annotations

from torch import nn

from fermion.modelfile import architectures
from fermion.modelfile.schema import ImagePreprocessing, ModelSpec
from fermion.payloads import FederationPlan


def preprocessing(plan: FederationPlan) -> ImagePreprocessing:
    side = plan.image_size
    return ImagePreprocessing(image_size=(side, side), mode="RGB", mean=plan.mean, std=plan.std)


def build(plan: FederationPlan) -> nn.Module:
    inputs = preprocessing(plan).shape_inputs()
    return architectures.build(plan.dataset_type, plan.model, len(plan.classes), inputs)


def model_spec(plan: FederationPlan) -> ModelSpec:
    return ModelSpec(
        dataset_type=plan.dataset_type,
        model=plan.model,
        dataset=",".join(plan.sites.values()),
        federated={"sites": plan.sites, "rounds": plan.rounds, "strategy": plan.strategy},
    )
