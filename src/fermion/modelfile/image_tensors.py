"""A PyTorch replica's image preprocessing, without torchvision.

`ImagePipeline` does what torchvision's
`v2.Compose([v2.Resize(size, antialias=True), v2.ToDtype(float32, scale=True),
v2.Normalize(mean, std)])` does to uint8 image tensors, with the same torch calls in the
same order, so the values are the same bit for bit (tests/modelfile/test_image_tensors.py
holds it to that). Importing torchvision costs a replica about 1.5 s and 165 MiB at start;
a network of Fermion's own needs nothing else from it."""

from __future__ import annotations

import platform
from collections.abc import Sequence

import torch
from torch.nn.functional import interpolate


def _native_uint8_bilinear() -> bool:
    """Where torch resizes uint8 images on the CPU itself; elsewhere (and on GPUs)
    torchvision resizes in float and rounds back
    (torchvision.transforms.v2.functional._do_native_uint8_resize_on_cpu)."""
    capability = torch.backends.cpu.get_cpu_capability()
    return capability in ("AVX2", "AVX512") or platform.machine() in ("aarch64", "arm64")


class ImagePipeline:
    """uint8 images (C x H x W, or N x C x H x W) -> normalised float32 of `size`."""

    def __init__(self, size: Sequence[int], mean: Sequence[float], std: Sequence[float]) -> None:
        self.size = [int(s) for s in size]
        self.mean = torch.as_tensor(mean, dtype=torch.float32).view(-1, 1, 1)
        self.std = torch.as_tensor(std, dtype=torch.float32).view(-1, 1, 1)
        self.native = _native_uint8_bilinear()

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        return self.normalize(self.scale(self.resize(images)))

    def resize(self, images: torch.Tensor) -> torch.Tensor:
        if list(images.shape[-2:]) == self.size:
            return images
        batch = images.reshape(-1, *images.shape[-3:])
        if self.native and images.device.type == "cpu":
            resized = interpolate(
                batch, size=self.size, mode="bilinear", align_corners=False, antialias=True
            )
        else:
            resized = interpolate(
                batch.float(), size=self.size, mode="bilinear", align_corners=False, antialias=True
            )
            resized = resized.round_().to(torch.uint8)
        return resized.reshape(*images.shape[:-2], *self.size)

    @staticmethod
    def scale(images: torch.Tensor) -> torch.Tensor:
        return images.to(torch.float32).mul_(1.0 / 255)

    def normalize(self, images: torch.Tensor) -> torch.Tensor:
        return images.sub(self.mean).div_(self.std)
