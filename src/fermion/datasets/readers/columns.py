"""Whole columns of a table checked at once (numbers, labels, text), and hashed.

Each check gives what the row by row checks give (`as_number`, `label_of`), for a column
at a time: pyarrow casts the column, and only a column it cannot cast is looked at value
by value, to find which values are wrong.
"""

from __future__ import annotations

import hashlib
import math
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

MISSING, NOT_A_NUMBER = 1, 2  # what is wrong with a value; 0: nothing


def as_number(value: Any) -> float | None:
    """A finite number, or None; booleans are not numbers."""
    if isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def as_text(column: pa.ChunkedArray) -> pa.ChunkedArray | None:
    """The column as plain strings, when its values are text (string, large or view
    strings, or a dictionary of them); otherwise None."""
    kind = column.type
    if pa.types.is_dictionary(kind):
        kind = kind.value_type
    text_types = (pa.types.is_string, pa.types.is_large_string, pa.types.is_string_view)
    if not any(is_type(kind) for is_type in text_types):
        return None
    return column if column.type == pa.string() else column.cast(pa.string())


def numbers(column: pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
    """The column as float64, and per value MISSING (null, or text of only spaces),
    NOT_A_NUMBER (including infinities and NaN) or 0."""
    kind = column.type
    if (strings := as_text(column)) is not None:
        # Python's float() refuses the separators \x1c-\x1f that trimming removes.
        if pc.any(pc.match_substring_regex(strings, "[\x1c-\x1f]")).as_py():
            return _numbers_one_by_one(column)
        text = pc.utf8_trim_whitespace(strings)
        missing = pc.fill_null(pc.equal(text, ""), True)
        try:
            cast = pc.cast(pc.if_else(missing, pa.scalar(None, pa.string()), text), pa.float64())
        except pa.ArrowInvalid:
            return _numbers_one_by_one(column)
        return _finite(cast, missing)
    if pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_decimal(kind):
        # Unsafe: integers past 2**53 round to the nearest float64, as float() does.
        return _finite(pc.cast(column, pa.float64(), safe=False), pc.is_null(column))
    return _numbers_one_by_one(column)


def _finite(cast: pa.ChunkedArray, missing: pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
    values = cast.to_numpy()  # nulls become NaN
    missing_mask = missing.to_numpy()
    problems = np.where(np.isfinite(values), 0, NOT_A_NUMBER).astype(np.int8)
    problems[missing_mask] = MISSING
    return values, problems


def _numbers_one_by_one(column: pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
    raw = column.to_pylist()
    values = np.full(len(raw), np.nan)
    problems = np.zeros(len(raw), dtype=np.int8)
    for i, value in enumerate(raw):
        if value is None or (isinstance(value, str) and not value.strip()):
            problems[i] = MISSING
        elif (number := as_number(value)) is None:
            problems[i] = NOT_A_NUMBER
        else:
            values[i] = number
    return values, problems


def labels(column: pa.ChunkedArray) -> tuple[pa.ChunkedArray, np.ndarray]:
    """Class labels as trimmed text, and which are missing (null or empty)."""
    if (strings := as_text(column)) is not None:
        text = pc.utf8_trim_whitespace(strings)
    else:  # numbers and others: as Python writes them ("1.0", "True")
        text = pa.chunked_array(
            [pa.array([None if v is None else str(v).strip() for v in column.to_pylist()])],
            pa.string(),
        )
    return text, pc.fill_null(pc.equal(text, ""), True).to_numpy()


def text(column: pa.ChunkedArray) -> tuple[pa.ChunkedArray, np.ndarray]:
    """The column as strings, and which values are not text, or only spaces."""
    if (strings := as_text(column)) is None:
        return pa.chunked_array([pa.nulls(len(column), pa.string())]), np.ones(len(column), bool)
    return strings, pc.fill_null(pc.equal(pc.utf8_trim_whitespace(strings), ""), True).to_numpy()


class ColumnsDigest:
    """The content of a table's valid rows, fed a chunk at a time: their numbers, their
    floating point values row by row (as float64), and each text column's values. Each
    part has its own hash, so the result does not depend on where chunks begin and end."""

    def __init__(self) -> None:
        self.numbers, self.floats = hashlib.sha256(), hashlib.sha256()
        self.texts: dict[str, tuple[Any, Any]] = {}  # column: (value sizes, values)

    def update(self, numbers: np.ndarray, table: pa.Table) -> None:
        self.numbers.update(numbers.astype("<i8").tobytes())
        floats = [c.to_numpy() for c in table.columns if pa.types.is_floating(c.type)]
        if floats:
            self.floats.update(np.stack(floats, axis=1).astype("<f8").tobytes())
        for name, column in zip(table.column_names, table.columns, strict=True):
            if column.type == pa.string():
                sizes, values = self.texts.setdefault(name, (hashlib.sha256(), hashlib.sha256()))
                sizes.update(pc.binary_length(column).to_numpy().astype("<i8").tobytes())
                values.update("".join(column.to_pylist()).encode())

    def digest(self) -> bytes:
        parts = [self.numbers, self.floats] + [h for pair in self.texts.values() for h in pair]
        return b"table columns 1" + b"".join(part.digest() for part in parts)
