"""The model-folder contract, end to end, on folders the trainer itself wrote: every
dataset type the trainer supports times every model family it offers for it. Each pair:
train a tiny model -> `model evaluate` agrees with the trainer's test metric -> loaded
here, deployed, and predicted over REST and V2, with the same answers -> exported to
ONNX and TorchScript, matching PyTorch."""

from __future__ import annotations

import base64
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import torch

from fermion import modelfile
from fermion.modelfile.export import export
from fermion.modelfile.inputs import Preprocessor
from tests import sources
from tests.training.test_bert import tiny_bert

pytestmark = pytest.mark.slow
# One row per pair, for people: what was trained, and how close each path came.
REPORT = Path(__file__).resolve().parents[2] / "build" / "test-output" / "roundtrip-matrix.tsv"

USER_MODEL = """
from torch import nn

class Tiny(nn.Module):  # 8x8 RGB images
    def __init__(self, num_classes):
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, num_classes))

    def forward(self, x):
        return self.net(x)

class TinyText(nn.Module):  # token ids from Fermion's word tokenizer (0 pads)
    def __init__(self, num_classes):
        super().__init__()
        self.embed = nn.Embedding(20_002, 16, padding_idx=0)
        self.head = nn.Linear(16, num_classes)

    def forward(self, ids):
        keep = (ids != 0).unsqueeze(-1).float()
        return self.head((self.embed(ids) * keep).sum(1) / keep.sum(1).clamp_min(1.0))

class TinyTable(nn.Module):  # iris: 4 features
    def __init__(self, num_classes):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(4, 32), nn.ReLU(), nn.Linear(32, num_classes))

    def forward(self, x):
        return self.net(x)
"""


@dataclass
class Pair:
    dataset: str  # a key of the `datasets` fixture
    model: str  # what `fermion train --model` takes; "" for the type's default
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return f"{self.dataset}-{self.model or 'default'}"


PAIRS = [
    Pair("image", ""),
    Pair("image", "resnet18", {"epochs": 1}),
    Pair("image", "model-file", {"model_file": "my_model.py:Tiny"}),
    Pair("text", ""),
    Pair("text", "bert", {"epochs": 4, "lr": 5e-3}),
    Pair("text", "model-file", {"model_file": "my_model.py:TinyText", "lr": 1e-2}),
    Pair("tabular-classification", ""),
    Pair("tabular-classification", "model-file", {"model_file": "my_model.py:TinyTable"}),
    Pair("tabular-regression", ""),
]


@pytest.fixture(scope="module")
def datasets(jobs_server, digits_dir, tmp_path_factory) -> dict[str, Any]:
    """Each dataset type, registered once, with the raw inputs to predict on."""
    REPORT.unlink(missing_ok=True)  # this run's table only
    root = tmp_path_factory.mktemp("roundtrip")
    reviews, iris, diabetes = sources.review_rows(300), sources.iris_rows(), sources.diabetes_rows()
    with jobs_server.client() as client:
        client.create_dataset("rt-image", "image-classification", digits_dir)
        client.create_dataset(
            "rt-text", "text-classification", sources.write_rows(root / "reviews.csv", reviews)
        )
        client.create_dataset(
            "rt-tabular-classification",
            "tabular-classification",
            sources.write_rows(root / "iris.csv", iris),
            label_column="species",
        )
        client.create_dataset(
            "rt-tabular-regression",
            "tabular-regression",
            sources.write_rows(root / "diabetes.csv", diabetes),
        )
    images = sorted(digits_dir.rglob("*.png"))[::180][:8]
    (root / "code").mkdir()
    (root / "code" / "my_model.py").write_text(textwrap.dedent(USER_MODEL))
    return {
        "image": [p.read_bytes() for p in images],
        "text": [r["text"] for r in reviews[:8]],
        "tabular-classification": [
            {k: v for k, v in r.items() if k != "species"} for r in iris[::19][:8]
        ],
        "tabular-regression": [
            {k: v for k, v in r.items() if k != "target"} for r in diabetes[::50][:8]
        ],
        "code": root / "code",
        "bert": tiny_bert(root / "tiny-bert", [r["text"] for r in reviews]),
    }


def train(client, pair: Pair, datasets: dict[str, Any]):
    options: dict[str, Any] = {
        "epochs": 3,
        "memory": "3Gi",
        **pair.options,
        "name": f"rt-{pair.id}",
    }
    if pair.model == "model-file":
        options["workdir"] = datasets["code"]
    elif pair.model == "bert":
        options.update(model="bert", pretrained=datasets["bert"])
    elif pair.model:
        options["model"] = pair.model
    started = client.train(f"rt-{pair.dataset}", **options)
    job = client.wait_job(started.job.id, timeout=400)
    assert job.status.value == "succeeded", client.job_logs(job.id)
    return job


def wire(pair: Pair, value: Any) -> Any:
    """An input as JSON carries it: images as base64 text."""
    return base64.b64encode(value).decode() if pair.dataset == "image" else value


def in_process(model: modelfile.LoadedModel, inputs: list[Any]) -> torch.Tensor:
    pre = Preprocessor(model)
    batch = pre.collate([pre.prepare(x, f"input {i}") for i, x in enumerate(inputs)])
    with torch.inference_mode():
        return model.network(batch).float()


def v2_body(pair: Pair, inputs: list[Any], model: modelfile.LoadedModel) -> dict[str, Any]:
    if pair.dataset.startswith("tabular"):
        columns = model.preprocessing.feature_columns
        rows = [[float(r[c]) for c in columns] for r in inputs]
        tensor = {
            "name": "input",
            "datatype": "FP32",
            "shape": [len(rows), len(columns)],
            "data": rows,
        }
    else:
        tensor = {
            "name": "input",
            "datatype": "BYTES",
            "shape": [len(inputs)],
            "data": [wire(pair, x) for x in inputs],
        }
    return {"inputs": [tensor]}


def agree(pair: Pair, trainer: dict[str, float], evaluated: dict[str, float]) -> str:
    if pair.dataset == "tabular-regression":
        assert evaluated["rmse"] == pytest.approx(trainer["rmse"], rel=5e-3)
        return f"rmse {trainer['rmse']:.2f} / {evaluated['rmse']:.2f}"
    # within half a point of accuracy
    assert abs(evaluated["accuracy"] - trainer["accuracy"]) <= 0.005
    return f"accuracy {trainer['accuracy']:.4f} / {evaluated['accuracy']:.4f}"


def report(
    pair: Pair,
    model: modelfile.LoadedModel,
    metric: str,
    served: int,
    differences: dict[str, float],
) -> None:
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    if not REPORT.exists():
        REPORT.write_text(
            "dataset\tmodel\tnetwork\ttrainer / evaluate\tserved\tonnx\ttorchscript\n"
        )
    row = [
        pair.dataset,
        pair.model or "default",
        model.spec.architecture,
        metric,
        f"{served} inputs, REST = V2 = in-process",
        f"{differences['onnx']:.1e}",
        f"{differences['torchscript']:.1e}",
    ]
    with REPORT.open("a") as f:
        f.write("\t".join(row) + "\n")


@pytest.mark.parametrize("pair", PAIRS, ids=lambda p: p.id)
def test_round_trip(pair: Pair, jobs, jobs_server, datasets, tmp_path):
    job = train(jobs, pair, datasets)
    ref = f"rt-{pair.id}:v1"
    folder = jobs_server.artifacts / "jobs" / str(job.id) / "artifacts" / "model"
    model = modelfile.load(folder)
    trainer_test = model.metrics["test"]

    evaluation = jobs.wait_job(jobs.evaluate_model(ref, f"rt-{pair.dataset}").id, timeout=300)
    assert evaluation.status.value == "succeeded", jobs.job_logs(evaluation.id)
    metric = agree(pair, trainer_test, jobs.get_model_version(ref).evaluations[-1]["metrics"])

    inputs = datasets[pair.dataset]
    expected = in_process(model, inputs)
    name = f"rt-{pair.id}"
    jobs.deploy(ref, name=name, replicas=1, cpu=0.5, memory="1Gi")
    try:
        assert jobs.wait_deployment(name, timeout=180).status == "ready", jobs.deployment_logs(name)
        served = jobs.predict(name, inputs=[wire(pair, x) for x in inputs])
        answer = httpx.post(
            f"{jobs_server.url}/api/v1/deployments/{name}/v2/models/{name}/infer",
            json=v2_body(pair, inputs, model),
            timeout=60,
            headers={"Authorization": f"Bearer {jobs.token}"},
        )
        assert answer.status_code == 200, answer.text
        outputs = {o["name"]: o["data"] for o in answer.json()["outputs"]}
    finally:
        jobs.delete_deployment(name)
    if model.regression:
        values = expected.reshape(-1).tolist()
        assert [p["value"] for p in served] == pytest.approx(values, rel=1e-4, abs=1e-4)
        assert outputs["value"] == pytest.approx(values, rel=1e-4, abs=1e-4)
    else:
        labels = [model.labels[i] for i in expected.argmax(1).tolist()]
        assert [p["label"] for p in served] == labels
        assert outputs["label"] == labels

    differences = {}
    for fmt in ("onnx", "torchscript"):
        result = export(folder, fmt, tmp_path / fmt)
        assert result.max_difference <= 1e-4, (fmt, result.max_difference)
        assert Path(result.file).is_file()
        differences[fmt] = result.max_difference
    report(pair, model, metric, len(inputs), differences)
