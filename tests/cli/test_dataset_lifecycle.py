"""The whole life of a dataset, for each type, through the CLI and the SDK against a
real server: create, list, show, head, dedup, a new version, split determinism, delete."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

import fermion as fm
from tests import sources


def image_source(folder: Path, digits_dir: Path, changed: bool) -> Path:
    root = folder / "images"
    if not root.exists():
        for label in ("2", "5", "8"):
            shutil.copytree(digits_dir / label, root / label)
    if changed:
        (root / "5" / "new.png").write_bytes(sources.png_bytes(value=99))
    return root


def text_source(folder: Path, _: Path, changed: bool) -> Path:
    return sources.write_rows(folder / "reviews.csv", sources.review_rows(81 if changed else 80))


def tabular_source(folder: Path, _: Path, changed: bool) -> Path:
    rows = sources.iris_rows()
    return sources.write_rows(folder / "iris.parquet", rows if changed else rows[:-1])


def regression_source(folder: Path, _: Path, changed: bool) -> Path:
    rows = sources.diabetes_rows()
    return sources.write_rows(folder / "diabetes.jsonl", rows if changed else rows[:-1])


TYPES: dict[str, tuple[Callable, list[str]]] = {
    "image-classification": (image_source, []),
    "text-classification": (text_source, []),
    "tabular-classification": (tabular_source, ["--label-column", "species"]),
    "tabular-regression": (regression_source, []),
}


def _test_keys(client: fm.Client, ref: str, n: int) -> list:
    rows = client.dataset_head(ref, split="test", limit=n).rows
    return sorted(json.dumps(row, sort_keys=True) for row in rows)


@pytest.mark.parametrize("kind", list(TYPES))
def test_dataset_lifecycle(kind, cli, client, tmp_path, digits_dir):
    make_source, flags = TYPES[kind]
    name = f"life-{kind}"
    source = make_source(tmp_path, digits_dir, changed=False)
    create = ("dataset", "create", "--name", name, "--type", kind, "--source", source, *flags)

    assert cli(*create).stdout.split()[-1] == f"{name}:v1"
    listed = json.loads(cli("dataset", "list", "--json").stdout)
    assert name in [d["name"] for d in listed["data"]]
    v1 = json.loads(cli("dataset", "show", f"{name}:v1", "--json").stdout)
    assert v1["type"] == kind
    assert sum(v1["split_counts"].values()) == v1["num_records"] > 0
    head = cli("dataset", "head", name, "--split", "validation", "-n", "3").stdout
    assert f"{name}:v1 validation" in head

    # The same content is the same version; changed content is the next one.
    again = cli(*create)
    assert again.stdout.split()[-1] == f"{name}:v1" and "no new version" in again.output
    make_source(tmp_path, digits_dir, changed=True)
    assert cli(*create).stdout.split()[-1] == f"{name}:v2"
    v2 = client.get_dataset_version(name)
    assert v2.version == 2 and v2.num_records == v1["num_records"] + 1

    # Splits depend only on content and seed: another name with the same seed gets the
    # same test split; another seed a different one.
    twin = client.create_dataset(f"{name}-twin", kind, source, **_sdk_flags(flags))
    other = client.create_dataset(f"{name}-seed7", kind, source, seed=7, **_sdk_flags(flags))
    n = v2.split_counts["test"]
    assert _test_keys(client, twin.ref, n) == _test_keys(client, v2.ref, n)
    assert _test_keys(client, other.ref, n) != _test_keys(client, v2.ref, n)
    assert twin.digest == v2.digest and other.digest != v2.digest

    for ref in (f"{name}:v1", name, f"{name}-twin", f"{name}-seed7"):
        cli("dataset", "delete", ref, "--yes")
    listed = json.loads(cli("dataset", "list", "--json").stdout)
    assert not [d for d in listed["data"] if d["name"].startswith(name)]


def _sdk_flags(flags: list[str]) -> dict:
    return {"label_column": flags[1]} if flags else {}
