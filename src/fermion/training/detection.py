"""Training detectors: the trainer's loop with the detector's own losses and COCO's
evaluation.

- Data: images resized to one size (the dataset's most common, its longer side at most
  MAX_SIDE, or `--image-size` for the longer side) with their boxes; flipped left to
  right at random for training.
- Loss: what the detector computes for itself (torchvision's: classification, box
  regression and, for FCOS, centre-ness), summed.
- Evaluation: mean average precision as COCO defines it, by torchmetrics with the
  pycocotools backend: mAP@0.5 (`map_50`, the headline), mAP@0.5:0.95 (`map`), mAP@0.75
  and recall of 100 detections per image, and the AP of each class in the test report.
"""

from __future__ import annotations

from typing import Any

import torch

from fermion.datasets.box_loading import collate_boxed, flips
from fermion.datasets.loading import Dataset
from fermion.errors import InvalidInput
from fermion.modelfile.decoding import in_pixels_of
from fermion.modelfile.detectors import unpadded
from fermion.modelfile.schema import DetectionPreprocessing
from fermion.training.config import TrainConfig
from fermion.training.data import Data
from fermion.training.loop import Trainer

MAX_SIDE = 512  # larger images are shrunk to this for training: detectors cost per pixel
HEADLINE = ("map_50", "map", "map_75", "mar_100")


def training_size(spec: dict[str, Any], longer_side: int | None) -> tuple[int, int]:
    """(height, width): the dataset's most common size, scaled so its longer side is
    `longer_side` (or at most MAX_SIDE), in multiples of 32 (the backbones' stride)."""
    height, width = spec["image_size"]
    target = longer_side or min(max(height, width), MAX_SIDE)
    scale = target / max(height, width)
    return tuple(max(32, round(side * scale / 32) * 32) for side in (height, width))  # type: ignore[return-value]


def detection_data(config: TrainConfig, client: Any) -> Data:
    probe = Dataset.from_local(config.dataset, split="validation", client=client)
    size = training_size(probe.info.spec, config.image_size)
    augment = flips() if config.augment != "none" else None
    splits = {
        s: Dataset.from_local(
            config.dataset,
            s,
            client=client,
            image_size=size,
            transform=augment if s == "train" else None,
        )
        for s in ("train", "validation", "test")
    }
    preprocessing = DetectionPreprocessing(image_size=size)
    return Data(
        splits["train"],
        splits["validation"],
        splits["test"],
        probe.classes,
        collate=collate_boxed,
        preprocessing=preprocessing,
        model_inputs=preprocessing.shape_inputs(),
    )


def average_precision(details: bool = False) -> Any:
    try:
        import pycocotools  # noqa: F401  (torchmetrics' backend, imported by it when used)
        from torchmetrics.detection import MeanAveragePrecision
    except ImportError:
        raise InvalidInput(
            "object detection is evaluated with torchmetrics and pycocotools, which are not"
            " installed where the job runs: pip install 'fermion[detection]'"
        ) from None

    return MeanAveragePrecision(
        iou_type="bbox", class_metrics=details, backend="pycocotools", sync_on_compute=False
    )


def report(
    found: dict[str, torch.Tensor], classes: list[str], images: int, details: bool
) -> dict[str, Any]:
    """torchmetrics' result as Fermion's metrics; with per class AP and the number of
    images when it was asked for (a test or an evaluation, not every epoch)."""
    result: dict[str, Any] = {name: float(found[name]) for name in HEADLINE}
    if details:
        result["images"] = images
        ids = found["classes"].reshape(-1).tolist()
        values = found["map_per_class"].reshape(-1).tolist()
        result["per_class_ap"] = {
            classes[i]: round(v, 4) for i, v in zip(ids, values, strict=False)
        }
    return result


class DetectionTrainer(Trainer):
    @property
    def metric_name(self) -> str:
        return "map_50"

    def score(self, metrics: dict[str, Any]) -> list[float]:
        return [metrics["map_50"], metrics["map"]]

    def loss(self, x: torch.Tensor, y: Any) -> torch.Tensor:
        with self.accelerator.autocast():
            return self.model(x, y).float()

    @torch.no_grad()
    def evaluate(self, data_loader: Any, details: bool = False) -> dict[str, Any]:
        """Every rank gathers every image's boxes (`gather_for_metrics` drops the copies
        that even batches add under DDP) and computes COCO's figures on all of them; the
        metric's own sync would count those copies, so it is off."""
        self.model.eval()
        metric = average_precision(details)
        images = 0
        for x, targets in data_loader:
            with self.accelerator.autocast():
                found = unpadded(self.model(x).float())
            pairs = [
                ({k: v.cpu() for k, v in f.items()}, {k: v.cpu() for k, v in t.items()})
                for f, t in zip(found, targets, strict=True)
            ]
            pairs = self.accelerator.gather_for_metrics(pairs, use_gather_object=True)
            metric.update([f for f, _ in pairs], [t for _, t in pairs])
            images += len(pairs)
        return report(metric.compute(), self.data.classes, images, details)


def evaluate_detector(model: Any, dataset: Dataset) -> dict[str, Any]:
    """A registered detector on a split of a detection dataset (the evaluation job's):
    the same preprocessing as in serving, boxes compared in the images' own pixels."""
    from fermion.modelfile.inputs import Preprocessor

    unknown = sorted(set(dataset.classes) - set(model.labels))
    if unknown:
        raise InvalidInput(
            f"{dataset.info.ref} has classes the detector does not know: {', '.join(unknown)}"
        )
    pre = Preprocessor(model)
    index = {name: i for i, name in enumerate(model.labels)}
    metric = average_precision(details=True)
    for start in range(0, len(dataset.table), 64):
        rows = dataset.table[start : start + 64]
        items = [
            pre.prepare(image["bytes"], f"record {start + n}")
            for n, image in enumerate(rows["image"])
        ]
        with torch.inference_mode():
            out = model.network(pre.collate(items)).float().numpy()
        found = []
        for detected, item in zip(out, items, strict=True):  # in the images' own pixels
            kept = torch.from_numpy(in_pixels_of(detected, item.shape[-2:], pre.size))
            found.append({"boxes": kept[:, :4], "scores": kept[:, 4], "labels": kept[:, 5].long()})
        targets = [
            {
                "boxes": torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4),
                "labels": torch.tensor([index[c] for c in names], dtype=torch.int64),
            }
            for boxes, names in zip(rows["boxes"], rows["categories"], strict=True)
        ]
        metric.update(found, targets)
    return report(metric.compute(), model.labels, len(dataset.table), details=True)
