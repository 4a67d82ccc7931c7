"""text-classification: one table file with a text column and a label column.

CSV and Parquet files are checked a batch of rows at a time, column by column; JSONL row
by row. Both give the same records, problems and splits.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import datasets as hf
import numpy as np
import pyarrow as pa

from fermion.datasets.readers import columns
from fermion.datasets.readers.base import TableRows, label_of, missing_label
from fermion.datasets.readers.table_batches import Batch, TableBatches, TableReader
from fermion.datasets.records import Record, sha256_of


class TextReader(TableReader):
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
                self.report.add(row.location, self._no_text())
                continue
            if label is None:
                continue
            yield Record(
                key=f"row {number}",
                label=label,
                columns={"text": text, "label": label},
                content_sha256=sha256_of([text, label]),
            )

    def check_batch(self, batch: Batch, batches: TableBatches) -> tuple[pa.Table, np.ndarray]:
        labels, no_label = columns.labels(batch.table.column(self.label_from))
        texts, no_text = columns.text(batch.table.column(self.text_from))
        for i in np.flatnonzero(no_label | no_text).tolist():
            if no_label[i]:
                batches.add_problem(batch.first + i, missing_label(self.label_from))
            if no_text[i]:
                batches.add_problem(batch.first + i, self._no_text())
        keep = np.flatnonzero(~(no_label | no_text))
        table = pa.table(
            {"text": texts.take(keep), "label": labels.take(keep)},
            schema=self.features.arrow_schema,
        )
        return table, batch.numbers[keep]

    def _no_text(self) -> str:
        return f"empty or missing text in column {self.text_from!r}"

    def spec(self) -> dict[str, Any]:
        return {
            **super().spec(),
            "text_column": "text",
            "source_columns": {"text": self.text_from, "label": self.label_from},
        }
