"""Detection sources, read by the ingest itself: the COCO and YOLO layouts, and what a
labelling tool's export gets wrong, each reported with where it is."""

from __future__ import annotations

import json
from pathlib import Path

import datasets as hf
import pytest

from fermion.datasets.ingest import ingest
from fermion.datasets.source import Source
from fermion.errors import InvalidInput, InvalidRecords
from fermion.payloads import DatasetCreate
from tests import sources


def ingested(root: Path, tmp_path: Path, skip_invalid: bool = False):
    request = DatasetCreate(
        name="boxes", type="object-detection", source=str(root), workers=1,
        skip_invalid=skip_invalid,
    )  # fmt: skip
    work = tmp_path / "work"
    work.mkdir(exist_ok=True)
    return ingest(request, Source.open(str(root)), work)


def problems_of(root: Path, tmp_path: Path) -> str:
    with pytest.raises(InvalidRecords) as refused:
        ingested(root, tmp_path)
    return refused.value.message


def test_yolo_labels_become_boxes_in_pixels(tmp_path):
    root = sources.shapes(tmp_path / "yolo", count=20, layout="yolo")
    coco = json.loads(
        sources.shapes(tmp_path / "coco", count=20).joinpath("annotations.json").read_text()
    )
    result = ingested(root, tmp_path)
    assert result.spec["annotations"] == "yolo" and result.class_names == [
        "circle",
        "square",
        "triangle",
    ]
    stored = hf.load_from_disk(str(result.folder))
    first = next(
        r
        for s in ("train", "validation", "test")
        for r in stored[s]
        if r["path"] == "images/00000.png"
    )
    expected = [a["bbox"] for a in coco["annotations"] if a["image_id"] == 1]
    found = [[x0, y0, x1 - x0, y1 - y0] for x0, y0, x1, y1 in first["boxes"]]
    assert len(found) == len(expected)
    for box, want in zip(found, expected, strict=True):
        assert box == pytest.approx(want, abs=0.01)


def test_yolo_mistakes_are_reported_by_file_and_line(tmp_path):
    root = sources.shapes(tmp_path / "yolo", count=6, layout="yolo")
    with open(root / "labels" / "00000.txt", "a") as f:
        f.write("7 0.5 0.5 0.1 0.1\n")
    with open(root / "labels" / "00001.txt", "a") as f:
        f.write("0 0.5 0.5 0.1\n")
    with open(root / "labels" / "00002.txt", "a") as f:
        f.write("0 0.5 0.5 0.0 0.2\n")
    message = problems_of(root, tmp_path)
    assert (
        "labels/00000.txt:" in message and "class 7 is not one of the 3 classes (0 to 2)" in message
    )
    assert "expected 'class cx cy w h'" in message
    assert "images/00002.png: box" in message and "has no area" in message
    # --skip-invalid keeps the three good images.
    assert ingested(root, tmp_path, skip_invalid=True).num_records == 3


def test_images_without_boxes_are_kept_and_crowds_left_out(tmp_path):
    root = sources.shapes(tmp_path / "coco", count=10)
    document = json.loads((root / "annotations.json").read_text())
    for annotation in document["annotations"]:
        if annotation["image_id"] == 1:
            annotation["iscrowd"] = 1
    (root / "annotations.json").write_text(json.dumps(document))
    result = ingested(root, tmp_path)
    assert result.num_records == 10 and result.spec["background_images"] == 1


def test_a_folder_that_is_neither_layout_says_what_each_needs(tmp_path):
    (tmp_path / "pictures").mkdir()
    (tmp_path / "pictures" / "a.png").write_bytes(sources.png_bytes())
    with pytest.raises(InvalidInput, match="neither a COCO folder .* nor a YOLO folder"):
        ingested(tmp_path / "pictures", tmp_path)
    yolo = sources.shapes(tmp_path / "yolo", count=2, layout="yolo")
    (yolo / "data.yaml").unlink()
    with pytest.raises(InvalidInput, match="has no class names"):
        ingested(yolo, tmp_path)
