"""Sound, the way a new user meets it: spoken digits made here with espeak-ng (three
voices, ten words), then from the CLI with every default: dataset (bad files reported)
-> train -> evaluate -> deploy -> predict (JSON, multipart, V2) -> export; and the
dashboard plays the samples, shows their spectrograms and predicts an uploaded file."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
from pathlib import Path

import httpx
import pytest
import torch

from tests import sources
from tests.dashboard.conftest import Visit

pytestmark = pytest.mark.slow

MODEL = "said-audio-cnn:v1"


@pytest.fixture(scope="module")
def spoken(tmp_path_factory) -> Path:
    """300 clips, plus two files that are not sound: a damaged WAV and a text file."""
    root = sources.spoken_digits(tmp_path_factory.mktemp("speech") / "digits", per_voice=10)
    good = (root / "seven" / "en-us-0.wav").read_bytes()
    (root / "seven" / "cut-short.wav").write_bytes(good[:30])
    (root / "four" / "notes.txt").write_text("not a recording")
    return root


@pytest.fixture(scope="module")
def trained(dashboard_cli, spoken) -> dict:
    refused = dashboard_cli(
        "dataset", "create", "--name", "said", "--type", "audio-classification",
        "--source", spoken, ok=False,
    )  # fmt: skip
    assert refused.exit_code != 0
    assert "seven/cut-short.wav: not a readable audio file" in refused.output
    assert "four/notes.txt: not an audio file" in refused.output
    created = dashboard_cli(
        "dataset", "create", "--name", "said", "--type", "audio-classification",
        "--source", spoken, "--skip-invalid",
    )  # fmt: skip
    assert "300 records" in created.output
    shown = dashboard_cli("dataset", "show", "said")
    assert "mostly 22050 Hz" in shown.output and "skipped" in shown.output

    trained = dashboard_cli("train", "--dataset", "said", "--follow")
    assert f"registered model {MODEL}" in trained.output
    return json.loads(dashboard_cli("model", "show", MODEL, "--json").stdout)


@pytest.fixture(scope="module")
def deployed(dashboard_cli, trained) -> str:
    shown = dashboard_cli("deploy", MODEL, "--name", "said", "--cpu", "0.5", "--memory", "1Gi")
    assert "ready" in shown.output and "--audio PATH" in shown.output
    return "said"


def speak(path: Path, word: str, voice: str = "en-us+m3", speed: int = 150) -> Path:
    espeak = shutil.which("espeak-ng")
    subprocess.run([espeak, "-v", voice, "-s", str(speed), "-w", str(path), word], check=True)
    return path


def test_spoken_digits_from_the_cli(dashboard_cli, trained, deployed, dashboard_server, tmp_path):
    test = trained["metrics"]["test"]
    assert test["accuracy"] >= 0.9, test  # chance is 0.1
    evaluation = json.loads(
        dashboard_cli("model", "evaluate", MODEL, "--dataset", "said", "--json").stdout
    )
    assert abs(evaluation["metrics"]["accuracy"] - test["accuracy"]) <= 0.005
    assert len(evaluation["metrics"]["confusion_matrix"]) == 10

    four, nine = speak(tmp_path / "four.wav", "four"), speak(tmp_path / "nine.wav", "nine")
    answer = json.loads(
        dashboard_cli("predict", "said", "--audio", four, "--audio", nine, "--raw").stdout
    )
    assert [p["label"] for p in answer] == ["four", "nine"]

    url = f"{dashboard_server.url}/api/v1/deployments/said"
    auth = {"Authorization": f"Bearer {dashboard_server.token}"}
    with four.open("rb") as f:
        uploaded = httpx.post(f"{url}/predict", files={"file": f}, headers=auth, timeout=30)
    assert uploaded.json()["predictions"][0]["label"] == "four"
    encoded = base64.b64encode(nine.read_bytes()).decode()
    v2 = {"inputs": [{"name": "input", "datatype": "BYTES", "shape": [1], "data": [encoded]}]}
    inferred = httpx.post(f"{url}/v2/models/said/infer", json=v2, headers=auth, timeout=30)
    outputs = {o["name"]: o for o in inferred.json()["outputs"]}
    assert outputs["label"]["data"] == ["nine"] and outputs["probabilities"]["shape"] == [1, 10]
    metadata = httpx.get(f"{url}/v2/models/said", headers=auth, timeout=30).json()
    assert metadata["parameters"]["dataset_type"] == "audio-classification"

    garbage = {"inputs": [base64.b64encode(b"RIFF but no sound").decode()]}
    refused = httpx.post(f"{url}/predict", json=garbage, headers=auth, timeout=30)
    assert refused.status_code == 400
    assert "inputs[0]: not a readable audio file" in refused.json()["message"]

    exported = dashboard_cli(
        "model", "export", MODEL, "--format", "onnx", "--output", tmp_path / "x", "--json"
    )
    assert json.loads(exported.stdout)["max_difference"] <= 1e-4


def test_the_sdk_gives_clips_of_one_length_at_the_rate_asked(trained, dashboard_server):
    import fermion as fm

    with dashboard_server.client() as client:
        test = fm.Dataset.from_local("said", split="test", client=client)
        resampled = fm.Dataset.from_local(
            "said", split="test", sample_rate=8000, clip_seconds=0.5, client=client
        )
    assert len(test) == 30 and test.num_classes == 10
    samples, label = test[0]
    assert samples.dtype == torch.float32 and samples.ndim == 1
    assert len(samples) % 1600 == 0  # 16 kHz, in tenths of a second
    assert resampled[0][0].shape == (4000,) and resampled[0][1] == label
    batch, labels = next(iter(fm.DataLoader(test, batch_size=8)))
    assert batch.shape == (8, len(samples)) and labels.shape == (8,)


def test_the_dashboard_plays_samples_and_predicts_an_upload(visit: Visit, deployed, tmp_path):
    page = visit.sign_in()
    page.goto(f"{visit.server.url}/#/datasets/said")
    page.wait_for_selector("#sample-sounds img")
    visit.wait_until(
        "[...document.querySelectorAll('#sample-sounds img')]"
        ".every(i => i.complete && i.naturalWidth > 100)"
    )
    assert len(set(page.locator("#sample-sounds figcaption").all_inner_texts())) == 10
    # The players hold the stored recordings: the browser decodes one and knows its length.
    page.evaluate("document.querySelector('#sample-sounds audio').load()")
    visit.wait_until("document.querySelector('#sample-sounds audio').readyState >= 1")
    seconds = page.evaluate("document.querySelector('#sample-sounds audio').duration")
    assert 0.3 < seconds < 2.0
    visit.shot("audio-dataset")

    page.goto(f"{visit.server.url}/#/models/said-audio-cnn")
    page.wait_for_selector("text=Confusion matrix")
    visit.shot("audio-model")

    page.goto(f"{visit.server.url}/#/deployments/said")
    page.wait_for_selector("#replicas-table [data-state=ready]", timeout=120_000)
    page.set_input_files("#try-image", str(speak(tmp_path / "six.wav", "six")))
    page.click("#try-form button[type=submit]")
    page.wait_for_selector("#predicted-label")
    assert page.inner_text("#predicted-label") == "six"
    visit.shot("audio-deployment")


def test_a_hugging_face_audio_model_from_a_local_folder(
    dashboard_cli, trained, dashboard_server, tmp_path
):
    from transformers import (
        Wav2Vec2Config,
        Wav2Vec2FeatureExtractor,
        Wav2Vec2ForSequenceClassification,
    )

    folder = tmp_path / "tiny-wav2vec2"  # a wav2vec 2.0 of 40 k parameters, saved here
    config = Wav2Vec2Config(
        hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
        conv_dim=(32, 32, 32), conv_stride=(5, 4, 4), conv_kernel=(10, 4, 4),
        num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=4, num_labels=2,
    )  # fmt: skip
    Wav2Vec2ForSequenceClassification(config).save_pretrained(folder)
    Wav2Vec2FeatureExtractor(sampling_rate=8000).save_pretrained(folder)

    trained = dashboard_cli(
        "train", "--dataset", "said", "--pretrained", folder, "--epochs", "2", "--follow"
    )
    assert "registered model said-hf-audio:v1" in trained.output
    assert "0.0001" in trained.output  # fine-tuning's learning rate, not the CNN's
    with dashboard_server.client() as client:
        model = client.fetch_model("said-hf-audio:v1")
    preprocessing = json.loads((model / "preprocessing.json").read_text())
    assert preprocessing["kind"] == "hf-audio" and preprocessing["sample_rate"] == 8000
    assert (model / "feature_extractor" / "preprocessor_config.json").is_file()

    dashboard_cli(
        "deploy", "said-hf-audio:v1", "--name", "said-hf", "--cpu", "0.5", "--memory", "1Gi"
    )
    try:
        word = speak(tmp_path / "two.wav", "two")
        [answer] = json.loads(dashboard_cli("predict", "said-hf", "--audio", word, "--raw").stdout)
        assert answer["label"] in sources.WORDS and len(answer["top_k"]) == 3
        url = f"{dashboard_server.url}/api/v1/deployments/said-hf/v2/models/said-hf"
        auth = {"Authorization": f"Bearer {dashboard_server.token}"}
        metadata = httpx.get(url, headers=auth, timeout=30).json()
        assert metadata["inputs"] == [{"name": "input", "datatype": "BYTES", "shape": [-1]}]
    finally:
        dashboard_cli("deployment", "delete", "said-hf", "--yes")
    refused = dashboard_cli("model", "export", "said-hf-audio:v1", "--format", "onnx", ok=False)
    assert refused.exit_code != 0 and "served by PyTorch replicas" in refused.output
