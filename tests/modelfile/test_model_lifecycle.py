"""The registry beyond list/show, through the CLI: evaluate a trained model on a dataset
split (a job), export it (checked against PyTorch), import models trained elsewhere and
serve them, delete versions."""

from __future__ import annotations

import json
import warnings

import onnxruntime
import pytest
import torch
import torchvision
from typer.testing import CliRunner

from tests import sources
from tests.conftest import Cli
from tests.serving.conftest import remove
from tests.training.test_bert import tiny_bert
from tests.training.test_train import trained

IRIS = {"sepal_length": 6.7, "sepal_width": 3.0, "petal_length": 5.2, "petal_width": 2.3}


@pytest.fixture(scope="module")
def iris_model(jobs_server, tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("iris") / "iris.csv"
    with jobs_server.client() as client:
        client.create_dataset(
            "reg-iris",
            "tabular-classification",
            sources.write_rows(path, sources.iris_rows()),
            label_column="species",
        )
        trained(client, "reg-iris", name="iris-mlp", epochs=40, memory="2Gi")
        return client.get_model_version("iris-mlp").ref


@pytest.fixture()
def cli(jobs_server) -> Cli:
    return Cli(jobs_server, CliRunner())


def test_evaluate_records_the_result_with_the_model(cli, jobs, iris_model):
    result = cli("model", "evaluate", iris_model, "--dataset", "reg-iris", "--split", "validation")
    assert "accuracy" in result.output and "Job" in result.output
    version = jobs.get_model_version(iris_model)
    evaluation = version.evaluations[-1]
    assert (evaluation["dataset"], evaluation["split"]) == ("reg-iris:v1", "validation")
    assert evaluation["metrics"]["accuracy"] > 0.8  # chance 0.33
    assert evaluation["metrics"]["records"] == sum(
        jobs.get_dataset_version("reg-iris").split_counts[s] for s in ["validation"]
    )
    assert len(evaluation["metrics"]["confusion_matrix"]) == 3
    assert "Evaluations" in cli("model", "show", iris_model).output

    wrong = cli(
        "model", "evaluate", iris_model, "--dataset", "reg-iris", "--split", "nope", ok=False
    )
    assert wrong.exit_code == 1 and "no records in split 'nope'" in wrong.output


def test_a_trained_tabular_model_serves_records(jobs, iris_model):
    jobs.deploy(iris_model, name="iris", cpu=1, memory="2Gi")
    assert jobs.wait_deployment("iris", timeout=120).status == "ready"
    prediction = jobs.predict("iris", record=IRIS)[0]
    assert prediction["label"] == "virginica"  # a textbook virginica
    assert jobs.predict("iris", record=[list(IRIS.values())])[0] == prediction
    remove(jobs, "iris")


@pytest.mark.parametrize("fmt", ["onnx", "torchscript"])
def test_export_runs_outside_fermion(cli, iris_model, tmp_path, fmt):
    out = tmp_path / fmt
    result = cli("model", "export", iris_model, "--format", fmt, "-o", out)
    assert "outputs match PyTorch" in result.output
    labels = json.loads((out / "labels.json").read_text())
    features = torch.tensor([list(IRIS.values())], dtype=torch.float32)
    if fmt == "onnx":
        session = onnxruntime.InferenceSession(str(out / "model.onnx"))
        logits = session.run(None, {"input": features.numpy()})[0]
    else:
        with warnings.catch_warnings():  # TorchScript is deprecated, still loadable
            warnings.simplefilter("ignore", FutureWarning)
            logits = torch.jit.load(str(out / "model.pt"))(features).detach().numpy()
    assert labels[int(logits.argmax())] == "virginica"


def test_import_a_torchvision_state_dict_and_serve_it(cli, jobs, tmp_path):
    source = tmp_path / "resnet"
    source.mkdir()
    torch.manual_seed(0)
    network = torchvision.models.resnet18(num_classes=3)
    torch.save(network.state_dict(), source / "model.pth")
    (source / "labels.txt").write_text("cat\ndog\nbird\n")
    cli(
        "model",
        "import",
        "--name",
        "pets",
        "--type",
        "image-classification",
        "--path",
        source,
        "--model",
        "resnet18",
        "--image-size",
        "64",
    )
    version = jobs.get_model_version("pets")
    assert version.config["model"] == "resnet18"
    assert version.config["imported_from"] == str(source.resolve())
    assert jobs.get_job(version.job_id).kind == "import"  # converted in a job, not here
    jobs.deploy("pets", name="pets", cpu=1, memory="2Gi")
    assert jobs.wait_deployment("pets", timeout=120).status == "ready"
    image = sources.png_bytes(size=(90, 70))
    served = jobs.predict("pets", image=image, top_k=3)[0]
    # The same answer as the original network gives the same preprocessed image.
    from PIL import Image
    from torchvision.transforms import v2

    pixels = v2.functional.pil_to_tensor(Image.open(__import__("io").BytesIO(image)).convert("RGB"))
    x = v2.Compose(
        [
            v2.Resize([64, 64], antialias=True),
            v2.ToDtype(torch.float32, scale=True),
            v2.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225]),
        ]
    )(pixels)
    with torch.inference_mode():
        expected = torch.softmax(network.eval()(x[None]), 1)[0]
    assert served["label"] == ["cat", "dog", "bird"][int(expected.argmax())]
    assert served["probability"] == pytest.approx(float(expected.max()), abs=1e-4)
    remove(jobs, "pets")


def test_import_refuses_weights_that_do_not_fit(cli, tmp_path):
    source = tmp_path / "wrong"
    source.mkdir()
    torch.save(torchvision.models.resnet18(num_classes=5).state_dict(), source / "model.pth")
    (source / "labels.json").write_text('["a", "b", "c"]')
    result = cli(
        "model",
        "import",
        "--name",
        "wrong",
        "--type",
        "image-classification",
        "--path",
        source,
        "--model",
        "resnet18",
        ok=False,
    )
    assert result.exit_code == 1 and "does not fit resnet18 with 3 classes" in result.output


def test_import_a_hugging_face_text_model_and_serve_it(cli, jobs, tmp_path):
    path = tiny_bert(tmp_path / "bert", ["a great film", "a dull film"])
    config = json.loads((tmp_path / "bert" / "config.json").read_text())
    config["id2label"] = {"0": "negative", "1": "positive"}
    (tmp_path / "bert" / "config.json").write_text(json.dumps(config))
    cli("model", "import", "--name", "sentiment", "--type", "text-classification", "--path", path)
    assert jobs.get_model_version("sentiment").type.value == "text-classification"
    jobs.deploy("sentiment", name="sentiment", cpu=1, memory="2Gi")
    assert jobs.wait_deployment("sentiment", timeout=120).status == "ready"
    result = cli("predict", "sentiment", "--text", "a great film", "--text", "a dull film")
    assert result.output.count("positive") + result.output.count("negative") >= 2
    answers = jobs.predict("sentiment", text=["a great film", "a dull film"])
    assert {a["label"] for a in answers} <= {"negative", "positive"}
    remove(jobs, "sentiment")


def test_delete_a_version_then_the_model(cli, jobs, tmp_path):
    from tests.serving import folders

    for seed in (1, 2):
        jobs.import_model("throwaway", folders.tabular_model(tmp_path / f"m{seed}", seed=seed))
    assert "throwaway:v1" in cli("model", "delete", "throwaway:v1", "--yes").output
    assert [v.version for v in jobs.get_model("throwaway").versions] == [2]
    cli("model", "delete", "throwaway", "--yes")
    missing = cli("model", "show", "throwaway", ok=False)
    assert missing.exit_code == 1 and "not found" in missing.output
