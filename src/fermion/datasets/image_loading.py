"""Stored images -> tensors, the way the dataset's statistics describe.

Two ways, same values: images stored decoded at the size asked for (small images of a
dataset ingested with `pixels` in its spec) are turned into a batch tensor in one copy,
with no work per image; any other image is decoded from its stored bytes, and resized.
A user's `transform` gets the PIL image instead, as torchvision's datasets give it.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pyarrow as pa
import torch

from fermion.errors import InvalidInput

Transform = Callable[[Any], Any]


class ImageDecoder:
    def __init__(self, spec: Mapping[str, Any], size: Any, mode: str, normalize: bool) -> None:
        from torchvision.transforms import v2

        if mode not in ("RGB", "L"):
            raise InvalidInput(f"image_mode must be 'RGB' or 'L', not {mode!r}")
        self.mode = mode
        size = spec["image_size"] if size is None else size
        self.size = [size, size] if isinstance(size, int) else list(size)
        resize = self.size != list(spec["image_size"]) or not spec.get("uniform_size", True)
        stored = spec.get("pixels")
        # Stored grey pixels make RGB by repeating the channel, as PIL's convert does;
        # any other change of mode is PIL's to make, from the encoded image.
        self.batched = not resize and (stored == mode or (stored == "L" and mode == "RGB"))
        self.stored_channels = 1 if stored == "L" else 3
        steps: list[Any] = [v2.Resize(self.size, antialias=True)] if resize else []
        steps.append(v2.ToDtype(torch.float32, scale=True))
        self.mean = self.std = None
        if normalize:
            mean, std = spec["mean"], spec["std"]
            if mode == "L":
                mean, std = [sum(mean) / 3], [sum(std) / 3]
            steps.append(v2.Normalize(mean, std))
            self.mean = torch.tensor(mean).view(1, -1, 1, 1)
            self.std = torch.tensor(std).view(1, -1, 1, 1)
        self.pipeline = v2.Compose(steps)

    def __call__(self, data: bytes, transform: Transform | None) -> Any:
        """One image from its encoded bytes."""
        from PIL import Image

        image = Image.open(io.BytesIO(data)).convert(self.mode)
        if transform is not None:
            return transform(image)
        pixels = torch.from_numpy(np.asarray(image).copy())
        pixels = pixels.unsqueeze(0) if pixels.ndim == 2 else pixels.permute(2, 0, 1)
        return self.pipeline(pixels)

    def batch(self, pixels: pa.ChunkedArray | pa.Array) -> torch.Tensor:
        """B x C x H x W from the stored pixels of B images (only when `batched`)."""
        if isinstance(pixels, pa.ChunkedArray):
            pixels = pixels.combine_chunks()
        count = len(pixels)
        offsets = np.frombuffer(
            pixels.buffers()[1], dtype=np.int32, count=count + 1, offset=pixels.offset * 4
        )
        data = np.frombuffer(pixels.buffers()[2], dtype=np.uint8)[offsets[0] : offsets[-1]]
        height, width = self.size
        x = torch.from_numpy(data.reshape(count, height, width, self.stored_channels).copy())
        x = x.permute(0, 3, 1, 2).to(torch.float32).div_(255)
        if self.mode == "RGB" and self.stored_channels == 1:
            x = x.expand(-1, 3, -1, -1)
        if self.mean is not None:
            x = (x - self.mean) / self.std
        return x.contiguous()
