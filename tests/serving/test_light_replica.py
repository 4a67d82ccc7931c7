"""Light replicas (`--runtime onnx`): the model's ONNX graph in ONNX Runtime, with NumPy
preprocessing (and for text, Fermion's word tokenizer or the `tokenizers` library). They
answer as the PyTorch replica of the same folder does, over the simple API and V2, and
their process holds no torch."""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import tritonclient.http as triton
from PIL import Image

from fermion.modelfile import importing
from tests import sources
from tests.serving import folders
from tests.serving.conftest import RunningReplica, start_replica
from tests.training.test_bert import tiny_bert


def gradient_png(width: int, height: int) -> bytes:
    pixels = np.add.outer(np.arange(height) * 7, np.arange(width) * 11) % 256
    buffer = io.BytesIO()
    Image.fromarray(pixels.astype(np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


# At the model's size (8x8), and larger: resized as torchvision does (torch), by Pillow (onnx).
IMAGES = [sources.png_bytes(value=90), gradient_png(8, 8), gradient_png(24, 20)]
RECORDS = [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3], [5.9, 3.0, 4.2, 1.5]]
# Words the vocabularies know and do not, a batch of lengths, one past the model's length.
TEXTS = ["great movie", "awful, BORING plot!", "fun", " ".join(["great fun plot"] * 20)]


def runtimes(root: Path, make_folder, name: str) -> Iterator[dict[str, RunningReplica]]:
    folder = make_folder(root / name)
    env = {"FERMION_HOME": str(root / "home")}  # the exported graph is cached under it
    started = {}
    try:
        for runtime in ("torch", "onnx"):
            log = root / f"{name}-{runtime}.log"
            started[runtime] = start_replica(folder, log, f"--runtime={runtime}", env=env)
        yield started
    finally:
        for replica in started.values():
            replica.process.terminate()
            replica.process.wait(timeout=30)


@pytest.fixture(scope="module")
def image_pair(tmp_path_factory) -> Iterator[dict[str, RunningReplica]]:
    yield from runtimes(tmp_path_factory.mktemp("light-image"), folders.image_model, "digits")


@pytest.fixture(scope="module")
def tabular_pair(tmp_path_factory) -> Iterator[dict[str, RunningReplica]]:
    yield from runtimes(tmp_path_factory.mktemp("light-table"), folders.tabular_model, "iris")


@pytest.fixture(scope="module")
def text_pair(tmp_path_factory) -> Iterator[dict[str, RunningReplica]]:
    yield from runtimes(tmp_path_factory.mktemp("light-text"), folders.text_model, "reviews")


def bert_folder(folder: Path) -> Path:
    """A tiny BERT made here, imported as a model folder (its fast tokenizer inside)."""
    source = tiny_bert(folder.with_name("tiny-bert"), [*TEXTS, "movie"])
    return importing.text_model(Path(source), folder, max_len=24)


@pytest.fixture(scope="module")
def bert_pair(tmp_path_factory) -> Iterator[dict[str, RunningReplica]]:
    yield from runtimes(tmp_path_factory.mktemp("light-bert"), bert_folder, "bert")


def probabilities(replica: RunningReplica, inputs: list) -> np.ndarray:
    answer = replica.post("/predict?top_k=10", json={"inputs": inputs})
    assert answer.status_code == 200, answer.text
    rows = []
    for prediction in answer.json()["predictions"]:
        by_label = {t["label"]: t["probability"] for t in prediction["top_k"]}
        rows.append([by_label[label] for label in sorted(by_label)])
    return np.asarray(rows)


def test_images_answer_as_with_pytorch(image_pair):
    inputs = [base64.b64encode(image).decode() for image in IMAGES]
    torch_side, onnx_side = (probabilities(image_pair[r], inputs) for r in ("torch", "onnx"))
    assert np.abs(torch_side - onnx_side).max() < 1e-3
    assert (torch_side.argmax(1) == onnx_side.argmax(1)).all()


def test_records_answer_as_with_pytorch(tabular_pair):
    torch_side, onnx_side = (probabilities(tabular_pair[r], RECORDS) for r in ("torch", "onnx"))
    assert np.abs(torch_side - onnx_side).max() < 1e-4


def test_v2_tensors_and_metadata(image_pair):
    answers = {}
    for runtime, replica in image_pair.items():
        client = triton.InferenceServerClient(replica.url.removeprefix("http://"))
        tensor = triton.InferInput("input", [2, 3, 8, 8], "FP32")
        tensor.set_data_from_numpy(np.linspace(-1, 1, 384, dtype=np.float32).reshape(2, 3, 8, 8))
        answers[runtime] = client.infer("digits", [tensor]).as_numpy("probabilities")
        platform = client.get_model_metadata("digits")["platform"]
        assert platform == {"torch": "pytorch", "onnx": "onnxruntime_onnx"}[runtime]
        client.close()
    assert np.abs(answers["torch"] - answers["onnx"]).max() < 1e-4


def test_bad_input_is_refused_alike(image_pair):
    for replica in image_pair.values():
        answer = replica.post("/predict", json={"inputs": ["not base64!"]})
        assert answer.status_code == 400 and "inputs[0]: not base64" in answer.json()["message"]


def test_a_light_replica_holds_no_torch(image_pair, tabular_pair):
    for pair in (image_pair, tabular_pair):
        light = Path(f"/proc/{pair['onnx'].process.pid}/maps").read_text()
        full = Path(f"/proc/{pair['torch'].process.pid}/maps").read_text()
        assert "libtorch" in full and "libtorch" not in light
        assert "onnxruntime" in light
        # A network of Fermion's own needs no torchvision, even with PyTorch: its images
        # are resized and normalised with torch alone (image_tensors.py).
        assert "torchvision" not in full


def test_the_graph_is_exported_once_per_model(image_pair, tmp_path):
    """A second light replica of the same folder finds the graph the first exported."""
    replica = image_pair["onnx"]
    home = replica.log.parent / "home"
    graphs = list((home / "cache" / "onnx").glob("*/model.onnx"))
    assert len(graphs) == 1
    folder = replica.log.parent / "digits"
    again = start_replica(
        folder, tmp_path / "again.log", "--runtime=onnx", env={"FERMION_HOME": str(home)}
    )
    try:
        assert list((home / "cache" / "onnx").glob("*/model.onnx")) == graphs
        assert again.post("/predict", json={"inputs": [base64.b64encode(IMAGES[0]).decode()]})
    finally:
        again.process.terminate()
        again.process.wait(timeout=30)


@pytest.mark.parametrize("pair", ["text_pair", "bert_pair"])
def test_texts_answer_as_with_pytorch(request, pair):
    replicas = request.getfixturevalue(pair)
    torch_side, onnx_side = (probabilities(replicas[r], TEXTS) for r in ("torch", "onnx"))
    assert np.abs(torch_side - onnx_side).max() < 1e-4
    light = Path(f"/proc/{replicas['onnx'].process.pid}/maps").read_text()
    assert "libtorch" not in light and "onnxruntime" in light
    for replica in replicas.values():  # one strings input over V2, as from tritonclient
        client = triton.InferenceServerClient(replica.url.removeprefix("http://"))
        tensor = triton.InferInput("input", [2], "BYTES")
        tensor.set_data_from_numpy(np.array([t.encode() for t in TEXTS[:2]], dtype=np.object_))
        name = {"text_pair": "reviews", "bert_pair": "bert"}[pair]
        assert client.infer(name, [tensor]).as_numpy("probabilities").shape[0] == 2
        client.close()


def test_a_tokenizer_without_its_fast_file_is_refused_with_the_reason(tmp_path):
    folder = bert_folder(tmp_path / "bert")
    (folder / "tokenizer" / "tokenizer.json").unlink()
    with pytest.raises(AssertionError, match="deploy it with --runtime torch") as caught:
        start_replica(
            folder, tmp_path / "log", "--runtime=onnx", env={"FERMION_HOME": str(tmp_path)}
        )
    assert "has no tokenizer.json" in str(caught.value)


def test_explanations_need_the_torch_runtime(tabular_pair):
    """A graph in ONNX Runtime has no gradients: a light replica says where to explain;
    the PyTorch replica of the same folder explains, its Shapley values adding up."""
    record = dict(zip(folders.IRIS_COLUMNS, RECORDS[1], strict=True))
    refused = tabular_pair["onnx"].post("/explain", json={"input": record})
    assert refused.status_code == 400
    assert "--runtime torch" in refused.json()["message"]
    answer = tabular_pair["torch"].post("/explain", json={"input": record})
    assert answer.status_code == 200, answer.text
    found = answer.json()
    assert {f["name"] for f in found["features"]} == set(folders.IRIS_COLUMNS)
    assert found["check"]["error"] < 1e-4
    bad = tabular_pair["torch"].post("/explain", json={"input": record, "method": "occlusion"})
    assert bad.status_code == 400 and "use shapley or integrated-gradients" in bad.json()["message"]
