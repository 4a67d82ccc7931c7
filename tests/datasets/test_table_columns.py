"""CSV and Parquet tables (tabular, text and interactions) are checked a batch at a time, column by
column, by pyarrow.
What that gives must be what checking row by row gives: the same records under the same
keys (so the same splits), the same problems at the same "file:line" locations, in file
order, however the file falls into batches."""

from __future__ import annotations

import csv

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from fermion.datasets.readers import table_batches
from fermion.datasets.readers.interactions import InteractionsReader
from fermion.datasets.readers.tabular import TabularReader
from fermion.datasets.readers.text import TextReader
from fermion.datasets.records import ProblemReport
from fermion.datasets.source import Source
from fermion.datasets.splits import split_rank
from fermion.payloads import DatasetCreate

HEADER = "a,b,label\n"


def _messy_csv() -> str:
    """300 rows, with every kind of problem the checks know spread through them."""
    rng = np.random.default_rng(7)
    lines = [HEADER]
    for i in range(300):
        a, b = rng.normal(size=2).round(4)
        label = f"c{i % 3}"
        spoil = i % 23
        if spoil == 1:
            lines.append(f"{a},,{label}\n")  # a missing feature
        elif spoil == 2:
            lines.append(f"{a},many,{label}\n")  # not a number
        elif spoil == 3:
            lines.append(f"{a},{b},   \n")  # a missing label
        elif spoil == 4:
            lines.append(f"{a},{b},{label},extra\n")  # unreadable: 4 fields
        elif spoil == 5:
            lines.append("\n")  # a blank line: not a row
        elif spoil == 6:
            lines.append(f'{a}, 1_000 ,"two\nlines"\n')  # Python's float reads 1_000
        elif spoil == 7:
            lines.append(f"inf,nan,{label}\n")  # not finite: two problems, the first told
        elif spoil == 8:
            lines.append(f"{a},{b},\n")  # and a row with both a bad feature and no label
            lines.append(f"x,{b},\n")
        else:
            lines.append(f"  {a} ,{b},{label}\n")
    return "".join(lines)


TABULAR, TEXT, INTERACTIONS = "tabular-classification", "text-classification", "recommendation"
READERS = {TEXT: TextReader, INTERACTIONS: InteractionsReader}


def _reader(path, kind: str = "tabular-classification"):
    request = DatasetCreate(name="t", type=kind, source=str(path), skip_invalid=True)
    reader = READERS.get(kind, TabularReader)
    return reader(Source.open(str(path), display=path.name), request, ProblemReport())


def _by_rows(path, kind: str = "tabular-classification"):
    reader = _reader(path, kind)
    records = [(split_rank(reader.request.seed, r.key), r.columns) for r in reader]
    return records, reader.report


def _by_columns(path, kind: str = "tabular-classification"):
    reader = _reader(path, kind)
    chunks = list(reader.chunks())
    rows = [row for chunk in chunks for row in chunk.table.to_pylist()]
    ranks = [rank for chunk in chunks for rank in chunk.ranks]
    return rows, ranks, reader.report, reader.digest.hexdigest()


def _same_both_ways(path, kind: str = "tabular-classification") -> tuple[list, ProblemReport]:
    """Reads `path` both ways and checks they agree: records, split ranks, problems."""
    expected, expected_report = _by_rows(path, kind)
    rows, ranks, report, _ = _by_columns(path, kind)
    assert rows == [columns for _, columns in expected]
    assert ranks == [rank for rank, _ in expected]
    assert report.count == expected_report.count
    assert [(p.location, p.reason) for p in report.problems] == [
        (p.location, p.reason) for p in expected_report.problems
    ]
    return rows, report


def _messy_both_ways(tmp_path, monkeypatch, block_bytes: int, text: str, kind: str):
    """`text` as a CSV read both ways, in batches of `block_bytes` of CSV text."""
    monkeypatch.setattr(table_batches, "BLOCK_BYTES", block_bytes)
    path = tmp_path / "messy.csv"
    path.write_text(text)
    return _same_both_ways(path, kind)


@pytest.mark.parametrize("block_bytes", [1 << 20, 300])
def test_a_csv_by_columns_gives_what_rows_give(tmp_path, monkeypatch, block_bytes):
    messy = _messy_csv()  # many batches at 300 bytes
    rows, report = _messy_both_ways(tmp_path, monkeypatch, block_bytes, messy, TABULAR)
    assert len(rows) > 200 and report.count > 20
    reasons = {p.reason.split(":")[0] for p in report.problems}
    assert {"unreadable row", "missing label in column 'label'"} <= reasons


def _messy_text_csv() -> str:
    lines = ["text,label\n"]
    for i in range(200):
        spoil = i % 17
        if spoil == 1:
            lines.append("   ,pos\n")  # only spaces
        elif spoil == 2:
            lines.append(f"review {i},\n")  # no label
        elif spoil == 3:
            lines.append(",\n")  # neither: two problems, the label's first
        elif spoil == 4:
            lines.append(f'"a review, {i}, with ""quotes""\nand two lines",neg\n')
        elif spoil == 5:
            lines.append(f"too,many,fields {i}\n")
        elif spoil == 6:
            lines.append("\n")
        else:
            lines.append(f"review number {i} ,{'pos' if i % 2 else 'neg'}\n")
    return "".join(lines)


@pytest.mark.parametrize("block_bytes", [1 << 20, 200])
def test_a_text_csv_by_columns_gives_what_rows_give(tmp_path, monkeypatch, block_bytes):
    messy = _messy_text_csv()
    rows, report = _messy_both_ways(tmp_path, monkeypatch, block_bytes, messy, TEXT)
    assert len(rows) > 120 and report.count > 20


def test_the_digest_does_not_depend_on_batches_or_the_file_format(tmp_path, monkeypatch):
    path = tmp_path / "messy.csv"
    path.write_text(_messy_csv())
    *_, digest = _by_columns(path)
    monkeypatch.setattr(table_batches, "BLOCK_BYTES", 300)
    assert _by_columns(path)[3] == digest

    rows, *_ = _by_columns(path)
    parquet = tmp_path / "clean.parquet"
    pq.write_table(pa.Table.from_pylist(rows), parquet, row_group_size=50)
    clean_csv = tmp_path / "clean.csv"
    with clean_csv.open("w", newline="") as f:
        writer = csv.DictWriter(f, ["a", "b", "label"])
        writer.writeheader()
        writer.writerows(rows)
    assert _by_columns(parquet)[3] == _by_columns(clean_csv)[3] != digest


def test_a_parquet_file_by_columns_gives_what_rows_give(tmp_path):
    table = pa.table(
        {
            "x": pa.array([1, 2, None, 4, 5, 6], pa.int64()),
            "y": pa.array([0.5, 1.5, 2.5, float("inf"), 4.5, 5.5], pa.float64()),
            "flag": pa.array([True, False, True, False, None, True], pa.bool_()),
            "target": pa.array([0.5, float("nan"), 1.0, 2.0, 3.0, None], pa.float64()),
        }
    ).drop_columns(["flag"])
    path = tmp_path / "t.parquet"
    pq.write_table(table, path)
    rows, report = _same_both_ways(path, "tabular-regression")
    assert len(rows) == 2
    assert [p.location for p in report.problems] == [
        "t.parquet:row 2",
        "t.parquet:row 3",
        "t.parquet:row 4",
        "t.parquet:row 6",
    ]


def test_booleans_are_not_numbers(tmp_path):
    path = tmp_path / "flags.parquet"
    table = {"flag": [True, None, False], "label": ["a", "b", "a"]}
    pq.write_table(pa.table(table), path)
    rows, report = _same_both_ways(path)
    assert rows == []
    assert [p.reason for p in report.problems] == [
        "feature column 'flag': True is not a number",
        "missing value in feature column 'flag'",
        "feature column 'flag': False is not a number",
    ]


ODD_CSVS = {
    "byte order mark": ("tabular-classification", "\ufeffa,b,label\n1,2,x\n3,4,y\n"),
    "a name given twice": ("tabular-classification", "a,a,label\n1,2,x\n3,4,y\n"),
    "header only, no newline": ("tabular-classification", "a,b,label"),
    "separator characters": ("tabular-regression", "a,target\n1\x1c,1\n2,2\x1f\n3,3\n"),
    "crlf and a lone cr": ("text-classification", 'text,label\r\n"a\rb",x\r\nc,y\r\n'),
}


@pytest.mark.parametrize("case", list(ODD_CSVS))
def test_odd_csv_files_give_what_rows_give(tmp_path, case):
    kind, text = ODD_CSVS[case]
    path = tmp_path / "odd.csv"
    path.write_bytes(text.encode())
    _same_both_ways(path, kind)


def test_parquet_types_pandas_writes_give_what_rows_give(tmp_path):
    """int64 past 2**53 (nanosecond times, ids) and a categorical (dictionary) text."""
    table = pa.table(
        {
            "text": pa.array(["good", "bad", "good"]).dictionary_encode(),
            "label": ["pos", "neg", "pos"],
        }
    )
    pq.write_table(table, tmp_path / "text.parquet")
    numbers = pa.table({"t": [1_700_000_000_123_456_789, 2**60 + 1, 3], "label": ["a", "b", "a"]})
    pq.write_table(numbers, tmp_path / "numbers.parquet")
    for name, kind in [("text", "text-classification"), ("numbers", "tabular-classification")]:
        path = tmp_path / f"{name}.parquet"
        rows, report = _same_both_ways(path, kind)
        assert len(rows) == 3 and report.count == 0


def _messy_interactions_csv() -> str:
    lines = ["user,item,rating,timestamp\n"]
    for i in range(150):
        user, item, rating, time = f"u{i % 7}", f"m{i % 11}", f"{i % 5}.5", str(1_000_000 + i)
        spoil = i % 19
        if spoil == 1:
            user = "  "
        elif spoil == 2:
            item = ""
        elif spoil == 3:
            rating = "lots"
        elif spoil == 4:
            time = f"2024-03-0{1 + i % 9} 12:00"  # dates, as pandas reads them
        elif spoil == 5:
            time = "2024-03-01T12:00:00+02:00"
        elif spoil == 6:
            time = "someday"
        elif spoil == 7:
            time = ""
        elif spoil == 8:
            lines.append(f"{user},{item}\n")  # unreadable
            continue
        elif spoil == 9:
            user, rating = "", "bad"  # two problems: only the first is told
        lines.append(f"{user},{item},{rating},{time}\n")
    return "".join(lines)


@pytest.mark.parametrize("block_bytes", [1 << 20, 150])
def test_interactions_by_columns_give_what_rows_give(tmp_path, monkeypatch, block_bytes):
    messy = _messy_interactions_csv()
    rows, report = _messy_both_ways(tmp_path, monkeypatch, block_bytes, messy, INTERACTIONS)
    assert len(rows) > 80 and report.count > 20


def test_interactions_in_parquet_types_give_what_rows_give(tmp_path):
    """Integer ids, boolean ratings (float() takes them), a timestamp type, nulls."""
    stamps = pa.array([0, 10**15, None, 3 * 10**15], pa.timestamp("us"))
    table = pa.table(
        {
            "user_id": [1, 2, None, 4],
            "movie_id": [10, 20, 30, 40],
            "rating": [True, False, True, None],
            "time": stamps,
        }
    )
    path = tmp_path / "ratings.parquet"
    pq.write_table(table, path)
    rows, _ = _same_both_ways(path, "recommendation")
    assert len(rows) == 2
