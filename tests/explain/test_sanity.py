"""Explanations checked against the truth, on data made with one known cause of its
label: models trained by `fermion train`, explained by a job (`fermion model explain`,
`POST /models/{name}/explain`), by a deployment's replicas, and globally by an
evaluation with `--importance`."""

from __future__ import annotations

import base64
import io
import json

import numpy as np
import pytest
from PIL import Image

from fermion.errors import InvalidInput
from tests.explain import made


def train(client, dataset: str, name: str, **options) -> str:
    started = client.train(dataset, name=name, memory="2Gi", **options)
    job = client.wait_job(started.job.id, timeout=300)
    assert job.status.value == "succeeded", client.job_logs(job.id)
    return f"{name}:v1"


@pytest.fixture(scope="module")
def tabular_model(server, tmp_path_factory):
    folder = tmp_path_factory.mktemp("x3")
    with server.client() as client:
        client.create_dataset(
            "explain-x3",
            "tabular-classification",
            made.write_csv(folder / "x3.csv", made.feature_three_rows()),
            label_column="label",
        )
        return train(client, "explain-x3", "explain-x3-mlp")


@pytest.fixture(scope="module")
def corner_model(server, tmp_path_factory):
    folder = made.corner_folder(tmp_path_factory.mktemp("corner") / "corner")
    with server.client() as client:
        client.create_dataset("explain-corner", "image-classification", folder)
        return train(client, "explain-corner", "explain-corner-cnn", epochs=10)


@pytest.fixture(scope="module")
def word_model(server, tmp_path_factory):
    folder = tmp_path_factory.mktemp("words")
    with server.client() as client:
        client.create_dataset(
            "explain-words",
            "text-classification",
            made.write_csv(folder / "words.csv", made.one_word_rows()),
        )
        return train(client, "explain-words", "explain-words-tf", epochs=8)


def square_image() -> bytes:
    buffer = io.BytesIO()
    made.corner_image(True, np.random.default_rng(99)).save(buffer, format="PNG")
    return buffer.getvalue()


def corner_share(attributions: list[list[float]]) -> float:
    """The share of the attribution's mass in the top-left quarter, where the square is."""
    grid = np.abs(np.asarray(attributions))
    half = grid.shape[0] // 2
    return float(grid[:half, :half].sum() / grid.sum())


def test_only_feature_three_carries_the_label(cli, tabular_model):
    result = cli(
        "model", "evaluate", tabular_model, "--dataset", "explain-x3", "--importance", "--json"
    )
    report = json.loads(result.stdout)["importance"]
    ranked = [f["name"] for f in report["features"]]
    assert ranked[0] == "x3", report
    first, rest = report["features"][0], report["features"][1:]
    assert first["importance"] > 0.3  # shuffling x3 costs the accuracy it had over chance
    assert all(f["importance"] < 0.05 for f in rest), report

    # One record, SHAP-style: x3 moves the answer; the others barely do.
    record = {"x0": 1.5, "x1": -1.0, "x2": 0.7, "x3": 1.8, "x4": -0.4, "x5": 0.9}
    result = cli("model", "explain", tabular_model, "--record", json.dumps(record), "--json")
    found = json.loads(result.stdout)
    assert found["target"] == "yes" and found["method"] == "shapley"
    assert found["features"][0]["name"] == "x3"
    assert found["features"][0]["attribution"] > 5 * abs(found["features"][1]["attribution"])
    assert found["check"]["error"] < 1e-4  # Shapley values add up to the change exactly


@pytest.mark.parametrize("method", ["integrated-gradients", "occlusion"])
def test_image_attributions_sit_on_the_square(client, corner_model, method):
    found = client.explain_model(corner_model, image=square_image(), method=method)
    assert found.target == "square" and found.score > 0.9
    assert len(found.attributions) == made.SIDE
    assert corner_share(found.attributions) > 0.5, found.attributions
    heat = Image.open(io.BytesIO(base64.b64decode(found.heatmap_png)))
    assert heat.size[0] >= 224  # drawn large enough to look at
    if method == "integrated-gradients":
        assert found.check.error < 0.01 * max(1.0, abs(found.check.expected))


def test_the_deciding_word_is_shaded_most(cli, word_model):
    text = "please send the notes to everyone urgent before lunch"
    result = cli("model", "explain", word_model, "--text", text, "--json")
    found = json.loads(result.stdout)
    assert found["target"] == "alarm"
    top = max(found["tokens"], key=lambda t: t["attribution"])
    assert top["token"] == made.DECIDING_WORD, found["tokens"]
    # The terminal shows the words, shaded.
    shown = cli("model", "explain", word_model, "--text", text).stdout
    assert made.DECIDING_WORD in shown and "integrated-gradients" in shown


def test_a_deployment_explains_as_the_job_does(client, cli, corner_model, tmp_path):
    from_job = client.explain_model(corner_model, image=square_image())
    client.deploy(corner_model, name="explain-corner")
    client.wait_deployment("explain-corner", timeout=180)
    from_replica = client.explain("explain-corner", image=square_image())
    assert from_replica.target == from_job.target
    np.testing.assert_allclose(from_replica.attributions, from_job.attributions, atol=1e-5)
    assert from_replica.seconds < 5

    # With a deployment serving the version, the model's own explain asks its replica:
    # no job is started.
    jobs_before = len(client.list_jobs().data)
    again = client.explain_model(corner_model, image=square_image())
    assert len(client.list_jobs().data) == jobs_before
    np.testing.assert_allclose(again.attributions, from_job.attributions, atol=1e-5)

    image = tmp_path / "square.png"
    image.write_bytes(square_image())
    out = tmp_path / "heat.png"
    cli("deployment", "explain", "explain-corner", "--input", image, "--out", out)
    assert Image.open(out).size[0] >= 224
    client.delete_deployment("explain-corner")


def test_bad_requests_are_refused_with_what_to_do(client, corner_model, tabular_model):
    with pytest.raises(InvalidInput, match="square, plain|plain, square"):
        client.explain_model(corner_model, image=square_image(), target="circle")
    with pytest.raises(InvalidInput, match="shapley does not explain image models"):
        client.explain_model(corner_model, image=square_image(), method="shapley")
    with pytest.raises(InvalidInput, match="could not explain: input: not a readable image"):
        client.explain_model(corner_model, image=b"not a png at all")
    with pytest.raises(InvalidInput, match="x3"):
        client.explain_model(tabular_model, record={"x0": 1.0})
