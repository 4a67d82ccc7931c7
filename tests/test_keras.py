"""Keras in Fermion (`fermion[tensorflow]`): a `fermion job run --nproc 2` job whose two
workers train in step under MultiWorkerMirroredStrategy, its metrics live, its model
registered, deployed and answering over REST and V2; and a Keras 3 model of tabular
data, saved and served with its own softmax kept.

TensorFlow runs only in child processes: loaded into the test process, it would stay
for every later test (and Triton's library, loaded after it, crashes a process)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from typer.testing import CliRunner

from fermion.cli.main import app
from fermion.errors import InvalidInput
from fermion.modelfile import read_manifest
from tests import sources

EXAMPLE = Path(__file__).parents[1] / "examples" / "train_keras.py"
pytestmark = pytest.mark.timeout(600)


def wait_for_live_loss(client, job_id: int, timeout: float = 240) -> int:
    """How many `train/loss` points had arrived while the job was still running."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = client.get_job(job_id).status.value
        points = client.job_metrics(job_id).series.get("train/loss", [])
        if status != "running" and status not in ("queued", "starting"):
            return 0
        if points:
            return len(points)
        time.sleep(0.5)
    raise AssertionError(f"job {job_id} reported no loss in {timeout}s")


def test_a_two_worker_keras_job_reports_live_and_its_model_serves(
    jobs_server, digits_dir, tmp_path
):
    with jobs_server.client() as client:
        client.create_dataset("keras-digits", "image-classification", digits_dir)
    shutil.copy(EXAMPLE, tmp_path)
    submitted = CliRunner().invoke(
        app,
        ["job", "run", "--nproc", "2", "--workdir", str(tmp_path), "--",
         "python", "train_keras.py", "--dataset", "keras-digits", "--name", "keras-digits",
         "--epochs", "8"],
        env=jobs_server.env,
    )  # fmt: skip
    assert submitted.exit_code == 0, submitted.output
    with jobs_server.client() as client:
        job = client.list_jobs().data[0]
        assert wait_for_live_loss(client, job.id) > 0, client.job_logs(job.id)
        job = client.wait_job(job.id, timeout=300)
        logs = client.job_logs(job.id)
        assert job.status.value == "succeeded", logs
        series = client.job_metrics(job.id).series
        version = client.get_model_version("keras-digits")

    # Two workers, one strategy: each says so, and the chief alone reports.
    assert "[rank0]: worker 0 of 2 in sync" in logs and "[rank1]: worker 1 of 2 in sync" in logs
    assert [p.step for p in series["val/accuracy"]] == sorted(
        {p.step for p in series["val/accuracy"]}
    )
    assert len(series["val/accuracy"]) == 8 and series["val/accuracy"][-1].value > 0.9
    losses = [p.value for p in series["train/loss"]]
    assert losses[-1] < losses[0] and max(losses) < 3  # per step, not summed over workers
    events = EventAccumulator(
        str(jobs_server.artifacts / "jobs" / str(job.id) / "tensorboard"),
        size_guidance={"scalars": 0},
    )
    events.Reload()  # the same numbers in TensorBoard's event files
    assert [e.value for e in events.Scalars("val/accuracy")] == pytest.approx(
        [p.value for p in series["val/accuracy"]]
    )

    assert version.job_id == job.id and version.dataset == "keras-digits:v1"
    assert version.config["framework"] == "keras" and version.config["keras_package"] == "tf_keras"
    assert version.metrics["test"]["accuracy"] >= 0.9
    assert len(version.metrics["test"]["confusion_matrix"]) == 10

    with jobs_server.client() as client:
        for refused in (
            lambda: client.evaluate_model("keras-digits:v1", "keras-digits"),
            lambda: client.export_model("keras-digits:v1"),
            lambda: client.deploy("keras-digits", name="keras-onnx", runtime="onnx"),
        ):
            with pytest.raises(InvalidInput, match="Keras model"):
                refused()
        deployment = client.deploy("keras-digits", name="keras-digits", cpu=1, memory="2Gi")
        assert deployment.runtime == "keras"
        try:
            ready = client.wait_deployment("keras-digits", timeout=240)
            assert ready.status == "ready", client.deployment_logs("keras-digits")
            images = [next((digits_dir / str(d)).glob("*.png")) for d in range(10)]
            answers = client.predict("keras-digits", image=images, top_k=10)
            auth = {"Authorization": f"Bearer {client.token}"}
            v2 = f"{jobs_server.url}/api/v1/deployments/keras-digits/v2/models/keras-digits"
            metadata = httpx.get(v2, headers=auth, timeout=30).json()
            pixels = np.random.default_rng(0).normal(size=(2, 3, 8, 8)).astype(np.float32)
            tensor = {"name": "input", "datatype": "FP32", "shape": [2, 3, 8, 8],
                      "data": pixels.reshape(-1).tolist()}  # fmt: skip
            inferred = httpx.post(
                f"{v2}/infer", json={"inputs": [tensor]}, headers=auth, timeout=30
            )
        finally:
            client.delete_deployment("keras-digits")
    right = sum(a["label"] == str(d) for d, a in enumerate(answers))
    assert right >= 9, answers
    assert all(abs(sum(t["probability"] for t in a["top_k"]) - 1) < 1e-3 for a in answers)
    assert metadata["platform"] == "keras"
    assert inferred.status_code == 200, inferred.text
    outputs = {o["name"]: o for o in inferred.json()["outputs"]}
    assert outputs["probabilities"]["shape"] == [2, 10] and len(outputs["label"]["data"]) == 2


KERAS3_SCRIPT = """
import json, os, sys
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"
import keras
import numpy as np
import fermion as fm
from fermion.errors import InvalidInput
from fermion.serving.runtimes import load_runtime

keras.utils.set_random_seed(0)
rows = fm.Dataset.from_local(sys.argv[1])
data = rows.to_tf(batch_size=16, shuffle=True)
x, y = next(iter(rows.to_tf()))
torch_x, torch_y = rows[0]
model = keras.Sequential([keras.Input((4,)), keras.layers.Normalization(),
                          keras.layers.Dense(16, activation="relu"),
                          keras.layers.Dense(rows.num_classes, activation="softmax")])
model.layers[0].adapt(np.stack([r.numpy() for r, _ in [rows[i] for i in range(len(rows))]]))
model.compile(keras.optimizers.Adam(0.01), "sparse_categorical_crossentropy", metrics=["accuracy"])
model.fit(data, epochs=40, verbose=0, callbacks=[fm.keras.MetricsCallback()])
folder = fm.keras.save_model(model, rows)

served = load_runtime(folder, "torch")
record = dict(zip(rows.info.spec["feature_columns"], torch_x.tolist()))
probabilities = served.run([served.prepare(record, "a record")])[0]
try:
    load_runtime(folder, "onnx")
    refused = ""
except InvalidInput as exc:
    refused = str(exc)
print(json.dumps({
    "to_tf_matches": bool(np.allclose(x.numpy(), torch_x.numpy()) and int(y) == torch_y),
    "served": probabilities.tolist(),
    "direct": model.predict(np.array([torch_x.numpy()]), verbose=0)[0].tolist(),
    "runtime": type(served).__name__,
    "refused": refused,
    "folder": str(folder),
}))
"""


def test_a_keras_3_model_of_records_is_saved_and_served_with_its_own_softmax(
    server, client, tmp_path
):
    source = sources.write_rows(tmp_path / "iris.csv", sources.iris_rows())
    client.create_dataset("keras-iris", "tabular-classification", source, label_column="species")
    script = tmp_path / "keras3.py"
    script.write_text(KERAS3_SCRIPT)
    done = subprocess.run(
        [sys.executable, str(script), "keras-iris"],
        cwd=tmp_path,
        env={**__import__("os").environ, **server.env, "KERAS_BACKEND": "tensorflow"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert found["to_tf_matches"]
    assert found["runtime"] == "KerasRuntime"
    assert "Keras model" in found["refused"]
    # The model ends in a softmax: served probabilities are its own, not softmaxed again.
    assert found["served"] == pytest.approx(found["direct"], abs=1e-5)

    manifest = read_manifest(Path(found["folder"]))
    assert manifest.spec.keras and manifest.spec.keras_package == "keras"
    assert manifest.spec.keras_outputs == "probabilities"
    assert manifest.preprocessing.kind == "tabular" and len(manifest.labels) == 3
    assert manifest.metrics["test"]["accuracy"] >= 0.8
