"""Object detection the way a new user meets it: shapes on noisy backgrounds made here,
labelled as COCO (and as YOLO), then from the CLI with every default: dataset (bad
annotations reported) -> train -> evaluate -> deploy -> predict (CLI, multipart, V2);
and the dashboard draws the boxes of the samples and of an uploaded image."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import httpx
import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from tests import sources
from tests.dashboard.conftest import Visit

# Training the detector with every default takes about 3 minutes of the first test.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

MODEL = "shapes-small-detector:v1"


@pytest.fixture(scope="module")
def shapes(tmp_path_factory) -> Path:
    """400 images in COCO layout, plus what a labelling tool's export can get wrong: a
    box past the image's edge, a category that does not exist, an annotation of an
    image that is not listed, and an image file that is not an image."""
    root = sources.shapes(tmp_path_factory.mktemp("detection") / "coco", count=400)
    document = json.loads((root / "annotations.json").read_text())
    document["annotations"] += [
        {"id": 9001, "image_id": 1, "category_id": 1, "bbox": [100, 100, 90, 20]},
        {"id": 9002, "image_id": 2, "category_id": 7, "bbox": [1, 1, 10, 10]},
        {"id": 9003, "image_id": 999, "category_id": 1, "bbox": [1, 1, 10, 10]},
    ]
    (root / "images" / "00002.png").write_text("not a picture")
    (root / "annotations.json").write_text(json.dumps(document))
    return root


@pytest.fixture(scope="module")
def trained(dashboard_cli, shapes) -> dict:
    refused = dashboard_cli(
        "dataset", "create", "--name", "shapes", "--type", "object-detection",
        "--source", shapes, ok=False,
    )  # fmt: skip
    assert refused.exit_code != 0
    assert "images/00000.png: box 1 [100, 100, 190, 120] lies outside the 128x128" in (
        refused.output
    )
    assert "images/00001.png: unknown category_id 7" in refused.output
    assert "annotation id 9003: " in refused.output and "image_id 999 is not an image here" in (
        refused.output
    )
    assert "images/00002.png: cannot decode" in refused.output
    created = dashboard_cli(
        "dataset", "create", "--name", "shapes", "--type", "object-detection",
        "--source", shapes, "--skip-invalid",
    )  # fmt: skip
    assert "397 records" in created.output
    shown = dashboard_cli("dataset", "show", "shapes")
    assert "boxes (COCO)" in shown.output and "circle" in shown.output

    trained = dashboard_cli("train", "--dataset", "shapes", "--follow")
    assert f"registered model {MODEL}" in trained.output
    return json.loads(dashboard_cli("model", "show", MODEL, "--json").stdout)


@pytest.fixture(scope="module")
def deployed(dashboard_cli, trained) -> str:
    shown = dashboard_cli("deploy", MODEL, "--name", "shapes", "--cpu", "0.5", "--memory", "1Gi")
    assert "ready" in shown.output
    return "shapes"


def picture(path: Path) -> Path:
    """A 160x120 image (not the training size) with a red square and a blue circle."""
    pixels = np.random.default_rng(7).normal(128, 40, (120, 160, 3))
    image = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(image)
    draw.rectangle((20, 30, 59, 69), fill=(220, 30, 30))
    draw.ellipse((100, 50, 139, 89), fill=(30, 30, 220))
    image.save(path)
    return path


EXPECTED = {"square": [20, 30, 60, 70], "circle": [100, 50, 140, 90]}


def iou(a: list[float], b: list[float]) -> float:
    inner = max(0, min(a[2], b[2]) - max(a[0], b[0])) * max(0, min(a[3], b[3]) - max(a[1], b[1]))
    area = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1])
    return inner / (area - inner)


def found_expected(detections: list[dict]) -> bool:
    return all(
        any(d["label"] == label and iou(d["box"], box) >= 0.5 for d in detections)
        for label, box in EXPECTED.items()
    )


def test_shapes_are_found_from_the_cli(
    dashboard_cli, trained, deployed, dashboard_server, tmp_path
):
    test = trained["metrics"]["test"]
    assert test["map_50"] >= 0.5, test
    assert set(test["per_class_ap"]) == {"circle", "square", "triangle"}
    evaluation = json.loads(
        dashboard_cli("model", "evaluate", MODEL, "--dataset", "shapes", "--json").stdout
    )
    assert abs(evaluation["metrics"]["map_50"] - test["map_50"]) <= 0.05

    image = picture(tmp_path / "two.png")
    answer = json.loads(dashboard_cli("predict", "shapes", "--image", image, "--raw").stdout)
    assert found_expected(answer[0]["detections"]), answer
    shown = dashboard_cli("predict", "shapes", "--image", image)
    assert "square" in shown.output and "circle" in shown.output

    url = f"{dashboard_server.url}/api/v1/deployments/shapes"
    auth = {"Authorization": f"Bearer {dashboard_server.token}"}
    with image.open("rb") as f:
        uploaded = httpx.post(
            f"{url}/predict?min_score=0.9", files={"file": f}, headers=auth, timeout=30
        )
    assert all(d["score"] >= 0.9 for d in uploaded.json()["predictions"][0]["detections"])
    encoded = base64.b64encode(image.read_bytes()).decode()
    refused = httpx.post(f"{url}/predict?min_score=2", json={"inputs": [encoded]}, headers=auth)
    assert refused.status_code == 400 and "min_score" in refused.json()["message"]

    v2 = {"inputs": [{"name": "input", "datatype": "BYTES", "shape": [2], "data": [encoded] * 2}]}
    inferred = httpx.post(f"{url}/v2/models/shapes/infer", json=v2, headers=auth, timeout=30)
    outputs = {o["name"]: o for o in inferred.json()["outputs"]}
    count = outputs["num_detections"]["data"][0]
    assert count >= 2 and outputs["num_detections"]["data"] == [count, count]
    assert outputs["boxes"]["shape"][0:2] == [2, outputs["labels"]["shape"][1]]
    boxes = np.asarray(outputs["boxes"]["data"]).reshape(outputs["boxes"]["shape"])
    labels = outputs["labels"]["data"][:count]
    from_v2 = [{"label": n, "box": b.tolist()} for n, b in zip(labels, boxes[0], strict=False)]
    assert found_expected(from_v2)

    export = dashboard_cli(
        "model", "export", MODEL, "--format", "onnx", "--output", tmp_path / "x", ok=False
    )
    assert export.exit_code != 0 and "a detector is not exported" in export.output


def test_two_processes_train_a_detector_and_agree_on_its_evaluation(dashboard_cli, trained):
    """DDP: each rank evaluates its share of the images; torchmetrics gathers the boxes of
    both before COCO's evaluation, so the figures cover every test image once."""
    ran = dashboard_cli(
        "train", "--dataset", "shapes", "--nproc", "2", "--epochs", "2", "--name", "shapes-ddp",
        "--follow",
    )  # fmt: skip
    assert "2 process(es)" in ran.output and "registered model shapes-ddp:v1" in ran.output
    test = json.loads(dashboard_cli("model", "show", "shapes-ddp:v1", "--json").stdout)
    test = test["metrics"]["test"]
    evaluation = json.loads(
        dashboard_cli("model", "evaluate", "shapes-ddp:v1", "--dataset", "shapes", "--json").stdout
    )["metrics"]
    assert test["images"] == evaluation["images"] == 40  # a tenth of the 397 images
    assert abs(test["map_50"] - evaluation["map_50"]) <= 0.05, (test, evaluation)


def test_yolo_labels_make_the_same_dataset(dashboard_cli, trained, tmp_path):
    yolo = sources.shapes(tmp_path / "yolo", count=120, layout="yolo")
    coco = sources.shapes(tmp_path / "coco", count=120)
    for name, root in (("yolo-shapes", yolo), ("coco-shapes", coco)):
        dashboard_cli(
            "dataset", "create", "--name", name, "--type", "object-detection", "--source", root
        )
    as_yolo, as_coco = (
        json.loads(dashboard_cli("dataset", "show", f"{n}:v1", "--json").stdout)
        for n in ("yolo-shapes", "coco-shapes")
    )
    assert as_yolo["class_names"] == as_coco["class_names"] == ["circle", "square", "triangle"]
    assert as_yolo["class_counts"] == as_coco["class_counts"]
    assert as_yolo["spec"]["objects"] == as_coco["spec"]["objects"] > 120


def test_the_sdk_gives_images_with_their_boxes(trained, dashboard_server):
    import fermion as fm
    from fermion.datasets.box_loading import collate_boxed

    with dashboard_server.client() as client:
        test = fm.Dataset.from_local("shapes", split="test", client=client)
        larger = fm.Dataset.from_local("shapes", split="test", image_size=256, client=client)
    image, target = test[0]
    assert image.shape == (3, 128, 128) and image.min() >= 0 and image.max() <= 1
    assert target["boxes"].shape[1] == 4 and len(target["boxes"]) == len(target["labels"])
    assert torch.allclose(larger[0][1]["boxes"], target["boxes"] * 2)
    images, targets = next(iter(fm.DataLoader(test, batch_size=4, collate_fn=collate_boxed)))
    assert images.shape == (4, 3, 128, 128) and len(targets) == 4


def test_the_dashboard_draws_boxes(visit: Visit, deployed, tmp_path):
    page = visit.sign_in()
    page.goto(f"{visit.server.url}/#/datasets/shapes")
    page.wait_for_selector("#sample-boxes svg rect")
    boxes = page.locator("#sample-boxes svg rect").count()
    assert boxes >= 20  # 20 samples, one to three shapes each
    labels = set(page.locator("#sample-boxes svg text").all_text_contents())
    assert labels <= {"circle", "square", "triangle"} and len(labels) >= 2
    visit.shot("detection-dataset")

    page.goto(f"{visit.server.url}/#/models/shapes-small-detector")
    page.wait_for_selector("#per-class-ap")
    assert "mAP@0.5" in page.inner_text("main")
    visit.shot("detection-model")

    page.goto(f"{visit.server.url}/#/deployments/shapes")
    page.wait_for_selector("#replicas-table [data-state=ready]", timeout=120_000)
    page.set_input_files("#try-image", str(picture(tmp_path / "two.png")))
    page.click("#try-form button[type=submit]")
    page.wait_for_selector("#detected-boxes svg rect")
    drawn = page.locator("#detected-boxes svg text").all_text_contents()
    assert any(t.startswith("square") for t in drawn) and any(t.startswith("circle") for t in drawn)
    visit.shot("detection-deployment")
