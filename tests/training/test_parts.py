"""The trainer's parts on their own: models by name, pretrained weights, optimiser
groups, schedules, metrics, precision choice."""

from __future__ import annotations

import pytest
import torch

from fermion import InvalidInput
from fermion.modelfile import architectures as models
from fermion.precision import (
    EMULATED_BF16,
    Precision,
    check_precision,
    cpu_has_native_bf16,
    resolve_precision,
)
from fermion.training.metrics import classification_metrics, regression_metrics
from fermion.training.optim import make_optimizer, make_schedule, parameter_groups


@pytest.mark.parametrize("name", ["resnet18", "resnet34", "resnet50", "mobilenet_v3_small"])
def test_torchvision_models_take_small_images(name):
    model = models.torchvision_model(name, num_classes=7, image_side=32).eval()
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 7)


def test_small_cnn_and_transformer_shapes():
    assert models.SmallCNN(10)(torch.randn(4, 3, 8, 8)).shape == (4, 10)
    ids = torch.tensor([[5, 6, 7, 0], [8, 0, 0, 0]])
    assert models.SmallTransformer(20, 3, max_len=8)(ids).shape == (2, 3)


def test_pretrained_weights_load_except_a_head_of_another_size(tmp_path):
    from safetensors.torch import save_file

    source = models.torchvision_model("resnet18", num_classes=1000, image_side=224)
    save_file(
        {k: v.contiguous() for k, v in source.state_dict().items()}, str(tmp_path / "w.safetensors")
    )
    target = models.torchvision_model("resnet18", num_classes=10, image_side=224)
    missing = models.load_pretrained(target, tmp_path / "w.safetensors")
    assert missing == ["fc.bias", "fc.weight"]
    assert torch.equal(target.conv1.weight, source.conv1.weight)


def test_no_weight_decay_on_biases_and_norms():
    model = models.SmallCNN(3)
    decay, no_decay = parameter_groups(model, 0.05)
    assert decay["weight_decay"] == 0.05 and no_decay["weight_decay"] == 0.0
    assert all(p.ndim > 1 for p in decay["params"]) and all(p.ndim == 1 for p in no_decay["params"])
    assert len(decay["params"]) + len(no_decay["params"]) == len(list(model.parameters()))


@pytest.mark.parametrize("kind,end", [("cosine", 0.0), ("linear", 0.0), ("constant", 1.0)])
def test_warmup_then_schedule(kind, end):
    optimizer = make_optimizer(torch.nn.Linear(2, 2), "adamw", lr=1.0, weight_decay=0.0)
    schedule = make_schedule(optimizer, kind, total_steps=100, warmup_ratio=0.1)
    lrs = []
    for _ in range(100):
        lrs.append(schedule.get_last_lr()[0])
        optimizer.step()
        schedule.step()
    assert lrs[0] == pytest.approx(0.1) and lrs[9] == pytest.approx(1.0)  # linear warm-up
    assert lrs[-1] == pytest.approx(end, abs=0.02)


def test_classification_and_regression_metrics():
    logits = torch.tensor([[2.0, 0.0], [0.0, 2.0], [2.0, 0.0], [0.0, 2.0]])
    labels = torch.tensor([0, 1, 1, 1])
    m = classification_metrics(logits, labels, ["a", "b"], with_details=True)
    assert m["accuracy"] == 0.75
    assert m["confusion_matrix"] == [[1, 0], [1, 2]]
    assert m["per_class"]["a"]["precision"] == 0.5
    assert m["per_class"]["b"]["recall"] == pytest.approx(2 / 3)
    r = regression_metrics(torch.tensor([1.0, 2.0, 3.0]), torch.tensor([1.0, 2.0, 5.0]))
    assert r["mae"] == pytest.approx(2 / 3) and r["rmse"] == pytest.approx((4 / 3) ** 0.5)


def test_precision_is_decided_by_the_hardware_that_runs_the_job(tmp_path):
    p = Precision
    with pytest.raises(InvalidInput, match="use --precision bf16"):
        resolve_precision(p.FP16, gpus=0)
    assert resolve_precision(p.FP16, gpus=1) == (p.FP16, "as asked")
    assert resolve_precision(p.AUTO, gpus=1)[0] is p.BF16
    assert resolve_precision(p.AUTO, gpus=1, gpu_bf16=False)[0] is p.FP32
    assert resolve_precision(p.AUTO, gpus=0, cpu_flag="amx_bf16")[0] is p.BF16
    assert resolve_precision(p.AUTO, gpus=0, cpu_flag=None)[0] is p.FP32
    emulated, why = resolve_precision(p.BF16, gpus=0, cpu_flag=None)
    assert emulated is p.BF16 and "emulated" in why and "fp32" in why
    assert resolve_precision(p.BF16, gpus=0, cpu_flag="avx512_bf16") == (p.BF16, "as asked")
    assert check_precision(p.BF16, 0, None) == [EMULATED_BF16]
    assert check_precision(p.BF16, 0, "amx_bf16") == check_precision(p.AUTO, 0, None) == []
    no_bf16, amx = tmp_path / "a", tmp_path / "b"
    no_bf16.write_text("flags : fpu avx2 avx512f\n")
    amx.write_text("flags : fpu avx512f amx_bf16\n")
    assert cpu_has_native_bf16(no_bf16) is None
    assert cpu_has_native_bf16(amx) == "amx_bf16"
