"""Every detector Fermion offers builds without downloaded weights, learns (a finite loss
with gradients), answers in Fermion's padded rows, and survives the model folder."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fermion import modelfile
from fermion.modelfile.catalog import DETECTION_MODELS
from fermion.modelfile.detectors import MAX_DETECTIONS, build_detector, unpadded
from fermion.modelfile.schema import DetectionPreprocessing, ModelSpec


def targets() -> list[dict[str, torch.Tensor]]:
    return [
        {"boxes": torch.tensor([[4.0, 6.0, 30.0, 40.0]]), "labels": torch.tensor([0])},
        {"boxes": torch.tensor([[10.0, 10.0, 50.0, 30.0]]), "labels": torch.tensor([1])},
    ]


@pytest.mark.parametrize("name", DETECTION_MODELS)
def test_each_detector_learns_and_answers_in_rows(name):
    torch.manual_seed(0)
    detector = build_detector(name, classes=2, image_size=(64, 64))
    images = torch.rand(2, 3, 64, 64)
    detector.train()
    loss = detector(images, targets())
    loss.backward()
    assert loss.ndim == 0 and torch.isfinite(loss)
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in detector.parameters())
    detector.eval()
    with torch.no_grad():
        rows = detector(images)
    assert rows.shape == (2, MAX_DETECTIONS, 6)
    for found in unpadded(rows):  # classes count from 0; padding (-1) is gone
        assert ((found["labels"] >= 0) & (found["labels"] < 2)).all()


def test_a_detector_folder_loads_back_to_the_same_answers(tmp_path):
    detector = build_detector("small-detector", classes=3, image_size=(96, 128)).eval()
    spec = ModelSpec(dataset_type="object-detection", model="small-detector")
    preprocessing = DetectionPreprocessing(image_size=(96, 128))
    modelfile.save(tmp_path / "m", detector, spec, ["a", "b", "c"], preprocessing)
    loaded = modelfile.load(tmp_path / "m")
    images = torch.rand(1, 3, 96, 128)
    with torch.no_grad():
        assert torch.equal(loaded.network(images), detector(images))
    assert loaded.detection and loaded.preprocessing.min_score == 0.3


def test_pretrained_torchvision_weights_load_into_the_detector(tmp_path):
    """A local file of torchvision's own detector weights (for COCO's 91 classes): the
    backbone comes from it, the head for 2 classes starts fresh."""
    from torchvision.models import get_model

    from fermion.training.config import TrainConfig
    from fermion.training.data import Data
    from fermion.training.loop import build_model

    name = "fasterrcnn_mobilenet_v3_large_fpn"
    coco = get_model(name, weights=None, weights_backbone=None, num_classes=91)
    torch.save(coco.state_dict(), tmp_path / "coco.pth")
    config = TrainConfig(
        dataset="d:v1", dataset_type="object-detection", name="m", model=name, epochs=1,
        batch_size=2, lr=1e-3, weight_decay=0.0, optimizer="adamw", scheduler="constant",
        warmup_ratio=0.0, precision="fp32", precision_reason="", grad_accum=1,
        max_grad_norm=1.0, nproc=1, seed=0, early_stopping=None, image_size=None,
        augment="none", pretrained=str(tmp_path / "coco.pth"),
    )  # fmt: skip
    data = Data(None, None, None, ["a", "b"], model_inputs={"image_size": (64, 64)})
    detector = build_model(config, data, tmp_path)
    first = "backbone.body.0.0.weight"
    assert torch.equal(detector.network.state_dict()[first], coco.state_dict()[first])
    head = "roi_heads.box_predictor.cls_score.weight"
    assert detector.network.state_dict()[head].shape[0] == 3  # two classes and background


def test_boxes_come_back_in_the_images_pixels_and_the_padding_is_no_object():
    from fermion.modelfile.decoding import in_pixels_of

    # A 160x120 image fitted into 128x128 is 128x96 with 32 rows of padding below.
    rows = np.full((4, 6), -1.0, dtype=np.float32)
    rows[0] = [16, 24, 48, 56, 0.9, 1]  # on the image
    rows[1] = [0, 93, 36, 100, 0.5, 2]  # the padding's edge: mostly below row 96
    rows[2] = [100, 90, 128, 99, 0.4, 0]  # a third below the image: kept, cut to it
    found = in_pixels_of(rows, (120, 160), (128, 128))
    assert found[:, 5].tolist() == [1, 0]
    assert found[0, :4].tolist() == pytest.approx([20, 30, 60, 70])
    assert found[1, :4].tolist() == pytest.approx([125, 112.5, 160, 120])
