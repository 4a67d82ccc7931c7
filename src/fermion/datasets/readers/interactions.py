"""recommendation: one table file of interactions, `user,item[,rating][,timestamp]`.

A rating, when the file has one, must be a number; a timestamp may be a number (seconds)
or a date. Without a timestamp column, the file's order is the order of time. The
splits are not random: each user's last interaction is the test record and the one
before it the validation record (leave-last-out, `splits.leave_last_out`).

CSV and Parquet files are checked a batch of rows at a time, column by column (dates,
and values that are not plain numbers, one by one with the row by row checks); JSONL row
by row. Both give the same records, problems and splits."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import datasets as hf
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from fermion.datasets.readers import columns
from fermion.datasets.readers.base import Row, TableRows
from fermion.datasets.readers.table_batches import Batch, TableBatches, TableReader
from fermion.datasets.records import Record, sha256_of

USER_COLUMNS = ("user", "user_id", "userId", "customer_id")
ITEM_COLUMNS = ("item", "item_id", "itemId", "movie_id", "movieId", "product_id")
RATING_COLUMNS = ("rating", "score")
TIME_COLUMNS = ("timestamp", "time", "ts", "date")


class InteractionsReader(TableReader):
    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.rows = TableRows(self.source, self.report)
        self.user_from = self.rows.pick(self.request.user_column, USER_COLUMNS, "--user-column")
        self.item_from = self.rows.pick(self.request.item_column, ITEM_COLUMNS, "--item-column")
        self.rating_from = next((c for c in RATING_COLUMNS if c in self.rows.columns), None)
        self.time_from = next((c for c in TIME_COLUMNS if c in self.rows.columns), None)
        self.users: set[str] = set()
        self.items: set[str] = set()

    @property
    def features(self) -> hf.Features:
        return hf.Features(
            {
                "user": hf.Value("string"),
                "item": hf.Value("string"),
                "rating": hf.Value("float32"),
                "timestamp": hf.Value("float64"),
            }
        )

    @property
    def label_column(self) -> str:
        return "item"

    def __iter__(self) -> Iterator[Record]:
        for number, row in enumerate(self.rows, start=1):
            parsed = self._parse(row, number)
            if parsed is None:
                continue
            user, item, rating, timestamp = parsed
            self.users.add(user)
            self.items.add(item)
            yield Record(
                key=f"row {number}",
                label=item,
                columns={"user": user, "item": item, "rating": rating, "timestamp": timestamp},
                content_sha256=sha256_of([user, item, rating, timestamp]),
            )

    def _parse(self, row: Row, number: int) -> tuple[str, str, float, float] | None:
        ids = []
        for column in (self.user_from, self.item_from):
            value = row.values.get(column)
            text = "" if value is None else str(value).strip()
            if not text:
                self.report.add(row.location, _missing(column))
                return None
            ids.append(text)
        rating = 1.0
        if self.rating_from is not None:
            rating = _number(row.values.get(self.rating_from))
            if rating is None:
                value = row.values.get(self.rating_from)
                self.report.add(row.location, _must_be(self.rating_from, A_NUMBER, value))
                return None
        timestamp = float(number)
        if self.time_from is not None:
            timestamp = _time(row.values.get(self.time_from))
            if timestamp is None:
                value = row.values.get(self.time_from)
                self.report.add(row.location, _must_be(self.time_from, A_TIME, value))
                return None
        return ids[0], ids[1], rating, timestamp

    def check_batch(self, batch: Batch, batches: TableBatches) -> tuple[pa.Table, np.ndarray]:
        """Each bad row is told with its first problem, as the row by row checks tell it."""
        table, size, numbers = batch.table, len(batch.table), batch.numbers
        users, no_user = columns.labels(table.column(self.user_from))
        items, no_item = columns.labels(table.column(self.item_from))
        rating, bad_rating = np.ones(size), np.zeros(size, bool)
        if self.rating_from is not None:
            rating, bad_rating = _checked(table.column(self.rating_from), _number)
        timestamp, bad_time = numbers.astype(np.float64), np.zeros(size, bool)
        if self.time_from is not None:
            timestamp, bad_time = _checked(table.column(self.time_from), _time)
        checks = [  # (which rows fail it, the column, what it must be: None for present)
            (no_user, self.user_from, None),
            (no_item, self.item_from, None),
            (bad_rating, self.rating_from, A_NUMBER),
            (bad_time, self.time_from, A_TIME),
        ]
        bad = no_user | no_item | bad_rating | bad_time
        for i in np.flatnonzero(bad).tolist():
            _, column, what = next(check for check in checks if check[0][i])
            value = None if what is None else table.column(column)[i].as_py()
            reason = _missing(column) if what is None else _must_be(column, what, value)
            batches.add_problem(batch.first + i, reason)
        keep = np.flatnonzero(~bad)
        kept = {"user": users.take(keep), "item": items.take(keep)}
        self.users.update(pc.unique(kept["user"]).to_pylist())
        self.items.update(pc.unique(kept["item"]).to_pylist())
        kept |= {"rating": pa.array(rating[keep], pa.float32()), "timestamp": timestamp[keep]}
        return pa.table(kept, schema=self.features.arrow_schema), numbers[keep]

    def spec(self) -> dict[str, Any]:
        return {
            **super().spec(),
            "users": len(self.users),
            "items": len(self.items),
            "split_by": "leave-last-out",
            "source_columns": {
                "user": self.user_from,
                "item": self.item_from,
                "rating": self.rating_from,
                "timestamp": self.time_from,
            },
        }


A_NUMBER, A_TIME = "a number", "a number of seconds or a date"


def _missing(column: str) -> str:
    return f"missing {column!r}"


def _must_be(column: str, what: str, value: Any) -> str:
    return f"{column} must be {what}, not {value!r}"


def _checked(column: pa.ChunkedArray, parse: Any) -> tuple[np.ndarray, np.ndarray]:
    """The column's plain numbers, cast at once; its other values (dates, booleans,
    blanks) through `parse` one by one. Returns the values and which are refused."""
    values, problems = columns.numbers(column)
    refused = problems != 0
    for i in np.flatnonzero(refused).tolist():
        parsed = parse(column[i].as_py())
        if parsed is not None:
            values[i], refused[i] = parsed, False
    return values, refused


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _time(value: Any) -> float | None:
    number = _number(value)
    if number is not None or value is None:
        return number
    import pandas as pd

    try:
        stamp = pd.Timestamp(str(value))
    except (ValueError, TypeError):
        return None
    if pd.isna(stamp):
        return None
    if stamp.tzinfo is None:
        stamp = stamp.tz_localize("UTC")
    return stamp.timestamp()
