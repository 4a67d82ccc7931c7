"""A site's side of a round: its own dataset's splits (with the federation's classes and
normalisation), a few local epochs from the global weights (AdamW; FedProx adds
mu/2 * ||w - w_global||^2 to the loss), and evaluation. Plain loops: one process on one
site's data, nothing for Accelerate to distribute."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader

from fermion.datasets.loading import Dataset
from fermion.payloads import FederationPlan
from fermion.training.data import image_transform

SPLITS = ("train", "validation", "test")


def site_splits(plan: FederationPlan, dataset: str, client: Any) -> dict[str, Dataset]:
    """The site's splits, labelled by the federation's classes (a site may lack some)."""
    spec = {"mean": plan.mean, "std": plan.std}
    found = {}
    for split in SPLITS:
        augment = "light" if split == "train" else "none"
        transform = image_transform(spec, plan.image_size, augment)
        part = Dataset.from_local(dataset, split, client=client, transform=transform)
        part.classes = list(plan.classes)
        part.class_to_idx = {name: i for i, name in enumerate(plan.classes)}
        found[split] = part
    return found


def loader(data: Dataset, plan: FederationPlan, shuffle: bool, seed: int = 0) -> DataLoader:
    generator = torch.Generator().manual_seed(plan.seed + seed)
    return DataLoader(data, batch_size=plan.batch_size, shuffle=shuffle, generator=generator)


def train(model: nn.Module, data: DataLoader, plan: FederationPlan) -> float:
    """`plan.local_epochs` epochs; the mean training loss."""
    anchor = [p.detach().clone() for p in model.parameters()]
    optimizer = torch.optim.AdamW(model.parameters(), lr=plan.lr, weight_decay=plan.weight_decay)
    model.train()
    total, batches = 0.0, 0
    for _ in range(plan.local_epochs):
        for x, y in data:
            loss = nn.functional.cross_entropy(model(x), y)
            if plan.strategy == "fedprox" and plan.proximal_mu > 0:
                drift = sum(
                    ((p - a) ** 2).sum() for p, a in zip(model.parameters(), anchor, strict=False)
                )
                loss = loss + plan.proximal_mu / 2 * drift
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total, batches = total + loss.item(), batches + 1
    return total / max(batches, 1)


@torch.no_grad()
def evaluate(model: nn.Module, data: DataLoader) -> dict[str, float]:
    model.eval()
    loss, right, count = 0.0, 0, 0
    for x, y in data:
        out = model(x)
        loss += nn.functional.cross_entropy(out, y, reduction="sum").item()
        right += (out.argmax(1) == y).sum().item()
        count += len(y)
    return {"loss": loss / max(count, 1), "accuracy": right / max(count, 1), "count": count}
