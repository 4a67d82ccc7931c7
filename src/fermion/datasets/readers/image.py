"""image-classification: a class-per-folder tree, or a CSV/JSONL manifest of path,label.

The listing happens here; reading and checking every image happens on all cores
(`image_check`). The encoded bytes are stored as they are; loaders decode and resize.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import datasets as hf
import numpy as np

from fermion.datasets.image_check import Checked, Entry, available_cpus, check_images
from fermion.datasets.readers import listing
from fermion.datasets.readers.base import SourceReader
from fermion.datasets.readers.listing import check_layout
from fermion.datasets.records import Record

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm"}
STATS_EVERY = 8  # channel statistics of every 8th image once 1,000 have been seen


class ImageReader(SourceReader):
    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.sizes: Counter[tuple[int, int]] = Counter()
        self.modes: Counter[str] = Counter()
        self.pixels_modes: Counter[str] = Counter()  # "" counts images stored encoded only
        self.sums = np.zeros(7)
        check_layout(self.source, "image")

    @property
    def features(self) -> hf.Features:
        return hf.Features(
            {
                "image": hf.Image(),
                "label": hf.Value("string"),
                "path": hf.Value("string"),
                "width": hf.Value("int32"),
                "height": hf.Value("int32"),
                "pixels": hf.Value("binary"),
            }
        )

    @property
    def label_column(self) -> str:
        return "label"

    def __iter__(self) -> Iterator[Record]:
        entries = listing.entries(self.source, self.request, self.report, IMAGE_SUFFIXES, "image")
        workers = self.request.workers or available_cpus()
        for checked in check_images(self.source.fs, self._sampled(entries), workers):
            if checked.problem:
                self.report.add(checked.entry.where, checked.problem)
            else:
                yield self._record(checked)

    @staticmethod
    def _sampled(entries: Iterator[Entry]) -> Iterator[Entry]:
        """Marks the images whose channel statistics are measured: the first 1,000,
        then every STATS_EVERY-th."""
        for seen, entry in enumerate(entries):
            entry.with_stats = seen < 1000 or seen % STATS_EVERY == 0
            yield entry

    def _record(self, checked: Checked) -> Record:
        entry = checked.entry
        self.sizes[checked.size] += 1
        self.modes[checked.mode] += 1
        self.pixels_modes[checked.pixels_mode] += 1
        if checked.sums is not None:
            self.sums += checked.sums
        return Record(
            key=entry.key,
            label=entry.label,
            columns={
                "image": {"bytes": checked.data, "path": None},
                "label": entry.label,
                "path": entry.key,
                "width": checked.size[0],
                "height": checked.size[1],
                "pixels": checked.pixels,
            },
            content_sha256=checked.sha256,
        )

    def spec(self) -> dict[str, Any]:
        count = self.sums[6]
        if not count:
            return super().spec()
        mean = self.sums[0:3] / count
        std = np.sqrt(np.maximum(self.sums[3:6] / count - mean**2, 1e-12))
        (width, height), _ = self.sizes.most_common(1)[0]
        return {
            **super().spec(),
            "image_size": [height, width],  # the most common size; loaders resize to it
            "uniform_size": len(self.sizes) == 1,
            "image_mode": self.modes.most_common(1)[0][0],
            "pixels": self._pixels_mode(),
            "mean": [round(float(m), 6) for m in mean],
            "std": [round(float(s), 6) for s in std],
        }

    def _pixels_mode(self) -> str | None:
        """The mode every image is stored decoded in (loaders then copy pixels instead of
        decoding them), or None when some are stored encoded only, or modes differ."""
        if len(self.pixels_modes) != 1:
            return None
        return next(iter(self.pixels_modes)) or None
