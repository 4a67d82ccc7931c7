"""One replica process, called over real HTTP: the simple API for each kind of model,
dynamic batching, the Open Inference Protocol through Triton's own client, metrics,
and bad input answered with a 4xx and a message."""

from __future__ import annotations

import base64
import struct
import zlib
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import tritonclient.http as triton
from tritonclient.utils import InferenceServerException

from tests import sources


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def png_declaring(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims width x height pixels: a decompression bomb."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + chunk(b"IEND", b"")
    )


def metric(text: str, name: str) -> float:
    return sum(
        float(line.split()[-1])
        for line in text.splitlines()
        if line.startswith(name) and not line.startswith("#")
    )


# -- the simple API -----------------------------------------------------------------
def test_images_as_base64_or_files_get_top_k_labels(image_replica):
    images = [sources.png_bytes(value=v) for v in (0, 128, 255)]
    answer = image_replica.post("/predict?top_k=2", json={"inputs": [b64(i) for i in images]})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["model"] == "digits-cnn"
    assert len(body["predictions"]) == 3
    for p in body["predictions"]:
        assert p["label"] in [str(i) for i in range(10)]
        assert len(p["top_k"]) == 2 and p["top_k"][0]["probability"] >= p["top_k"][1]["probability"]
    files = [("file", (f"{i}.png", data, "image/png")) for i, data in enumerate(images)]
    uploaded = image_replica.post("/predict?top_k=2", files=files).json()
    assert uploaded["predictions"] == body["predictions"]  # same images, same answers


def test_text_inputs(text_replica):
    body = text_replica.post("/predict", json={"inputs": ["great fun movie", "awful plot"]}).json()
    assert [sorted(t["label"] for t in p["top_k"]) for p in body["predictions"]] == [
        ["fresh", "rotten"],
        ["fresh", "rotten"],
    ]
    total = sum(t["probability"] for t in body["predictions"][0]["top_k"])
    assert total == pytest.approx(1.0, abs=1e-4)


def test_tabular_records_by_name_or_in_order(tabular_replica):
    record = {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}
    by_name = tabular_replica.post("/predict", json={"inputs": [record]}).json()
    in_order = tabular_replica.post("/predict", json={"inputs": [list(record.values())]}).json()
    assert by_name["predictions"] == in_order["predictions"]
    assert by_name["predictions"][0]["label"] in ("setosa", "versicolor", "virginica")


def test_concurrent_requests_share_forward_passes(image_replica):
    before = image_replica.get("/metrics").text
    body = {"inputs": [b64(sources.png_bytes())]}
    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(lambda _: image_replica.post("/predict", json=body), range(32)))
    assert all(a.status_code == 200 for a in answers)
    after = image_replica.get("/metrics").text
    passes = metric(after, "fermion_batch_size_count") - metric(before, "fermion_batch_size_count")
    inputs = metric(after, "fermion_batch_size_sum") - metric(before, "fermion_batch_size_sum")
    assert inputs == 32
    assert passes < 32, "requests that arrived together ran one by one"
    sizes = [int(a.headers["fermion-batch-size"]) for a in answers]
    assert max(sizes) > 1 and all(1 <= s <= 8 for s in sizes)  # --max-batch-size=8


def test_a_lone_request_is_not_held_back_by_the_batcher(image_replica):
    """The replica batches up to 50 ms (--max-batch-delay-ms=50); a request arriving
    alone runs at once: a batch of 1 that waited for nothing."""
    body = {"inputs": [b64(sources.png_bytes())]}
    for _ in range(5):
        answer = image_replica.post("/predict", json=body)
        assert answer.headers["fermion-batch-size"] == "1"
        assert float(answer.headers["fermion-batch-wait-ms"]) < 10, answer.headers


def test_metrics_count_requests_errors_latency_and_queue(image_replica):
    image_replica.post("/predict", json={"inputs": []})
    text = image_replica.get("/metrics").text
    for name in (
        "fermion_requests_total",
        "fermion_request_errors_total",
        "fermion_request_latency_seconds_bucket",
        "fermion_batch_size_bucket",
        "fermion_queue_depth",
    ):
        assert name in text
    assert metric(text, 'fermion_request_errors_total{route="predict"}') >= 1


def test_health_and_readiness(image_replica):
    assert image_replica.get("/healthz").json() == {"status": "ok"}
    assert image_replica.get("/readyz").json()["status"] == "ready"


# -- bad input ------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"inputs": []}, "empty"),
        ({"inputs": ["bm90IGFuIGltYWdl"]}, "not a readable image"),  # base64 of "not an image"
        ({"inputs": ["%%%"]}, "not base64"),
        ({"inputs": [b64(png_declaring(60_000, 60_000))]}, "pixels"),
        ({"inputs": [b64(png_declaring(8_000, 8_000))]}, "over the limit"),
        ({"inputs": [b64(sources.png_bytes()[:40])]}, "image"),  # truncated
        ({"instances": []}, '"inputs"'),
    ],
)
def test_bad_images_are_refused_with_a_reason(image_replica, body, message):
    answer = image_replica.post("/predict", json=body)
    assert answer.status_code == 400, answer.text
    assert message in answer.json()["message"]


def test_bad_records_are_refused(tabular_replica):
    for inputs, message in (
        ([[1.0, 2.0]], "4 numbers"),
        ([{"sepal_length": 1}], "petal_width"),
        ([[1, 2, 3, "x"]], "finite number"),
    ):
        answer = tabular_replica.post("/predict", json={"inputs": inputs})
        assert answer.status_code == 400 and message in answer.json()["message"], answer.text


def test_not_json_and_too_large_are_refused(image_replica):
    answer = image_replica.post("/predict", content=b"{not json")
    assert answer.status_code == 400 and "not JSON" in answer.json()["message"]
    big = b'{"inputs": ["' + b"A" * (50 * 2**20) + b'"]}'
    answer = image_replica.post("/predict", content=big)
    assert answer.status_code == 413 and "limit" in answer.json()["message"]


# -- the Open Inference Protocol, with Triton's client --------------------------------
@pytest.fixture()
def triton_client(image_replica):
    client = triton.InferenceServerClient(image_replica.url.removeprefix("http://"))
    yield client
    client.close()


def test_v2_health_and_metadata(triton_client):
    assert triton_client.is_server_live() and triton_client.is_server_ready()
    assert triton_client.is_model_ready("digits")
    metadata = triton_client.get_model_metadata("digits")
    assert {o["name"] for o in metadata["outputs"]} == {"probabilities", "label"}
    assert metadata["parameters"]["labels"] == [str(i) for i in range(10)]


@pytest.mark.parametrize("binary", [True, False])
def test_v2_infer_with_encoded_images_and_tensors(triton_client, binary):
    images = np.array([sources.png_bytes(value=v) for v in (0, 255)], dtype=np.object_)
    if not binary:
        images = np.array([b64(i) for i in images], dtype=np.object_)
    encoded = triton.InferInput("input", [2], "BYTES")
    encoded.set_data_from_numpy(images, binary_data=binary)
    result = triton_client.infer("digits", [encoded])
    probabilities = result.as_numpy("probabilities")
    assert probabilities.shape == (2, 10)
    assert np.allclose(probabilities.sum(1), 1.0, atol=1e-4)
    labels = [x.decode() if isinstance(x, bytes) else x for x in result.as_numpy("label")]
    assert labels == [str(i) for i in probabilities.argmax(1)]

    tensor = triton.InferInput("input", [3, 3, 8, 8], "FP32")
    tensor.set_data_from_numpy(np.zeros((3, 3, 8, 8), np.float32), binary_data=binary)
    wanted = [
        triton.InferRequestedOutput("probabilities", binary_data=binary),
        triton.InferRequestedOutput("label", binary_data=binary),
    ]
    answer = triton_client.infer("digits", [tensor], outputs=wanted)
    probabilities = answer.as_numpy("probabilities")
    assert probabilities.shape == (3, 10)
    labels = [x.decode() if isinstance(x, bytes) else x for x in answer.as_numpy("label")]
    assert labels == [str(i) for i in probabilities.argmax(1)]
    # Outputs asked for as binary come back as raw bytes after the JSON, not as lists.
    described = {o["name"]: o for o in answer.get_response()["outputs"]}
    for name, size in (("probabilities", 3 * 10 * 4), ("label", 3 * (4 + 1))):
        if binary:
            assert described[name]["parameters"] == {"binary_data_size": size}
            assert "data" not in described[name]
        else:
            assert "data" in described[name]


def test_v2_refuses_a_wrong_datatype_shape_or_model(triton_client):
    wrong_type = triton.InferInput("input", [1, 4], "INT64")
    wrong_type.set_data_from_numpy(np.zeros((1, 4), np.int64))
    with pytest.raises(InferenceServerException, match="datatype INT64") as caught:
        triton_client.infer("digits", [wrong_type])
    assert caught.value.status() == "400"
    wrong_shape = triton.InferInput("input", [1, 3, 4, 4], "FP32")
    wrong_shape.set_data_from_numpy(np.zeros((1, 3, 4, 4), np.float32))
    with pytest.raises(InferenceServerException, match=r"shape \[3, 4, 4\]"):
        triton_client.infer("digits", [wrong_shape])
    with pytest.raises(InferenceServerException, match="not served here"):
        triton_client.get_model_metadata("no-such-model")
