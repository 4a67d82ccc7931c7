"""The reader interface and the row reader shared by CSV, JSONL and Parquet sources."""

from __future__ import annotations

import csv
import hashlib
import itertools
import json
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import datasets as hf
import pyarrow as pa

from fermion.datasets.records import ProblemReport, Record
from fermion.datasets.source import Source
from fermion.datasets.splits import split_rank
from fermion.errors import InvalidInput
from fermion.payloads import DatasetCreate

TABLE_SUFFIXES = (".csv", ".jsonl", ".parquet")
CHUNK_RECORDS = 256  # records per Arrow record batch of the staging file


@dataclass
class RecordChunk:
    """Consecutive valid records: their rows in Arrow (`features` order), and each one's
    split rank (`split_rank` of its key)."""

    table: pa.Table
    ranks: Sequence[int]


class SourceReader(ABC):
    def __init__(self, source: Source, request: DatasetCreate, report: ProblemReport) -> None:
        self.source = source
        self.request = request
        self.report = report
        # The valid records' content, in order: what the version's digest is built on.
        self.digest = hashlib.sha256()

    @property
    @abstractmethod
    def features(self) -> hf.Features:
        """The Arrow schema of the written dataset."""

    @property
    @abstractmethod
    def label_column(self) -> str:
        """The column of the written dataset that holds the label."""

    @abstractmethod
    def chunks(self) -> Iterator[RecordChunk]:
        """The valid records in order, a chunk at a time; feeds `digest` as it goes."""

    def spec(self) -> dict[str, Any]:
        """What a loader needs beyond the Arrow files; complete after iteration."""
        return {"label_column": self.label_column}


class RecordReader(SourceReader):
    """A reader that checks one record at a time (`__iter__`)."""

    @abstractmethod
    def __iter__(self) -> Iterator[Record]: ...

    def chunks(self) -> Iterator[RecordChunk]:
        """The valid records in order, a chunk at a time, each chunk's columns converted
        by pyarrow at once. Readers that convert whole columns themselves override it."""
        schema, seed = self.features.arrow_schema, self.request.seed
        records = iter(self)
        while chunk := list(itertools.islice(records, CHUNK_RECORDS)):
            for record in chunk:
                self.digest.update(json.dumps([record.key, record.label]).encode())
                self.digest.update(record.content_sha256)
            yield RecordChunk(
                table=pa.Table.from_pylist([r.columns for r in chunk], schema=schema),
                ranks=[split_rank(seed, r.key) for r in chunk],
            )


@dataclass
class Row:
    location: str  # "file:line" or "file:row N", for problem reports
    values: dict[str, Any]


class TableRows:
    """Rows of a CSV, JSONL or Parquet file, streamed; bad rows go to the report."""

    def __init__(self, source: Source, report: ProblemReport) -> None:
        if source.is_dir or source.suffix not in TABLE_SUFFIXES:
            raise InvalidInput(
                f"{source.display} is not a CSV, JSONL or Parquet file; this dataset type reads"
                f" one table file ({', '.join(TABLE_SUFFIXES)})"
            )
        self.source = source
        self.report = report
        self.columns = self._read_columns()

    def _read_columns(self) -> list[str]:
        fs, path = self.source.fs, self.source.root
        if self.source.suffix == ".parquet":
            import pyarrow.parquet as pq

            with fs.open(path, "rb") as f:
                try:
                    return list(pq.ParquetFile(f).schema_arrow.names)
                except Exception as exc:  # pyarrow raises several types for corrupt files
                    raise InvalidInput(
                        f"{self.source.display} is not a Parquet file: {exc}"
                    ) from None
        if self.source.suffix == ".csv":
            for row in self._csv_rows(header_only=True):
                return row
            raise InvalidInput(f"{self.source.display} is empty; a CSV needs a header line")
        # JSONL: the keys of the first valid object. Problems found on the way are
        # reported again by the real pass, so this pass reports into a scratch list.
        report, self.report = self.report, ProblemReport()
        try:
            for row in self:
                return list(row.values)
            return []
        finally:
            self.report = report

    def require(self, column: str, flag: str) -> str:
        if self.columns and column not in self.columns:
            raise InvalidInput(
                f"column {column!r} not found in {self.source.display}; its columns are:"
                f" {', '.join(self.columns)}. Pass {flag} to pick one."
            )
        return column

    def pick(self, preferred: str | None, defaults: tuple[str, ...], flag: str) -> str:
        """The column the user named, or the first default the file has."""
        if preferred:
            return self.require(preferred, flag)
        for name in defaults:
            if name in self.columns:
                return name
        raise InvalidInput(
            f"{self.source.display} has none of the columns {', '.join(defaults)}; its columns"
            f" are: {', '.join(self.columns)}. Pass {flag} to name the one to use."
        )

    def __iter__(self) -> Iterator[Row]:
        suffix = self.source.suffix
        if suffix == ".csv":
            yield from self._csv()
        elif suffix == ".jsonl":
            yield from self._jsonl()
        else:
            yield from self._parquet()

    def _csv_rows(self, header_only: bool = False) -> Iterator[list[str]]:
        name = self.source.display
        with self.source.fs.open(self.source.root, "rt", encoding="utf-8", newline="") as f:
            reader = csv.reader(f)
            self._csv_reader = reader
            try:
                for row in reader:
                    yield row
                    if header_only:
                        return
            except UnicodeDecodeError:
                raise InvalidInput(
                    f"{name} near line {reader.line_num + 1} is not UTF-8 text"
                ) from None
            except csv.Error as exc:
                raise InvalidInput(f"{name}:{reader.line_num}: unreadable CSV ({exc})") from None

    def _csv(self) -> Iterator[Row]:
        rows = self._csv_rows()
        header = next(rows)
        for values in rows:
            where = f"{self.source.name}:{self._csv_reader.line_num}"
            if not values:
                continue  # a blank line
            if len(values) != len(header):
                self.report.add(
                    where, f"unreadable row: {len(values)} fields, the header has {len(header)}"
                )
                continue
            yield Row(where, dict(zip(header, values, strict=True)))

    def _jsonl(self) -> Iterator[Row]:
        with self.source.fs.open(self.source.root, "rt", encoding="utf-8") as f:
            for number, line in enumerate(f, start=1):
                if not line.strip():
                    continue
                where = f"{self.source.name}:{number}"
                try:
                    values = json.loads(line)
                except json.JSONDecodeError as exc:
                    self.report.add(where, f"unreadable row: not valid JSON ({exc.msg})")
                    continue
                if not isinstance(values, dict):
                    self.report.add(where, "unreadable row: a JSON object is expected per line")
                    continue
                yield Row(where, values)

    def _parquet(self) -> Iterator[Row]:
        import pyarrow.parquet as pq

        number = 0
        with self.source.fs.open(self.source.root, "rb") as f:
            for batch in pq.ParquetFile(f).iter_batches(batch_size=4096):
                for values in batch.to_pylist():
                    number += 1
                    yield Row(f"{self.source.name}:row {number}", values)


def label_of(row: Row, column: str, report: ProblemReport) -> str | None:
    """The row's class label as a string, or None (reported) when missing or empty."""
    value = row.values.get(column)
    text = "" if value is None else str(value).strip()
    if not text:
        report.add(row.location, missing_label(column))
        return None
    return text


def missing_label(column: str) -> str:
    return f"missing label in column {column!r}"
