"""Hyperparameter sweeps for real: 12 trials of `fermion train` on digits, 2 at a time,
proposed by Optuna's TPE sampler and pruned by the median rule on each epoch's
validation accuracy, going on across a server restart mid-sweep."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest
from typer.testing import CliRunner

from fermion.cli.main import app
from fermion.client import launcher
from fermion.errors import Conflict, InvalidInput, NotFound
from tests.conftest import RunningServer, start_server, stop_server

SPACE = {"lr": "loguniform:1e-5:3e-1", "batch_size": "choice:32,128"}
TRIAL = {"epochs": 8, "cpu": 1, "memory": "2Gi"}


@pytest.fixture(scope="module")
def sweep_server(tmp_path_factory) -> Iterator[RunningServer]:
    running = start_server(
        tmp_path_factory.mktemp("sweeps-home"), FERMION_CAPACITY="cpu=2,memory=8Gi"
    )
    yield running
    stop_server(running)


@pytest.fixture(scope="module")
def client(sweep_server, digits_dir):
    with sweep_server.client() as c:
        c.create_dataset("digits", "image-classification", digits_dir)
        yield c


def test_a_sweep_prunes_survives_a_restart_and_registers_its_best(sweep_server, client):
    started = client.create_sweep("digits-lr", "digits", SPACE, trials=12, parallel=2, **TRIAL)
    assert started.status == "running"
    deadline = time.monotonic() + 600
    while sum(t.state != "running" for t in client.get_sweep("digits-lr").trials) < 4:
        assert time.monotonic() < deadline, client.get_sweep("digits-lr")
        time.sleep(1)
    launcher.stop(sweep_server.settings)  # mid-sweep: trials running, more to start
    launcher.start(sweep_server.settings)

    found = client.wait_sweep("digits-lr", timeout=900)
    states = [t.state for t in found.trials]
    assert found.status == "succeeded", (found.reason, states)
    assert len(found.trials) == 12 and "running" not in states
    assert found.pruned >= 4, states  # a third of the trials stopped early
    pruned = [t for t in found.trials if t.state == "pruned"]
    assert all(len(t.intermediate) < TRIAL["epochs"] for t in pruned)
    for t in pruned:  # their jobs were stopped (within the grace period), not left to finish
        assert client.wait_job(t.job_id, timeout=60).status.value == "cancelled"

    # Trial 0 ran the defaults (they lie in the space); the best is at least as good.
    defaults = found.trials[0]
    assert defaults.params == {"lr": 2e-3, "batch_size": 32}
    best = found.trials[found.best_trial]
    assert best.value == max(t.value for t in found.trials if t.state == "complete")
    assert best.value >= (defaults.value or 0)
    version = client.get_model_version(found.model)
    assert version.job_id == best.job_id
    assert version.metrics["test"]["accuracy"] > 0.9
    assert set(found.importance or {}) == {"lr", "batch_size"}, found
    assert abs(sum(found.importance.values()) - 1) < 0.01
    # Only the best trial's model is registered.
    assert [m.name for m in client.list_models().data] == ["digits-lr"]


def test_the_cli_lists_shows_and_cancels(sweep_server, client):
    runner = CliRunner()

    def fermion(*args: str):
        result = runner.invoke(app, list(args), env=sweep_server.env)
        assert result.exit_code == 0, result.output
        return result

    started = fermion(
        "sweep",
        "--dataset",
        "digits",
        "--name",
        "to-cancel",
        "--param",
        "lr=loguniform:1e-4:1e-1",
        "--trials",
        "6",
        "--epochs",
        "30",
        "--cpu",
        "1",
        "--memory",
        "2Gi",
        "--json",
    )
    assert json.loads(started.stdout)["status"] == "running"
    deadline = time.monotonic() + 120
    while not client.get_sweep("to-cancel").trials:
        assert time.monotonic() < deadline
        time.sleep(0.5)
    assert "to-cancel" in fermion("sweep", "list").stdout
    fermion("sweep", "cancel", "to-cancel")
    found = client.get_sweep("to-cancel")
    assert found.status == "cancelled" and found.model is None
    for trial in found.trials:
        assert trial.state == "cancelled"
        job = client.wait_job(trial.job_id, timeout=60)
        assert job.status.value == "cancelled"
    shown = fermion("sweep", "show", "to-cancel").stdout
    assert "cancelled" in shown and "lr" in shown


def test_bad_sweeps_are_refused_before_anything_runs(client):
    with pytest.raises(InvalidInput, match="momentum cannot be searched"):
        client.create_sweep("bad", "digits", {"momentum": "uniform:0:1"})
    with pytest.raises(InvalidInput, match="LOW must be below HIGH"):
        client.create_sweep("bad", "digits", {"lr": "uniform:0.1:0.01"})
    with pytest.raises(InvalidInput, match="write KIND"):
        client.create_sweep("bad", "digits", {"lr": "0.1"})
    with pytest.raises(InvalidInput, match="val_rmse is not a validation metric"):
        client.create_sweep("bad", "digits", SPACE, metric="val_rmse", direction="minimize")
    with pytest.raises(InvalidInput, match="use --direction minimize"):
        client.create_sweep("bad", "digits", SPACE, metric="val_loss")
    with pytest.raises(InvalidInput, match="model 'bert-xl' does not fit"):
        client.create_sweep("bad", "digits", {"model": "choice:small-cnn,bert-xl"})
    with pytest.raises(NotFound):
        client.create_sweep("bad", "no-such-data", SPACE)
    with pytest.raises(NotFound, match="upload"):  # every trial would unpack it
        body = {"name": "bad", "command": ["python", "x.py"], "code": "upload:abc123/x"}
        client._json(
            "POST",
            "/api/v1/sweeps",
            json={
                **body,
                "params": [{"name": "x", "kind": "uniform", "low": 0, "high": 1}],
                "metric": "loss",
                "direction": "minimize",
            },
        )
    with pytest.raises(InvalidInput, match="cpu"):  # a trial's job is checked up front
        client.create_sweep("bad", None, {"x": "uniform:0:1"}, command=["python"], cpu=-1)
    assert not [s for s in client.list_sweeps().data if s.name == "bad"]
    client.create_sweep("twice", "digits", SPACE, trials=1, **TRIAL)
    with pytest.raises(Conflict, match="a sweep named 'twice' exists"):
        client.create_sweep("twice", "digits", SPACE)
    client.cancel_sweep("twice")


SCRIPT = """
import time
import fermion as fm

x = fm.trial.suggest("x", default=0.0)
for epoch in range(6):
    fm.trial.report((x - 0.3) ** 2 + 1.0 / (epoch + 1), step=epoch)
    time.sleep(0.4)
print("trial", fm.trial.number(), "x", x)
"""


def test_a_script_of_ones_own_joins_a_sweep(client, tmp_path, monkeypatch):
    (tmp_path / "objective.py").write_text(SCRIPT)
    client.create_sweep(
        "script",
        None,
        {"x": "uniform:-1:1"},
        command=["python", "objective.py"],
        workdir=tmp_path,
        metric="loss",
        direction="minimize",
        trials=6,
        cpu=0.5,
        memory="1Gi",  # fm.log writes TensorBoard events: torch is imported
    )
    found = client.wait_sweep("script", timeout=300)
    assert found.status == "succeeded", found
    assert found.model is None  # the script wrote no model folder
    failed = [client.get_job(t.job_id) for t in found.trials if t.state == "failed"]
    why = [(j.id, j.status.value, j.failure_reason, client.job_logs(j.id)[-800:]) for j in failed]
    assert len(found.trials) == 6 and not failed, why
    for trial in found.trials:
        expected = [(trial.params["x"] - 0.3) ** 2 + 1 / (e + 1) for e in range(6)]
        assert trial.intermediate == pytest.approx(expected[: len(trial.intermediate)])
        log = client.job_logs(trial.job_id)
        assert f"trial {trial.number} x {trial.params['x']}" in log or trial.state == "pruned"
    complete = [t for t in found.trials if t.state == "complete"]
    best = found.trials[found.best_trial]
    assert best.value == min(t.value for t in complete)
    assert abs(best.params["x"] - 0.3) == min(abs(t.params["x"] - 0.3) for t in complete)

    # By hand, outside a sweep: the defaults, and the value logged as it is.
    import fermion as fm

    monkeypatch.delenv("FERMION_TRIAL", raising=False)
    assert fm.trial.suggest("x", default=0.5) == 0.5
    with pytest.raises(InvalidInput, match="give a default"):
        fm.trial.suggest("x")


def test_the_cli_runs_a_script_sweep_and_follows_it(sweep_server, tmp_path):
    (tmp_path / "objective.py").write_text(SCRIPT)
    result = CliRunner().invoke(
        app,
        [
            "sweep",
            "--name",
            "cli-script",
            "--command",
            "python objective.py",
            "--workdir",
            str(tmp_path),
            "--param",
            "x=uniform:-1:1",
            "--metric",
            "loss",
            "--direction",
            "minimize",
            "--trials",
            "2",
            "--cpu",
            "0.5",
            "--memory",
            "1Gi",
            "--follow",
        ],
        env=sweep_server.env,
    )
    assert result.exit_code == 0, result.output
    assert "trial 0 (job" in result.output and "started" in result.output
    assert "best trial" in result.output and "status succeeded" in result.output
