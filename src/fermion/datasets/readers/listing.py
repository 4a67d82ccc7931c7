"""The files of a file-per-record dataset (images, sounds): a class-per-folder tree, or
a CSV/JSONL manifest of path,label rows. Files that cannot be records are reported."""

from __future__ import annotations

import posixpath
from collections.abc import Iterator

from fermion.datasets.image_check import Entry
from fermion.datasets.readers.base import TableRows, label_of
from fermion.datasets.records import ProblemReport
from fermion.datasets.source import Source
from fermion.errors import InvalidInput
from fermion.payloads import DatasetCreate


def check_layout(source: Source, noun: str) -> None:
    if not source.is_dir and source.suffix not in (".csv", ".jsonl"):
        raise InvalidInput(
            f"{source.display} is neither a folder of class folders nor a CSV/JSONL"
            f" manifest of path,label rows (one {noun} file each)"
        )


def entries(
    source: Source, request: DatasetCreate, report: ProblemReport, suffixes: set[str], noun: str
) -> Iterator[Entry]:
    if source.is_dir:
        return folder_entries(source, report, suffixes, noun)
    return manifest_entries(source, request, report, noun)


def folder_entries(
    source: Source, report: ProblemReport, suffixes: set[str], noun: str
) -> Iterator[Entry]:
    for path, relative, escapes in source.walk_files():
        parts = relative.split("/")
        if len(parts) < 2:
            report.add(relative, "missing label: the file is not inside a class folder")
        elif posixpath.splitext(relative)[1].lower() not in suffixes:
            report.add(relative, f"not an {noun} file (unknown extension)")
        elif escapes:
            report.add(relative, "path escapes the source root (a link to outside it)")
        else:
            yield Entry(relative, path, relative, parts[0])


def manifest_entries(
    source: Source, request: DatasetCreate, report: ProblemReport, noun: str
) -> Iterator[Entry]:
    rows = TableRows(source, report)
    path_from = rows.pick(None, ("path", noun, "file", "filename"), "a 'path' column")
    label_from = rows.pick(request.label_column, ("label", "class"), "--label-column")
    for row in rows:
        relative = str(row.values.get(path_from) or "").strip()
        label = label_of(row, label_from, report)
        if not relative:
            report.add(row.location, f"missing {noun} path in column {path_from!r}")
            continue
        path = source.resolve_inside(relative)
        if path is None:
            report.add(row.location, f"path {relative!r} escapes the source root")
        elif label is not None:
            yield Entry(row.location, path, source.relative(path), label)
