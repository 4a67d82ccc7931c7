"""tabular-classification and tabular-regression: a CSV, JSONL or Parquet table whose
columns are numeric features plus one target column."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import datasets as hf

from fermion.datasets.readers.base import SourceReader, TableRows, label_of
from fermion.datasets.records import Record, sha256_of


class TabularReader(SourceReader):
    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.rows = TableRows(self.source, self.report)
        self.target = self.rows.pick(
            self.request.label_column, ("label", "target", "y", "class"), "--label-column"
        )
        self.feature_columns = [c for c in self.rows.columns if c != self.target]
        self.regression = not self.request.type.is_classification

    @property
    def features(self) -> hf.Features:
        columns = {name: hf.Value("float64") for name in self.feature_columns}
        columns[self.target] = hf.Value("float64" if self.regression else "string")
        return hf.Features(columns)

    @property
    def label_column(self) -> str:
        return self.target

    def __iter__(self) -> Iterator[Record]:
        for number, row in enumerate(self.rows, start=1):
            values = self._numbers(row.location, row.values)
            label = self._label(row)
            if values is None or label is None:
                continue
            yield Record(
                key=f"row {number}",
                label=label,
                columns={**values, self.target: label},
                content_sha256=sha256_of([list(values.values()), label]),
            )

    def _numbers(self, where: str, row: dict[str, Any]) -> dict[str, float] | None:
        out: dict[str, float] = {}
        for column in self.feature_columns:
            value = row.get(column)
            if value is None or (isinstance(value, str) and not value.strip()):
                self.report.add(where, f"missing value in feature column {column!r}")
                return None
            number = _as_number(value)
            if number is None:
                self.report.add(where, f"feature column {column!r}: {value!r} is not a number")
                return None
            out[column] = number
        return out

    def _label(self, row: Any) -> str | float | None:
        if not self.regression:
            return label_of(row, self.target, self.report)
        value = row.values.get(self.target)
        number = None if value is None or value == "" else _as_number(value)
        if number is None:
            self.report.add(
                row.location, f"target column {self.target!r}: {value!r} is not a number"
            )
        return number

    def spec(self) -> dict[str, Any]:
        return {**super().spec(), "feature_columns": self.feature_columns}


def _as_number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None
