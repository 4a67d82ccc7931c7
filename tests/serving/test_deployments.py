"""Deployments on a real server: replicas are real processes started by its scheduler,
called through its gateway. Scaling, a replica killed with SIGKILL, a rolling update and
a server restart, each with a client sending requests throughout."""

from __future__ import annotations

import base64
import os
import signal
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
import tritonclient.http as triton

import fermion as fm
from fermion.client import launcher
from tests import sources
from tests.conftest import Cli
from tests.scheduler.conftest import job_processes, wait_for
from tests.serving import folders
from tests.serving.conftest import IMAGE, Traffic, remove


def replica_pid(client, job_id: int) -> int:
    """The inference server process of a replica job (not its supervisor)."""
    return next(
        p.pid
        for p in job_processes(client, job_id)
        if "fermion.serving.replica" in " ".join(p.cmdline())
        and "supervise" not in " ".join(p.cmdline())
    )


def test_deploy_predict_and_scale(sdk, serving_server, digits_models, tmp_path):
    cli = Cli(serving_server, __import__("typer.testing").testing.CliRunner())
    result = cli("deploy", digits_models[0], "--name", "digits", "--replicas", "2")
    assert "ready" in result.output
    deployment = sdk.get_deployment("digits")
    assert (deployment.status, deployment.ready_replicas, deployment.model) == (
        "ready",
        2,
        digits_models[0],
    )
    assert all(r.endpoint.startswith("http://127.0.0.1:") for r in deployment.replica_details)

    image = tmp_path / "3.png"
    image.write_bytes(IMAGE)
    shown = cli("predict", "digits", "--image", image)
    prediction = sdk.predict("digits", image=image)[0]
    assert prediction["label"] in shown.output
    assert sdk.predict("digits", image=[IMAGE, IMAGE]) == [prediction, prediction]
    # The replica's account of batching reaches the caller through the gateway.
    raw = httpx.post(
        f"{sdk.url}/api/v1/deployments/digits/predict",
        json={"inputs": [base64.b64encode(IMAGE).decode()]},
        headers={"Authorization": f"Bearer {sdk.token}"},
    )
    assert raw.headers["fermion-batch-size"] == "1" and "fermion-batch-wait-ms" in raw.headers

    # Both replicas answer: the gateway balances across them.
    with Traffic(sdk, "digits"):
        time.sleep(1.5)
    logs = sdk.deployment_logs("digits")
    assert {f"[replica {r.job_id}]" in logs for r in deployment.replica_details} == {True}

    listed = cli("deployment", "list").output
    assert "digits" in listed and "ready" in listed and "2/2" in listed
    shown = cli("deployment", "show", "digits").output
    assert "/api/v1/deployments/digits/predict" in shown and "/v2/models/digits/infer" in shown
    assert "[replica " in cli("deployment", "logs", "digits").output
    token = cli("deployment", "token", "digits").output.strip().splitlines()[-1]
    assert fm.Client(url=sdk.url, token=token, autostart=False).predict("digits", image=IMAGE)

    sdk.scale_deployment("digits", 3)
    scaled = sdk.wait_deployment("digits", timeout=120)
    assert (scaled.status, scaled.ready_replicas) == ("ready", 3)
    sdk.scale_deployment("digits", 1)
    down = wait_for(
        lambda: (
            (d := sdk.get_deployment("digits")).status == "ready"
            and len(d.replica_details) == 1
            and d
        ),
        timeout=60,
        what="scale down",
    )
    stopped = {r.job_id for r in scaled.replica_details} - {r.job_id for r in down.replica_details}
    assert {sdk.get_job(j).status.value for j in stopped} == {"cancelled"}
    assert sdk.predict("digits", image=IMAGE)[0] == prediction
    remove(sdk, "digits")


def test_a_killed_replica_restarts_while_the_other_serves(sdk, digits_models):
    sdk.deploy(digits_models[0], name="sturdy", replicas=2)
    before = sdk.wait_deployment("sturdy", timeout=120)
    assert before.status == "ready"
    victim = before.replica_details[0].job_id
    with Traffic(sdk, "sturdy") as traffic:
        time.sleep(0.5)
        os.kill(replica_pid(sdk, victim), signal.SIGKILL)
        restarted = wait_for(
            lambda: (
                (d := sdk.get_deployment("sturdy")).status == "ready"
                and any(r.job_id == victim and r.restarts == 1 for r in d.replica_details)
                and d
            ),
            timeout=120,
            what="the killed replica back",
        )
        time.sleep(1.0)
    assert traffic.failures == [] and len(traffic.models) > 10
    replica = next(r for r in restarted.replica_details if r.job_id == victim)
    assert "signal 9" in replica.reason
    remove(sdk, "sturdy")


def test_a_rolling_update_drops_no_request(sdk, digits_models):
    sdk.deploy(digits_models[0], name="rolling", replicas=2)
    assert sdk.wait_deployment("rolling", timeout=120).status == "ready"
    with Traffic(sdk, "rolling") as traffic:
        time.sleep(0.5)
        sdk.update_deployment("rolling", digits_models[1])
        time.sleep(1.0)
        done = sdk.wait_deployment("rolling", timeout=180)
        time.sleep(1.0)
    assert done.status == "ready" and done.model == digits_models[1]
    serving = [r for r in done.replica_details if r.state != "stopping"]
    assert [r.model for r in serving] == [digits_models[1]] * 2
    assert traffic.failures == []
    assert traffic.models[0] == digits_models[0] and traffic.models[-1] == digits_models[1]
    remove(sdk, "rolling")


def test_a_rolling_update_within_a_replica_quota(sdk, serving_server, tmp_path):
    """At its workspace's replica quota, the roll goes one replica down instead of
    starting one the quota would keep waiting (and the roll with it) forever."""
    sdk.create_workspace("tight", replicas=2)
    with serving_server.client(workspace="tight") as team:
        refs = [
            team.import_model("tight-cnn", folders.image_model(tmp_path / f"v{i}", seed=i)).ref
            for i in (1, 2)
        ]
        team.deploy(refs[0], name="tight", replicas=2, cpu=0.5, memory="1Gi")
        assert team.wait_deployment("tight", timeout=120).status == "ready"
        team.update_deployment("tight", refs[1])
        done = team.wait_deployment("tight", timeout=180)
        assert done.status == "ready" and done.model == refs[1], done
        remove(team, "tight")


def test_a_server_restart_keeps_the_deployment(sdk, serving_server, digits_models):
    sdk.deploy(digits_models[0], name="lasting", replicas=1)
    before = sdk.wait_deployment("lasting", timeout=120)
    launcher.stop(serving_server.settings)
    launcher.start(serving_server.settings)
    after = sdk.wait_deployment("lasting", timeout=60)
    assert after.status == "ready"
    # The same replica process, found again, not a new one.
    assert [(r.job_id, r.attempt) for r in after.replica_details] == [
        (r.job_id, r.attempt) for r in before.replica_details
    ]
    assert sdk.predict("lasting", image=IMAGE)[0]["label"]
    remove(sdk, "lasting")


def test_v2_through_the_gateway_with_tritons_client(sdk, serving_server, digits_models):
    sdk.deploy(digits_models[0], name="triton", replicas=1)
    assert sdk.wait_deployment("triton", timeout=120).status == "ready"
    client = triton.InferenceServerClient(
        f"127.0.0.1:{serving_server.port}/api/v1/deployments/triton"
    )
    auth = {"Authorization": f"Bearer {sdk.token}"}
    assert client.is_server_ready(headers=auth) and client.is_model_ready("triton", headers=auth)
    encoded = triton.InferInput("input", [1], "BYTES")
    encoded.set_data_from_numpy(np.array([IMAGE], dtype=np.object_))
    result = client.infer("triton", [encoded], headers=auth)
    assert result.as_numpy("probabilities").shape == (1, 10)
    wrong = triton.InferInput("input", [1], "INT32")
    wrong.set_data_from_numpy(np.zeros(1, np.int32))
    with pytest.raises(triton.InferenceServerException, match="datatype INT32"):
        client.infer("triton", [wrong], headers=auth)
    client.close()
    remove(sdk, "triton")


def test_tokens_public_endpoints_and_refusals(sdk, serving_server, digits_models):
    sdk.deploy(digits_models[0], name="guarded", replicas=1, cpu=0.5, memory="1Gi")
    sdk.deploy(digits_models[0], name="open", replicas=1, cpu=0.5, memory="1Gi", public=True)
    sdk.wait_deployment("guarded", timeout=120)
    sdk.wait_deployment("open", timeout=120)
    body = {"inputs": [base64.b64encode(IMAGE).decode()]}
    url = f"{serving_server.url}/api/v1/deployments"
    assert httpx.post(f"{url}/guarded/predict", json=body).status_code == 401
    assert httpx.post(f"{url}/open/predict", json=body).status_code == 200

    token = sdk.deployment_token("guarded").token
    bearer = {"Authorization": f"Bearer {token}"}
    assert httpx.post(f"{url}/guarded/predict", json=body, headers=bearer).status_code == 200
    # Good for that endpoint and nothing else.
    assert httpx.get(f"{serving_server.url}/api/v1/models", headers=bearer).status_code == 403
    other = sdk.deployment_token("open").token
    refused = httpx.post(
        f"{url}/guarded/predict", json=body, headers={"Authorization": f"Bearer {other}"}
    )
    assert refused.status_code == 403 and "another deployment" in refused.json()["message"]

    missing = httpx.post(f"{url}/nowhere/predict", json=body, headers=bearer)
    assert missing.status_code == 404 and "fermion deployment list" in missing.json()["message"]
    # Without a token, a missing name answers as a private one does: no name oracle.
    assert httpx.post(f"{url}/nowhere/predict", json=body).status_code == 401
    # The replica itself answers its gateway only; a V2 path cannot climb out of /v2.
    replica = sdk.get_deployment("guarded").replica_details[0].endpoint
    for direct in (httpx.post(f"{replica}/predict", json=body), httpx.get(f"{replica}/metrics")):
        assert direct.status_code == 401 and "gateway only" in direct.json()["message"]
    for climb in ("%2e%2e", "%252e%252e", ".%2e", "models%2f..%2f.."):
        climbed = httpx.get(f"{url}/open/v2/{climb}/metrics")
        assert climbed.status_code == 404 and "fermion_requests_total" not in climbed.text
    big = b'{"inputs": ["' + b"A" * (50 * 2**20) + b'"]}'
    assert httpx.post(f"{url}/open/predict", content=big, timeout=60).status_code == 413
    wrong = httpx.post(f"{url}/open/predict", json={"inputs": [[1, 2]]})
    assert wrong.status_code == 400 and "inputs[0]" in wrong.json()["message"]
    remove(sdk, "guarded")
    remove(sdk, "open")


def test_what_cannot_be_done_is_refused(sdk, digits_models):
    with pytest.raises(fm.errors.CapacityExceeded, match="is free"):
        sdk.deploy(digits_models[0], name="huge", replicas=3, cpu=2)
    with pytest.raises(fm.errors.NotFound, match="no version v9"):
        sdk.deploy("digits-cnn:v9", name="ghost")
    sdk.deploy(digits_models[0], name="pinned", replicas=1, cpu=0.5, memory="1Gi")
    with pytest.raises(fm.errors.Conflict, match="served by deployment pinned"):
        sdk.delete_model(digits_models[0])
    with pytest.raises(fm.errors.Conflict, match="exists"):
        sdk.deploy(digits_models[0], name="pinned")
    sdk.delete_deployment("pinned")
    with pytest.raises(fm.errors.NotFound):
        sdk.get_deployment("pinned")


def test_a_model_that_raises_on_load_fails_its_deployment_fast(sdk, serving_server, tmp_path):
    """No wait on a dead replica: `fermion deploy` exits non-zero with the model's own
    error, the deployment says `failed`, and no replacement replica is started."""
    folder = folders.image_model(tmp_path / "raising")
    (tmp_path / "raising" / "code").mkdir()
    (tmp_path / "raising" / "code" / "net.py").write_text(
        "class Net:\n"
        "    def __init__(self, num_classes):\n"
        "        raise RuntimeError('the calibration table is missing')\n"
    )
    spec = folder / "config.json"
    spec.write_text(spec.read_text().replace('"model_file": null', '"model_file": "net.py:Net"'))
    ref = sdk.import_model("raising", folder).ref
    cli = Cli(serving_server, __import__("typer.testing").testing.CliRunner())
    began = time.monotonic()
    result = cli("deploy", ref, "--name", "raising", "--cpu", "0.5", "--memory", "1Gi", ok=False)
    assert time.monotonic() - began < 30
    assert result.exit_code != 0
    assert "the calibration table is missing" in result.output
    assert "Traceback" not in result.output
    shown = sdk.get_deployment("raising")
    assert shown.status == "failed"
    [replica] = shown.replica_details
    assert replica.state == "failed" and "calibration table" in replica.reason
    time.sleep(2)  # scheduler passes: still the one failed replica, none started again
    assert [r.job_id for r in sdk.get_deployment("raising").replica_details] == [replica.job_id]
    sdk.delete_deployment("raising")


def test_a_light_deployment_answers_as_pytorch_does(sdk, serving_server, digits_models):
    """`--runtime onnx`: the replica exports the graph once, serves it in ONNX Runtime
    without torch in its process, and gives the classes PyTorch gives in-process."""
    import torch

    from fermion import modelfile
    from fermion.modelfile.inputs import Preprocessor

    cli = Cli(serving_server, __import__("typer.testing").testing.CliRunner())
    cli("deploy", digits_models[1], "--name", "light", "--runtime", "onnx")
    light = sdk.get_deployment("light")
    assert (light.status, light.runtime) == ("ready", "onnx")
    assert "onnx" in cli("deployment", "show", "light").output

    images = [sources.png_bytes(value=v) for v in (0, 60, 130, 250)]
    served = [p["label"] for p in sdk.predict("light", image=images)]
    model = modelfile.load(sdk.fetch_model(digits_models[1]))
    pre = Preprocessor(model)
    with torch.inference_mode():
        batch = pre.collate([pre.prepare(image, "x") for image in images])
        expected = [model.labels[i] for i in model.network(batch).argmax(1).tolist()]
    assert served == expected

    (replica,) = light.replica_details
    module = "fermion.serving.replica"
    (process,) = [  # the replica itself, not its supervisor
        p for p in job_processes(sdk, replica.job_id) if p.cmdline()[1:3] == ["-m", module]
    ]
    assert "libtorch" not in Path(f"/proc/{process.pid}/maps").read_text()
    remove(sdk, "light")
