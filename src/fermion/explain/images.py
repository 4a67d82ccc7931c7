"""Image attributions: Integrated Gradients from a black image, or occlusion (a sliding
patch of the training images' mean colour, which hides what is under it without adding a
shape of its own), summed over colour channels into one map at the model's input size, and
that map drawn over the image (red: for the class, blue: against it)."""

from __future__ import annotations

import base64
import io
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from fermion.explain.explainer import completeness

if TYPE_CHECKING:
    from fermion.explain.explainer import Explainer

STEPS = 64  # Integrated Gradients' integration steps: completeness error ~1e-3 here
DRAWN_SIDE = 224  # heat maps are drawn at least this large, small images scaled up


def normalisation(explainer: Explainer) -> tuple[torch.Tensor, torch.Tensor]:
    """The preprocessing's per-channel mean and std, shaped to broadcast over images."""
    spec = explainer.model.preprocessing
    return torch.tensor(spec.mean).view(-1, 1, 1), torch.tensor(spec.std).view(-1, 1, 1)


def black(explainer: Explainer, batch: torch.Tensor) -> torch.Tensor:
    """A black image, normalised like the input."""
    mean, std = normalisation(explainer)
    return ((torch.zeros_like(batch) - mean) / std).to(batch.dtype)


BASELINES = {"integrated-gradients": "a black image", "occlusion": "the mean colour"}


def baseline_of(explainer: Explainer, batch: torch.Tensor, method: str) -> torch.Tensor:
    if method == "occlusion":
        return torch.zeros_like(batch)  # normalised: the training split's mean colour
    return black(explainer, batch)


def attribute(
    explainer: Explainer, batch: torch.Tensor, index: Any, method: str
) -> tuple[torch.Tensor, Any]:
    """[N, C, H, W] attributions, and the completeness check where the method has one."""
    from captum.attr import IntegratedGradients, Occlusion

    baseline = baseline_of(explainer, batch, method)
    if method == "occlusion":
        channels, side = batch.shape[1], min(batch.shape[-2:])
        window = max(3, side // 8)  # a patch that hides a part, not a pixel, of a shape
        stride = max(1, window // 2)
        found = Occlusion(explainer.forward).attribute(
            batch,
            sliding_window_shapes=(channels, window, window),
            strides=(channels, stride, stride),
            baselines=baseline,
            target=index,
            perturbations_per_eval=64,
        )
        return found, None
    found, delta = IntegratedGradients(explainer.forward).attribute(
        batch,
        baselines=baseline,
        target=index,
        n_steps=STEPS,
        internal_batch_size=STEPS,
        return_convergence_delta=True,
    )
    total = float(found.sum())
    return found, completeness(total, total - float(delta[0]))


def explain(
    explainer: Explainer, batch: torch.Tensor, index: int | None, method: str, value: Any
) -> dict[str, Any]:
    found, check = attribute(explainer, batch, index, method)
    grid = found[0].sum(0).detach().numpy()
    return {
        "score": explainer.score(batch, index),
        "baseline": BASELINES[method],
        "baseline_score": explainer.score(baseline_of(explainer, batch, method), index),
        "attributions": np.round(grid, 6).tolist(),
        "heatmap_png": base64.b64encode(heatmap_png(shown(explainer, batch), grid)).decode(),
        "check": check,
    }


def shown(explainer: Explainer, batch: torch.Tensor) -> np.ndarray:
    """The input as the model saw it (resized), grey, in [0, 1]: [H, W]."""
    mean, std = normalisation(explainer)
    pixels = (batch[0] * std + mean).clamp(0, 1)
    return pixels.mean(0).numpy()


def heatmap_png(grey: np.ndarray | None, grid: np.ndarray) -> bytes:
    """The map over the grey image (or alone): red where it speaks for the class, blue
    against, as strong as the attribution; PNG bytes."""
    from PIL import Image

    peak = float(np.abs(grid).max()) or 1.0
    strength = np.clip(grid / peak, -1.0, 1.0)[..., None]
    base = np.repeat((grey if grey is not None else np.zeros_like(grid))[..., None], 3, -1)
    base = 0.35 + 0.4 * base  # dimmed, so the colours read
    red, blue = np.array([1.0, 0.1, 0.1]), np.array([0.1, 0.3, 1.0])
    colour = np.where(strength > 0, red, blue)
    alpha = np.abs(strength) ** 0.7
    pixels = base * (1 - alpha) + colour * alpha
    image = Image.fromarray((pixels * 255).astype(np.uint8))
    scale = max(1, -(-DRAWN_SIDE // max(grid.shape)))
    if scale > 1:
        image = image.resize((grid.shape[1] * scale, grid.shape[0] * scale), Image.NEAREST)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()
