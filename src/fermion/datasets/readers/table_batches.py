"""CSV and Parquet tables read in Arrow batches, for readers that check whole columns.

CSV goes through pyarrow's streaming reader with every column read as text (the reader
that asked decides what a value means); Parquet goes by its own batches. Rows are
numbered as `TableRows` numbers them (readable rows, from 1), so keys and splits do not
depend on which of the two read a file.

Problems are kept as (position, reason) and given to the report when the file is done,
in file order: a CSV's unreadable rows come from pyarrow while it parses a block, before
that block's rows are checked. Their "file:line" locations take a second pass over the
file, made only when there are problems to report.
"""

from __future__ import annotations

import bisect
import csv
from abc import abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from fermion.datasets.readers.base import RecordChunk, RecordReader, TableRows
from fermion.datasets.readers.columns import ColumnsDigest
from fermion.datasets.records import REPORT_LIMIT, ProblemReport
from fermion.datasets.source import Source
from fermion.datasets.splits import row_ranks
from fermion.errors import InvalidInput

BLOCK_BYTES = 1 << 20  # CSV text parsed per batch
PARQUET_BATCH_ROWS = 65_536


@dataclass
class Batch:
    first: int  # the number of its first row (readable rows, counted from 1)
    table: pa.Table

    @property
    def numbers(self) -> np.ndarray:
        """The number of each of its rows."""
        return np.arange(self.first, self.first + self.table.num_rows)


class TableReader(RecordReader):
    """A reader of one table file (`rows`): CSV and Parquet are checked a batch at a time,
    column by column (`check_batch`), JSONL row by row (`__iter__`); both give the same
    records, problems and splits. The digest of a CSV or Parquet table is not the row by
    row one (hashing every row's JSON costs more than all the rest), but equal tables
    still give equal digests."""

    rows: TableRows

    def chunks(self) -> Iterator[RecordChunk]:
        if self.source.suffix == ".jsonl":
            yield from super().chunks()
            return
        content = ColumnsDigest()
        batches = TableBatches(self.source, self.rows.columns, self.report)
        for batch in batches:
            table, numbers = self.check_batch(batch, batches)
            content.update(numbers, table)
            yield RecordChunk(table, row_ranks(self.request.seed, numbers.tolist()))
        self.digest.update(content.digest())

    @abstractmethod
    def check_batch(self, batch: Batch, batches: TableBatches) -> tuple[pa.Table, np.ndarray]:
        """The batch's valid rows (in `features`) and their numbers; its bad rows told to
        `batches.add_problem`, worded as the row by row checks word them."""


class TableBatches:
    """A CSV or Parquet file in batches of rows; `add_problem` takes the problems the
    caller finds in a batch's rows, and every problem goes to the report when the last
    batch is done."""

    def __init__(self, source: Source, columns: list[str], report: ProblemReport) -> None:
        self.source, self.columns, self.report = source, columns, report
        self.is_csv = source.suffix == ".csv"
        self.problems: list[tuple[int, str]] = []  # the first ones, by CSV record or row
        self.count = 0
        self.unreadable: list[int] = []  # CSV records pyarrow skipped: numbers shift past them

    def __iter__(self) -> Iterator[Batch]:
        batches = self._csv() if self.is_csv else self._parquet()
        first = 1
        for table in batches:
            yield Batch(first, table)
            first += table.num_rows
            self._trim()
        self._close()

    def add_problem(self, row: int, reason: str) -> None:
        """A problem in readable row `row` (numbered as `Batch.first` numbers them)."""
        if self.is_csv:
            row = self._record_of(row)
        self.problems.append((row, reason))
        self.count += 1

    def _record_of(self, row: int) -> int:
        """The CSV record that readable row `row` is: past the header (record 1) and the
        unreadable records before it."""
        skipped = bisect.bisect_right(self.unreadable, 1 + row)
        while (more := bisect.bisect_right(self.unreadable, 1 + row + skipped)) != skipped:
            skipped = more
        return 1 + row + skipped

    def _trim(self) -> None:
        if len(self.problems) > REPORT_LIMIT:
            self.problems = sorted(self.problems, key=_position)[:REPORT_LIMIT]

    def _csv(self) -> Iterator[pa.Table]:
        """Batches named as the row reader names the columns: its header (a byte order
        mark kept), and of a name given twice, the last column (as `dict(zip())` does)."""
        import pyarrow.csv as pcsv

        expected = len(self.columns)
        place = {name: i for i, name in enumerate(self.columns)}  # a repeated name: the last

        def skip(row: pcsv.InvalidRow) -> str:
            reason = f"unreadable row: {row.actual_columns} fields, the header has {expected}"
            self.unreadable.append(row.number)
            self.problems.append((row.number, reason))
            self.count += 1
            return "skip"

        positions = [str(i) for i in range(expected)]
        options = {
            "read_options": pcsv.ReadOptions(
                use_threads=False, block_size=BLOCK_BYTES, skip_rows=1, column_names=positions
            ),
            "parse_options": pcsv.ParseOptions(newlines_in_values=True, invalid_row_handler=skip),
            "convert_options": pcsv.ConvertOptions(
                column_types=dict.fromkeys(positions, pa.string()),
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        }
        with self.source.fs.open(self.source.root, "rb") as f:
            try:
                for batch in pcsv.open_csv(f, **options):
                    yield pa.table({name: batch.column(i) for name, i in place.items()})
            except pa.ArrowInvalid as exc:
                if "Could not skip initial" in str(exc):
                    return  # the header and nothing else
                raise InvalidInput(f"{self.source.display}: {_unreadable(exc)}") from None

    def _parquet(self) -> Iterator[pa.Table]:
        import pyarrow.parquet as pq

        with self.source.fs.open(self.source.root, "rb") as f:
            for batch in pq.ParquetFile(f).iter_batches(batch_size=PARQUET_BATCH_ROWS):
                yield pa.Table.from_batches([batch])

    def _close(self) -> None:
        self._trim()
        lines = {}
        if self.is_csv and self.problems:  # a second pass only to place problems
            lines = self._csv_lines({row for row, _ in self.problems})
        name = self.source.name
        for row, reason in sorted(self.problems, key=_position):
            self.report.add(f"{name}:{lines[row]}" if self.is_csv else f"{name}:row {row}", reason)
        self.report.count_more(self.count - len(self.problems))

    def _csv_lines(self, records: set[int]) -> dict[int, int]:
        """The line each CSV record ends on (blank lines are not records), as the row
        reader reports it; past a field too large for Python's reader, the record's
        number."""
        lines: dict[int, int] = {}
        last = max(records, default=0)
        with self.source.fs.open(self.source.root, "rt", encoding="utf-8", newline="") as f:
            reader = csv.reader(f)
            number = 0
            try:
                for values in reader:
                    if not values:
                        continue
                    number += 1
                    if number in records:
                        lines[number] = reader.line_num
                    if number >= last:
                        break
            except csv.Error:  # a field over Python's size limit: pyarrow has none
                pass
        return {record: lines.get(record, record) for record in records}


def _position(problem: tuple[int, str]) -> int:
    """Sort key of a problem: where it is (a stable sort keeps a row's problems in the
    order they were found)."""
    return problem[0]


def _unreadable(exc: pa.ArrowInvalid) -> str:
    text = str(exc)
    if "conversion error to string" in text:
        return f"not UTF-8 text ({text})"
    return f"unreadable CSV ({text})"
