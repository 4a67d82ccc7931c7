"""`fermion dataset ...` against a real server: every type, versioning, dedup, delete."""

from __future__ import annotations

import json
import shutil

import pytest

from tests import sources


def test_image_folder_create_list_show_head_delete(cli, digits_dir, server):
    created = cli(
        "dataset",
        "create",
        "--name",
        "digits-cli",
        "--type",
        "image classification",
        "--source",
        digits_dir,
    )
    assert created.stdout.strip().splitlines()[-1] == "digits-cli:v1"
    assert "1,797 records" in created.output

    listed = json.loads(cli("dataset", "list", "--json").stdout)
    entry = next(d for d in listed["data"] if d["name"] == "digits-cli")
    assert entry["type"] == "image-classification"
    assert entry["versions"][-1]["num_records"] == 1797

    shown = json.loads(cli("dataset", "show", "digits-cli", "--json").stdout)
    version = shown["versions"][-1]
    assert version["class_names"] == [str(d) for d in range(10)]
    assert sum(version["split_counts"].values()) == 1797
    assert version["split_counts"]["train"] > 1400
    assert version["spec"]["image_size"] == [8, 8]
    assert len(version["digest"]) == 64
    table = cli("dataset", "show", "digits-cli:v1").stdout
    assert "digits-cli:v1" in table and "validation" in table

    head = json.loads(
        cli("dataset", "head", "digits-cli", "--split", "test", "-n", "4", "--json").stdout
    )
    assert len(head["rows"]) == 4
    assert {"label", "path", "width", "height"} <= set(head["columns"])
    assert "image" not in head["columns"]

    cli("dataset", "delete", "digits-cli", "--yes")
    missing = cli("dataset", "show", "digits-cli", ok=False)
    assert missing.exit_code == 1
    assert "dataset 'digits-cli' not found" in missing.output
    assert not (server.artifacts / "datasets" / "digits-cli").exists() or not any(
        (server.artifacts / "datasets" / "digits-cli").iterdir()
    )


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".parquet"])
def test_text_dataset_from_each_format(cli, tmp_path, suffix):
    source = sources.write_rows(tmp_path / f"reviews{suffix}", sources.review_rows(100))
    name = f"reviews{suffix.replace('.', '-')}"
    cli("dataset", "create", "--name", name, "--type", "text-classification", "--source", source)
    info = json.loads(cli("dataset", "show", f"{name}:v1", "--json").stdout)
    assert info["class_names"] == ["neg", "pos"]
    assert info["num_records"] == 100
    # Stratified: each split holds both classes in equal numbers.
    assert info["class_counts"]["validation"] == {"neg": 5, "pos": 5}
    head = json.loads(cli("dataset", "head", name, "-n", "2", "--json").stdout)
    assert head["rows"][0]["text"].split()[-1].startswith("#")


def test_text_columns_are_chosen_by_flag(cli, tmp_path):
    rows = [{"review": r["text"], "sentiment": r["label"]} for r in sources.review_rows(40)]
    source = sources.write_rows(tmp_path / "custom.csv", rows)
    missing = cli(
        "dataset",
        "create",
        "--name",
        "custom-cols",
        "--type",
        "text-classification",
        "--source",
        source,
        ok=False,
    )
    assert missing.exit_code == 1
    assert "--label-column" in missing.output and "sentiment" in missing.output
    cli(
        "dataset",
        "create",
        "--name",
        "custom-cols",
        "--type",
        "text-classification",
        "--source",
        source,
        "--text-column",
        "review",
        "--label-column",
        "sentiment",
    )


def test_tabular_classification_and_regression(cli, tmp_path):
    iris = sources.write_rows(tmp_path / "iris.csv", sources.iris_rows())
    cli(
        "dataset",
        "create",
        "--name",
        "iris",
        "--type",
        "tabular-classification",
        "--source",
        iris,
        "--label-column",
        "species",
    )
    info = json.loads(cli("dataset", "show", "iris", "--json").stdout)["versions"][-1]
    assert info["class_names"] == ["setosa", "versicolor", "virginica"]
    assert info["spec"]["feature_columns"] == [
        "sepal_length",
        "sepal_width",
        "petal_length",
        "petal_width",
    ]
    assert info["class_counts"]["test"] == {"setosa": 5, "versicolor": 5, "virginica": 5}

    diabetes = sources.write_rows(tmp_path / "diabetes.parquet", sources.diabetes_rows())
    cli(
        "dataset",
        "create",
        "--name",
        "diabetes",
        "--type",
        "tabular regression",
        "--source",
        diabetes,
    )
    info = json.loads(cli("dataset", "show", "diabetes", "--json").stdout)["versions"][-1]
    assert info["type"] == "tabular-regression"
    assert info["num_records"] == 442
    assert info["spec"]["label_column"] == "target"
    assert info["class_names"] == []
    head = json.loads(cli("dataset", "head", "diabetes", "-n", "1", "--json").stdout)
    assert isinstance(head["rows"][0]["target"], float)


def test_image_manifest(cli, tmp_path, digits_dir):
    root = tmp_path / "manifest"
    shutil.copytree(digits_dir / "3", root / "images" / "three")
    shutil.copytree(digits_dir / "7", root / "images" / "seven")
    rows = [
        {"path": f"images/three/{p.name}", "label": "3"} for p in (root / "images/three").iterdir()
    ]
    rows += [
        {"path": f"images/seven/{p.name}", "label": "7"} for p in (root / "images/seven").iterdir()
    ]
    manifest = sources.write_rows(root / "labels.jsonl", rows)
    cli(
        "dataset",
        "create",
        "--name",
        "manifest",
        "--type",
        "image-classification",
        "--source",
        manifest,
    )
    info = json.loads(cli("dataset", "show", "manifest:v1", "--json").stdout)
    assert info["class_names"] == ["3", "7"]
    assert info["num_records"] == len(rows)


def test_versions_are_content_addressed(cli, tmp_path, digits_dir):
    source = tmp_path / "digits"
    shutil.copytree(digits_dir / "0", source / "0")
    shutil.copytree(digits_dir / "1", source / "1")
    first = cli(
        "dataset",
        "create",
        "--name",
        "versioned",
        "--type",
        "image-classification",
        "--source",
        source,
    )
    assert first.stdout.split()[-1] == "versioned:v1"

    again = cli(
        "dataset",
        "create",
        "--name",
        "versioned",
        "--type",
        "image-classification",
        "--source",
        source,
    )
    assert again.stdout.split()[-1] == "versioned:v1"
    assert "no new version" in again.output

    (source / "1" / "extra.png").write_bytes(sources.png_bytes(value=200))
    changed = cli(
        "dataset",
        "create",
        "--name",
        "versioned",
        "--type",
        "image-classification",
        "--source",
        source,
    )
    assert changed.stdout.split()[-1] == "versioned:v2"

    latest = json.loads(cli("dataset", "show", "versioned", "--json").stdout)
    assert [v["version"] for v in latest["versions"]] == [1, 2]
    v1 = json.loads(cli("dataset", "show", "versioned:v1", "--json").stdout)
    v2 = json.loads(cli("dataset", "show", "versioned:latest", "--json").stdout)
    assert v2["num_records"] == v1["num_records"] + 1
    assert v1["digest"] != v2["digest"]

    # Deleting one version keeps the others, and numbers are never reused.
    cli("dataset", "delete", "versioned:v1", "--yes")
    (source / "1" / "extra2.png").write_bytes(sources.png_bytes(value=100))
    third = cli(
        "dataset",
        "create",
        "--name",
        "versioned",
        "--type",
        "image-classification",
        "--source",
        source,
    )
    assert third.stdout.split()[-1] == "versioned:v3"
    gone = cli("dataset", "show", "versioned:v1", ok=False)
    assert "has no version v1" in gone.output and "v2, v3" in gone.output


def test_a_name_keeps_its_type(cli, tmp_path, digits_dir):
    cli(
        "dataset",
        "create",
        "--name",
        "typed",
        "--type",
        "image-classification",
        "--source",
        digits_dir,
    )
    text = sources.write_rows(tmp_path / "t.csv", sources.review_rows(20))
    clash = cli(
        "dataset",
        "create",
        "--name",
        "typed",
        "--type",
        "text-classification",
        "--source",
        text,
        ok=False,
    )
    assert clash.exit_code == 1
    assert "already exists with type image-classification" in clash.output


def test_unknown_type_and_bad_split_are_refused(cli, digits_dir):
    bad_type = cli(
        "dataset",
        "create",
        "--name",
        "x",
        "--type",
        "audio-magic",
        "--source",
        digits_dir,
        ok=False,
    )
    assert bad_type.exit_code == 1 and "unknown dataset type 'audio-magic'" in bad_type.output
    bad_split = cli(
        "dataset",
        "create",
        "--name",
        "x",
        "--type",
        "image-classification",
        "--source",
        digits_dir,
        "--split",
        "0.5,0.1,0.1",
        ok=False,
    )
    assert bad_split.exit_code == 1 and "add up to 1" in bad_split.output
    missing = cli(
        "dataset",
        "create",
        "--name",
        "x",
        "--type",
        "image-classification",
        "--source",
        "/no/such/folder",
        ok=False,
    )
    assert missing.exit_code == 1 and "does not exist" in missing.output
