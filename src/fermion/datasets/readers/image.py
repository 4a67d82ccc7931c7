"""image-classification: a class-per-folder tree, or a CSV/JSONL manifest of path,label.

The listing happens here; reading and checking every image, and making it a row, happens
on all cores (`image_check`, `image_rows`). The encoded bytes are stored as they are, and
small images also decoded; loaders copy or decode them, and resize.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import datasets as hf
import numpy as np

from fermion.datasets.image_check import Entry, available_cpus
from fermion.datasets.image_rows import ImageCounts, row_chunks
from fermion.datasets.readers import listing
from fermion.datasets.readers.base import RecordChunk, SourceReader
from fermion.datasets.readers.listing import check_layout

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm"}
STATS_EVERY = 8  # channel statistics of every 8th image once 1,000 have been seen


FEATURES = hf.Features(
    {
        "image": hf.Image(),
        "label": hf.Value("string"),
        "path": hf.Value("string"),
        "width": hf.Value("int32"),
        "height": hf.Value("int32"),
        "pixels": hf.Value("binary"),
    }
)


class ImageReader(SourceReader):
    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.counts = ImageCounts()  # of the valid images, for spec()
        check_layout(self.source, "image")

    @property
    def features(self) -> hf.Features:
        return FEATURES

    @property
    def label_column(self) -> str:
        return "label"

    def chunks(self) -> Iterator[RecordChunk]:
        entries = listing.entries(self.source, self.request, self.report, IMAGE_SUFFIXES, "image")
        workers = self.request.workers or available_cpus()
        schema, seed = self.features.arrow_schema, self.request.seed
        for rows in row_chunks(self.source.fs, self._sampled(entries), workers, schema, seed):
            for where, problem in rows.problems:
                self.report.add(where, problem)
            self.digest.update(rows.digest)
            self.counts.add(rows.counts)
            if rows.table.num_rows:
                yield RecordChunk(rows.table, rows.ranks)

    @staticmethod
    def _sampled(entries: Iterator[Entry]) -> Iterator[Entry]:
        """Marks the images whose channel statistics are measured: the first 1,000,
        then every STATS_EVERY-th."""
        for seen, entry in enumerate(entries):
            entry.with_stats = seen < 1000 or seen % STATS_EVERY == 0
            yield entry

    def spec(self) -> dict[str, Any]:
        counts = self.counts
        count = counts.sums[6]
        if not count:
            return super().spec()
        mean = counts.sums[0:3] / count
        std = np.sqrt(np.maximum(counts.sums[3:6] / count - mean**2, 1e-12))
        (width, height), _ = counts.sizes.most_common(1)[0]
        return {
            **super().spec(),
            "image_size": [height, width],  # the most common size; loaders resize to it
            "uniform_size": len(counts.sizes) == 1,
            "image_mode": counts.modes.most_common(1)[0][0],
            "pixels": self._pixels_mode(),
            "mean": [round(float(m), 6) for m in mean],
            "std": [round(float(s), 6) for s in std],
        }

    def _pixels_mode(self) -> str | None:
        """The mode every image is stored decoded in (loaders then copy pixels instead of
        decoding them), or None when some are stored encoded only, or modes differ."""
        stored = self.counts.pixels_modes
        if len(stored) != 1:
            return None
        return next(iter(stored)) or None
