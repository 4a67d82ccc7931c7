"""How an image of any size becomes a detector's input, and its boxes come back: it is
scaled, keeping its shape, to fit the network's input size, and padded at the right and
bottom (a letterbox). Training, evaluation and replicas fit images the same way, so a
detector never sees a square stretched into a rectangle. In the foundation: the loader
(data) and the replica (modelfile) both need it, and neither may import the other."""

from __future__ import annotations

from collections.abc import Sequence

# The letterbox's grey (as YOLO pads): close to the ImageNet mean the detectors subtract,
# so the padding reads as nothing rather than as a black object.
PAD_VALUE = 114


def fitted_size(size: Sequence[int], target: Sequence[int]) -> tuple[int, int]:
    """(height, width) of an image of `size` scaled, keeping its shape, to fit `target`."""
    height, width = size
    scale = min(target[0] / height, target[1] / width)
    return (
        min(target[0], max(1, round(height * scale))),
        min(target[1], max(1, round(width * scale))),
    )


def padding(size: Sequence[int], target: Sequence[int]) -> list[int]:
    """The right and bottom padding that takes a fitted image to `target`, as torchvision's
    Pad takes it: [left, top, right, bottom]."""
    return [0, 0, target[1] - size[1], target[0] - size[0]]
