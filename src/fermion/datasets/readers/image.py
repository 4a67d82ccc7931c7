"""image-classification: a class-per-folder tree, or a CSV/JSONL manifest of path,label.

Every image is decoded in full (truncated files fail only then) and checked against a
pixel limit before decoding, so a decompression bomb is refused, not expanded. The
encoded bytes are stored as they are; loaders decode and resize.
"""

from __future__ import annotations

import io
import posixpath
import warnings
from collections import Counter
from collections.abc import Iterator
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError

import datasets as hf
from fermion.datasets.readers.base import SourceReader, TableRows, label_of
from fermion.datasets.records import Record
from fermion.errors import InvalidInput

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm"}
MAX_PIXELS = Image.MAX_IMAGE_PIXELS or 89_478_485  # Pillow's own bomb threshold
_BOMB = f"over the limit of {MAX_PIXELS:,} (a decompression bomb?)"
STATS_SIDE = 64  # channel statistics are taken on a thumbnail: cheap, and close enough


class ImageReader(SourceReader):
    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.sizes: Counter[tuple[int, int]] = Counter()
        self.modes: Counter[str] = Counter()
        self.channel_sum = np.zeros(3)
        self.channel_sq = np.zeros(3)
        self.pixels = 0
        if not self.source.is_dir and self.source.suffix not in (".csv", ".jsonl"):
            raise InvalidInput(
                f"{self.source.display} is neither a folder of class folders nor a CSV/JSONL"
                " manifest of path,label rows"
            )

    @property
    def features(self) -> hf.Features:
        return hf.Features(
            {
                "image": hf.Image(),
                "label": hf.Value("string"),
                "path": hf.Value("string"),
                "width": hf.Value("int32"),
                "height": hf.Value("int32"),
            }
        )

    @property
    def label_column(self) -> str:
        return "label"

    def __iter__(self) -> Iterator[Record]:
        entries = self._folder_entries() if self.source.is_dir else self._manifest_entries()
        for where, path, label in entries:
            record = self._read(where, path, label)
            if record is not None:
                yield record

    def _folder_entries(self) -> Iterator[tuple[str, str, str]]:
        root = self.source.root
        for path in sorted(self.source.fs.find(root)):
            relative = posixpath.relpath(path, root)
            parts = relative.split("/")
            if any(part.startswith(".") for part in parts):
                continue  # hidden files and folders (.DS_Store, .git)
            where = relative
            if len(parts) < 2:
                self.report.add(where, "missing label: the file is not inside a class folder")
            elif posixpath.splitext(path)[1].lower() not in IMAGE_SUFFIXES:
                self.report.add(where, "not an image file (unknown extension)")
            elif not self.source.is_inside(path):
                self.report.add(where, "path escapes the source root (a link to outside it)")
            else:
                yield where, path, parts[0]

    def _manifest_entries(self) -> Iterator[tuple[str, str, str]]:
        rows = TableRows(self.source, self.report)
        path_from = rows.pick(None, ("path", "image", "file", "filename"), "a 'path' column")
        label_from = rows.pick(self.request.label_column, ("label", "class"), "--label-column")
        for row in rows:
            relative = str(row.values.get(path_from) or "").strip()
            label = label_of(row, label_from, self.report)
            if not relative:
                self.report.add(row.location, f"missing image path in column {path_from!r}")
                continue
            path = self.source.resolve_inside(relative)
            if path is None:
                self.report.add(row.location, f"path {relative!r} escapes the source root")
            elif label is not None:
                yield row.location, path, label

    def _read(self, where: str, path: str, label: str) -> Record | None:
        try:
            data = self.source.fs.cat_file(path)
        except (FileNotFoundError, IsADirectoryError):
            self.report.add(where, "image file not found")
            return None
        reason = self._inspect(data)
        if reason:
            self.report.add(where, reason)
            return None
        relative = self.source.relative(path)
        return Record(
            key=relative,
            label=label,
            columns={
                "image": {"bytes": data, "path": None},
                "label": label,
                "path": relative,
                "width": self._last_size[0],
                "height": self._last_size[1],
            },
            content=data,
        )

    def _inspect(self, data: bytes) -> str | None:
        """None when `data` is a whole, decodable image of sane size; else the reason."""
        if not data:
            return "empty file"
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error", Image.DecompressionBombWarning)
                with Image.open(io.BytesIO(data)) as image:
                    width, height = image.size
                    if width * height > MAX_PIXELS:
                        return f"image declares {width}x{height} pixels: {_BOMB}"
                    image.load()  # decodes every byte: truncated data fails here
                    self._observe(image)
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            return f"image declares too many pixels: {_BOMB}"
        except UnidentifiedImageError:
            return "cannot decode: not an image, or an unsupported format"
        except (OSError, SyntaxError, ValueError, EOFError) as exc:
            return f"cannot decode image: {exc}"
        return None

    def _observe(self, image: Image.Image) -> None:
        self._last_size = image.size
        self.sizes[image.size] += 1
        self.modes[image.mode] += 1
        thumb = image.convert("RGB")
        if max(thumb.size) > STATS_SIDE:
            thumb.thumbnail((STATS_SIDE, STATS_SIDE))
        pixels = np.asarray(thumb, dtype=np.float64).reshape(-1, 3) / 255.0
        self.channel_sum += pixels.sum(axis=0)
        self.channel_sq += (pixels**2).sum(axis=0)
        self.pixels += len(pixels)

    def spec(self) -> dict[str, Any]:
        if not self.pixels:
            return super().spec()
        mean = self.channel_sum / self.pixels
        std = np.sqrt(np.maximum(self.channel_sq / self.pixels - mean**2, 1e-12))
        (width, height), _ = self.sizes.most_common(1)[0]
        return {
            **super().spec(),
            "image_size": [height, width],  # the most common size; loaders resize to it
            "uniform_size": len(self.sizes) == 1,
            "image_mode": self.modes.most_common(1)[0][0],
            "mean": [round(float(m), 6) for m in mean],
            "std": [round(float(s), 6) for s in std],
        }
