"""object-detection: images with boxes around the objects in them, from a COCO or a YOLO
folder (`detection_formats`).

Every image is read and checked on all cores, as for image classification. Its boxes are
then checked against its size: a box with no area, or one that lies outside the image
(beyond EDGE of its side, which labelling tools' rounding may add, and which is clipped),
makes the image a bad record, reported with the box. An image with no boxes is kept: it
teaches the detector what background looks like.

Stored per image: the encoded bytes, its size, and its boxes as corners (x0, y0, x1, y1)
in pixels with their category names.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import datasets as hf

from fermion.datasets.image_check import Checked, Entry, available_cpus, check_images
from fermion.datasets.readers.base import RecordReader
from fermion.datasets.readers.detection_formats import Labelled, open_layout
from fermion.datasets.records import Record, sha256_of

EDGE = 0.02


class DetectionReader(RecordReader):
    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.layout = open_layout(self.source, self.report)
        self.sizes: Counter[tuple[int, int]] = Counter()
        self.objects = 0
        self.background = 0
        self.most_objects = 0

    @property
    def categories(self) -> list[str]:
        return self.layout.categories

    @property
    def features(self) -> hf.Features:
        return hf.Features(
            {
                "image": hf.Image(),
                "path": hf.Value("string"),
                "width": hf.Value("int32"),
                "height": hf.Value("int32"),
                "boxes": hf.Sequence(hf.Sequence(hf.Value("float32"), length=4)),
                "categories": hf.Sequence(hf.Value("string")),
            }
        )

    @property
    def label_column(self) -> str:
        return "categories"

    def __iter__(self) -> Iterator[Record]:
        pending: dict[str, Labelled] = {}

        def entries() -> Iterator[Entry]:
            for labelled in self.layout:
                pending[labelled.entry.key] = labelled
                yield labelled.entry

        workers = self.request.workers or available_cpus()
        for checked in check_images(self.source.fs, entries(), workers):
            labelled = pending.pop(checked.entry.key)
            if checked.problem:
                self.report.add(checked.entry.where, checked.problem)
                continue
            boxes = self._fit(labelled, *checked.size)
            if labelled.problems:
                self.report.add(checked.entry.where, "; ".join(labelled.problems[:3]))
                continue
            yield self._record(checked, boxes, labelled.categories)

    def _fit(self, labelled: Labelled, width: int, height: int) -> list[list[float]]:
        """The image's boxes in pixels, clipped to it; problems go to `labelled`."""
        fitted = []
        for n, box in enumerate(labelled.boxes):
            if labelled.relative:
                box = [box[0] * width, box[1] * height, box[2] * width, box[3] * height]
            x0, y0, x1, y1 = box
            shown = "[" + ", ".join(f"{v:g}" for v in box) + "]"
            if x1 <= x0 or y1 <= y0:
                labelled.problems.append(f"box {n} {shown} has no area")
            elif (
                x0 < -EDGE * width
                or y0 < -EDGE * height
                or x1 > (1 + EDGE) * width
                or y1 > (1 + EDGE) * height
            ):
                labelled.problems.append(f"box {n} {shown} lies outside the {width}x{height} image")
            else:
                fitted.append([max(x0, 0.0), max(y0, 0.0), min(x1, width), min(y1, height)])
        return fitted

    def _record(self, checked: Checked, boxes: list[list[float]], categories: list[int]) -> Record:
        entry = checked.entry
        names = [self.categories[c] for c in categories]
        self.sizes[checked.size] += 1
        self.objects += len(boxes)
        self.background += not boxes
        self.most_objects = max(self.most_objects, len(boxes))
        boxes = [[round(v, 2) for v in box] for box in boxes]
        return Record(
            key=entry.key,
            label="",
            columns={
                "image": {"bytes": checked.data, "path": None},
                "path": entry.key,
                "width": checked.size[0],
                "height": checked.size[1],
                "boxes": boxes,
                "categories": names,
            },
            content_sha256=checked.sha256 + sha256_of([boxes, names]),
        )

    def spec(self) -> dict[str, Any]:
        spec = {**super().spec(), "annotations": self.layout.name, "categories": self.categories}
        if not self.sizes:
            return spec
        (width, height), _ = self.sizes.most_common(1)[0]
        return {
            **spec,
            "image_size": [height, width],  # the most common size
            "uniform_size": len(self.sizes) == 1,
            "objects": self.objects,
            "background_images": self.background,
            "most_objects": self.most_objects,
        }
