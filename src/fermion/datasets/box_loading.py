"""Images with their boxes, as a detector takes them: the image fitted into one size
(`fermion.boxes`: scaled keeping its shape, padded at the right and bottom) with values
in [0, 1], and a target {"boxes": [n, 4] corners in the fitted image's pixels, "labels":
[n] class indices}. torchvision's transforms v2 move the boxes with the pixels, so an
augmentation (a flip, a crop) keeps them on their objects."""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from typing import Any

import torch

from fermion.boxes import PAD_VALUE, fitted_size, padding


class BoxedImage:
    """One stored record -> (image, target). A class, not a closure: loader workers may
    receive it pickled."""

    def __init__(
        self,
        size: Sequence[int],
        class_to_idx: dict[str, int],
        transform: Callable | None = None,
    ) -> None:
        from torchvision.transforms import v2

        self.size = tuple(size)
        self.class_to_idx = class_to_idx
        self.transform = transform
        self.finish = v2.Compose(
            [
                v2.ToDtype(torch.float32, scale=True),
                v2.SanitizeBoundingBoxes(min_size=1),  # boxes a crop left with no area go
            ]
        )

    def __call__(
        self, data: bytes, boxes: list[list[float]], categories: list[str]
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        from PIL import Image
        from torchvision import tv_tensors
        from torchvision.transforms.v2 import functional

        with Image.open(io.BytesIO(data)) as image:
            pixels = functional.pil_to_tensor(image.convert("RGB"))
        target: dict[str, Any] = {
            "boxes": tv_tensors.BoundingBoxes(
                torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4),
                format="XYXY",
                canvas_size=tuple(pixels.shape[-2:]),
            ),
            "labels": torch.tensor([self.class_to_idx[c] for c in categories], dtype=torch.int64),
        }
        image = tv_tensors.Image(pixels)
        if self.transform is not None:
            image, target = self.transform(image, target)
        fitted = fitted_size(image.shape[-2:], self.size)
        pad = padding(fitted, self.size)
        image = functional.resize(image, list(fitted), antialias=True)
        image = functional.pad(image, pad, fill=PAD_VALUE)
        target["boxes"] = functional.pad(functional.resize(target["boxes"], list(fitted)), pad)
        image, target = self.finish(image, target)
        return image.as_subclass(torch.Tensor), {
            "boxes": target["boxes"].as_subclass(torch.Tensor),
            "labels": target["labels"],
        }


def flips() -> Callable:
    """Training augmentation for detection: mirror images left to right, at random."""
    from torchvision.transforms import v2

    return v2.RandomHorizontalFlip()


def collate_boxed(batch: list[tuple[torch.Tensor, dict]]) -> tuple[torch.Tensor, list[dict]]:
    """Images of one size stack into a tensor; targets stay a list (their sizes differ)."""
    return torch.stack([x for x, _ in batch]), [y for _, y in batch]
