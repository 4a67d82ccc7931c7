"""Evaluation metrics, from gathered predictions (no sklearn at run time needed)."""

from __future__ import annotations

import torch


def classification_metrics(
    logits: torch.Tensor, labels: torch.Tensor, classes: list[str], with_details: bool = False
) -> dict:
    n = len(classes)
    predicted = logits.argmax(dim=1)
    confusion = torch.zeros(n, n, dtype=torch.long)
    confusion.index_put_((labels, predicted), torch.ones_like(labels), accumulate=True)
    true_positive = confusion.diag().float()
    precision = true_positive / confusion.sum(0).clamp_min(1)
    recall = true_positive / confusion.sum(1).clamp_min(1)
    f1 = 2 * precision * recall / (precision + recall).clamp_min(1e-12)
    present = confusion.sum(1) > 0  # macro over the classes the split has
    result = {
        "accuracy": (predicted == labels).float().mean().item(),
        "macro_f1": f1[present].mean().item() if present.any() else 0.0,
    }
    if with_details:
        result["per_class"] = {
            name: {
                "precision": precision[i].item(),
                "recall": recall[i].item(),
                "f1": f1[i].item(),
                "support": int(confusion[i].sum()),
            }
            for i, name in enumerate(classes)
        }
        result["confusion_matrix"] = confusion.tolist()
        result["labels"] = classes
    return result


def regression_metrics(predictions: torch.Tensor, targets: torch.Tensor) -> dict:
    errors = predictions.float() - targets.float()
    total = ((targets - targets.mean()) ** 2).sum().clamp_min(1e-12)
    return {
        "mae": errors.abs().mean().item(),
        "rmse": errors.pow(2).mean().sqrt().item(),
        "r2": (1 - errors.pow(2).sum() / total).item(),
    }
