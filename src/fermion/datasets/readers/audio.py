"""audio-classification: a class-per-folder tree of sound files, or a CSV/JSONL
manifest of path,label. Every file is read and decoded in full here (a truncated file
fails now, not in the middle of training); the encoded bytes are stored as they are,
and loaders decode, resample and cut them to the model's clip."""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterator
from typing import Any

import datasets as hf
import numpy as np

from fermion import audio
from fermion.datasets.readers import listing
from fermion.datasets.readers.base import RecordReader
from fermion.datasets.records import Record
from fermion.errors import InvalidInput

MAX_FILE_BYTES = 256 * 1024 * 1024


class AudioReader(RecordReader):
    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        listing.check_layout(self.source, "audio")
        self.rates: Counter[int] = Counter()
        self.durations: list[float] = []

    @property
    def features(self) -> hf.Features:
        return hf.Features(
            {
                "audio": hf.Value("binary"),
                "label": hf.Value("string"),
                "path": hf.Value("string"),
                "sample_rate": hf.Value("int32"),
                "channels": hf.Value("int32"),
                "seconds": hf.Value("float32"),
            }
        )

    @property
    def label_column(self) -> str:
        return "label"

    def __iter__(self) -> Iterator[Record]:
        suffixes = set(audio.AUDIO_SUFFIXES)
        for entry in listing.entries(self.source, self.request, self.report, suffixes, "audio"):
            try:
                with self.source.fs.open(entry.path, "rb") as f:
                    data = f.read(MAX_FILE_BYTES + 1)
                if len(data) > MAX_FILE_BYTES:
                    raise InvalidInput(f"over {MAX_FILE_BYTES // 2**20} MiB")
                samples, rate = audio.decode(data, "file")
                _, channels, _ = audio.probe(data, "file")
            except InvalidInput as exc:
                self.report.add(entry.where, exc.message.removeprefix("file: "))
                continue
            except OSError as exc:
                self.report.add(entry.where, f"unreadable file ({exc})")
                continue
            seconds = len(samples) / rate
            self.rates[rate] += 1
            self.durations.append(seconds)
            yield Record(
                key=entry.key,
                label=entry.label,
                columns={
                    "audio": data,
                    "label": entry.label,
                    "path": entry.key,
                    "sample_rate": rate,
                    "channels": channels,
                    "seconds": seconds,
                },
                content_sha256=hashlib.sha256(data).digest(),
            )

    def spec(self) -> dict[str, Any]:
        if not self.durations:
            return super().spec()
        seconds = np.asarray(self.durations)
        return {
            **super().spec(),
            "sample_rate": self.rates.most_common(1)[0][0],  # the most common rate
            "seconds": {
                "min": round(float(seconds.min()), 3),
                "median": round(float(np.median(seconds)), 3),
                "p95": round(float(np.percentile(seconds, 95)), 3),
                "max": round(float(seconds.max()), 3),
            },
        }
