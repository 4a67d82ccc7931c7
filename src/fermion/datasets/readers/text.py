"""text-classification: one table file with a text column and a label column."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import datasets as hf

from fermion.datasets.readers.base import SourceReader, TableRows, label_of
from fermion.datasets.records import Record, sha256_of


class TextReader(SourceReader):
    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.rows = TableRows(self.source, self.report)
        self.text_from = self.rows.pick(
            self.request.text_column, ("text", "sentence", "review", "content"), "--text-column"
        )
        self.label_from = self.rows.pick(
            self.request.label_column, ("label", "labels", "category", "class"), "--label-column"
        )

    @property
    def features(self) -> hf.Features:
        return hf.Features({"text": hf.Value("string"), "label": hf.Value("string")})

    @property
    def label_column(self) -> str:
        return "label"

    def __iter__(self) -> Iterator[Record]:
        for number, row in enumerate(self.rows, start=1):
            label = label_of(row, self.label_from, self.report)
            text = row.values.get(self.text_from)
            if not isinstance(text, str) or not text.strip():
                self.report.add(row.location, f"empty or missing text in column {self.text_from!r}")
                continue
            if label is None:
                continue
            yield Record(
                key=f"row {number}",
                label=label,
                columns={"text": text, "label": label},
                content_sha256=sha256_of([text, label]),
            )

    def spec(self) -> dict[str, Any]:
        return {
            **super().spec(),
            "text_column": "text",
            "source_columns": {"text": self.text_from, "label": self.label_from},
        }
