"""Image rows past Arrow's 32-bit offsets: a chunk of large images is cut into batches,
and a file too large for any record is reported, not a server error."""

import pyarrow as pa

from fermion.datasets import image_check
from fermion.datasets.image_check import Entry, check_chunk
from fermion.datasets.image_rows import _rows, _under_offset_limit
from fermion.datasets.readers.image import FEATURES

SCHEMA = FEATURES.arrow_schema


def checked_digits(digits_dir, count):
    paths = sorted(digits_dir.glob("*/*.png"))[:count]
    entries = [Entry(str(p), str(p), f"{p.parent.name}/{p.name}", p.parent.name) for p in paths]
    return check_chunk(None, entries)


def test_a_chunk_past_the_offset_limit_is_cut_into_batches_of_the_same_rows(digits_dir):
    checked = checked_digits(digits_dir, 10)
    keys = [c.entry.key for c in checked]
    sizes = [len(c.data) for c in checked]
    limit = sum(sizes[:4])  # the first four images fit in one batch, a fifth would not

    slices = list(_under_offset_limit(checked, limit))

    assert slices[0] == (0, 4) and len(slices) > 2
    assert [i for start, end in slices for i in range(start, end)] == list(range(10))
    assert all(sum(sizes[start:end]) <= limit for start, end in slices)
    parts = pa.Table.from_batches([_rows(checked[i:j], keys[i:j], SCHEMA) for i, j in slices])
    whole = pa.Table.from_batches([_rows(checked, keys, SCHEMA)])
    assert parts.equals(whole)


def test_a_file_larger_than_a_record_holds_is_a_problem_of_that_image(digits_dir, monkeypatch):
    (small,) = checked_digits(digits_dir, 1)
    monkeypatch.setattr(image_check, "MAX_COLUMN_BYTES", len(small.data) - 1)

    (large,) = checked_digits(digits_dir, 1)

    assert large.problem.startswith(f"file of {len(small.data):,} bytes: larger than")
    assert large.pixels is None and large.sha256 == b""
