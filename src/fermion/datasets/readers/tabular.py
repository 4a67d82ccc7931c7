"""tabular-classification and tabular-regression: a CSV, JSONL or Parquet table whose
columns are numeric features plus one target column.

CSV and Parquet files are checked a batch of rows at a time, column by column
(`TableBatches`, `columns`); JSONL row by row. Both give the same records, the same
problems, and the same splits.
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


class TabularReader(TableReader):
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

    def spec(self) -> dict[str, Any]:
        return {**super().spec(), "feature_columns": self.feature_columns}

    # -- row by row (JSONL) ------------------------------------------------------------
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
                self.report.add(where, _missing_feature(column))
                return None
            number = columns.as_number(value)
            if number is None:
                self.report.add(where, _not_a_number(f"feature column {column!r}", value))
                return None
            out[column] = number
        return out

    def _label(self, row: Any) -> str | float | None:
        if not self.regression:
            return label_of(row, self.target, self.report)
        value = row.values.get(self.target)
        number = None if value is None or value == "" else columns.as_number(value)
        if number is None:
            self.report.add(row.location, _not_a_number(f"target column {self.target!r}", value))
        return number

    # -- column by column (CSV, Parquet) -----------------------------------------------
    def check_batch(self, batch: Batch, batches: TableBatches) -> tuple[pa.Table, np.ndarray]:
        table = batch.table
        checked = [columns.numbers(table.column(name)) for name in self.feature_columns]
        if self.regression:
            target, target_problems = columns.numbers(table.column(self.target))
            bad_target = target_problems != 0
        else:
            target, bad_target = columns.labels(table.column(self.target))
        problems = np.zeros((len(table), len(checked)), np.int8)
        for j, (_, column_problems) in enumerate(checked):
            problems[:, j] = column_problems
        bad = problems.any(axis=1) | bad_target
        for i in np.flatnonzero(bad).tolist():
            self._report(batch, batches, i, problems[i], bool(bad_target[i]))
        keep = np.flatnonzero(~bad)
        out = {
            name: pa.array(values[keep])
            for name, (values, _) in zip(self.feature_columns, checked, strict=True)
        }
        out[self.target] = pa.array(target[keep]) if self.regression else target.take(keep)
        return pa.table(out, schema=self.features.arrow_schema), batch.numbers[keep]

    def _report(
        self, batch: Batch, batches: TableBatches, i: int, problems: np.ndarray, bad_target: bool
    ) -> None:
        """The problems of row `i` of the batch, worded as the row by row checks word them:
        the first bad feature, then the target."""
        row = batch.first + i
        for name, problem in zip(self.feature_columns, problems.tolist(), strict=True):
            if problem:
                value = batch.table.column(name)[i].as_py()
                if problem == columns.MISSING:
                    batches.add_problem(row, _missing_feature(name))
                else:
                    batches.add_problem(row, _not_a_number(f"feature column {name!r}", value))
                break
        if bad_target:
            value = batch.table.column(self.target)[i].as_py()
            if self.regression:
                reason = _not_a_number(f"target column {self.target!r}", value)
            else:
                reason = missing_label(self.target)
            batches.add_problem(row, reason)


# The problems' wording, one for both ways of checking.
def _missing_feature(column: str) -> str:
    return f"missing value in feature column {column!r}"


def _not_a_number(what: str, value: Any) -> str:
    return f"{what}: {value!r} is not a number"
