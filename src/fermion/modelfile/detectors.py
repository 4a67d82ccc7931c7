"""Object detectors: torchvision's detection models, built without downloaded weights.

- `small-detector` (the default): torchvision's FCOS (anchor-free, one stage) on a small
  convolutional backbone with a feature pyramid at strides 8, 16 and 32. It learns from
  a few hundred images on a CPU in minutes.
- `fasterrcnn_mobilenet_v3_large_fpn`, `retinanet_resnet50_fpn`,
  `ssdlite320_mobilenet_v3_large`: torchvision's own, by their torchvision names; with
  `--pretrained weights.pth` they start from a local file of torchvision weights (a head
  for another number of classes is left as initialised).

`Detector` wraps any of them with Fermion's conventions: images come in as one batch of
a fixed size with values in [0, 1] (the network normalises them itself); class indices
count from 0 (torchvision keeps 0 for the background); in training it returns the sum
of the losses, and in inference one tensor [N, MAX_DETECTIONS, 6] of rows (x0, y0, x1,
y1, score, class), padded with class -1, so that a replica batches and pads detectors
as it does any network.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import torch
from torch import nn

IMAGENET_MEAN = [0.485, 0.456, 0.406]
IMAGENET_STD = [0.229, 0.224, 0.225]
MAX_DETECTIONS = 100
MIN_SCORE = 0.05  # kept by the network; what a prediction shows is the folder's min_score


def _block(inputs: int, outputs: int) -> nn.Sequential:
    """Halves the resolution: a strided conv, then a conv, each with batch norm."""
    return nn.Sequential(
        nn.Conv2d(inputs, outputs, 3, 2, 1, bias=False),
        nn.BatchNorm2d(outputs),
        nn.ReLU(inplace=True),
        nn.Conv2d(outputs, outputs, 3, 1, 1, bias=False),
        nn.BatchNorm2d(outputs),
        nn.ReLU(inplace=True),
    )


class SmallBackbone(nn.Module):
    """Five halvings; the last three (strides 8, 16, 32) feed a feature pyramid."""

    def __init__(self, out_channels: int = 64) -> None:
        super().__init__()
        from torchvision.ops import FeaturePyramidNetwork

        self.stem = nn.Sequential(_block(3, 16), _block(16, 32))
        self.stages = nn.ModuleList([_block(32, 64), _block(64, 96), _block(96, 128)])
        self.fpn = FeaturePyramidNetwork([64, 96, 128], out_channels)
        self.out_channels = out_channels

    def forward(self, x: torch.Tensor) -> OrderedDict[str, torch.Tensor]:
        x = self.stem(x)
        features = OrderedDict()
        for n, stage in enumerate(self.stages):
            x = stage(x)
            features[str(n)] = x
        return self.fpn(features)


def build_detector(name: str, classes: int, image_size: tuple[int, int]) -> Detector:
    """A freshly initialised detector for `classes` categories and images of
    `image_size` (height, width)."""
    from torchvision.models import get_model
    from torchvision.models.detection import FCOS
    from torchvision.models.detection.anchor_utils import AnchorGenerator

    side = max(image_size)
    sizes: dict[str, Any] = {
        "min_size": min(image_size),
        "max_size": side,
        "image_mean": IMAGENET_MEAN,
        "image_std": IMAGENET_STD,
        "detections_per_img": MAX_DETECTIONS,
    }
    if name == "small-detector":
        anchors = AnchorGenerator(sizes=((8,), (16,), (32,)), aspect_ratios=((1.0,),) * 3)
        network = FCOS(
            SmallBackbone(), classes + 1, anchor_generator=anchors, score_thresh=MIN_SCORE, **sizes
        )
    elif name.startswith("ssdlite"):  # a fixed 320 x 320 input of its own
        network = get_model(name, weights=None, weights_backbone=None, num_classes=classes + 1)
    else:
        network = get_model(
            name, weights=None, weights_backbone=None, num_classes=classes + 1, **sizes
        )
    return Detector(network)


class Detector(nn.Module):
    def __init__(self, network: nn.Module) -> None:
        super().__init__()
        self.network = network

    def forward(
        self, images: torch.Tensor, targets: list[dict[str, torch.Tensor]] | None = None
    ) -> torch.Tensor:
        if targets is not None:  # training: the sum of the detector's losses
            shifted = [{"boxes": t["boxes"], "labels": t["labels"] + 1} for t in targets]
            return sum(self.network(list(images), shifted).values())
        found = self.network(list(images))
        rows = torch.full((len(found), MAX_DETECTIONS, 6), -1.0, device=images.device)
        for n, detections in enumerate(found):
            k = min(len(detections["scores"]), MAX_DETECTIONS)
            rows[n, :k, :4] = detections["boxes"][:k]
            rows[n, :k, 4] = detections["scores"][:k]
            rows[n, :k, 5] = detections["labels"][:k].float() - 1
        return rows


def unpadded(rows: torch.Tensor) -> list[dict[str, torch.Tensor]]:
    """A Detector's output as torchvision's list of {"boxes", "scores", "labels"}."""
    found = []
    for image in rows:
        kept = image[image[:, 5] >= 0]
        found.append({"boxes": kept[:, :4], "scores": kept[:, 4], "labels": kept[:, 5].long()})
    return found
