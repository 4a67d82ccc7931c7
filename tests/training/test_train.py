"""`fermion train` for real on small data: each model family learns well above chance."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

import fermion as fm
from fermion.cli.main import app
from fermion.precision import cpu_has_native_bf16
from tests import sources


def trained(client, dataset, timeout=300, **options):
    started = client.train(dataset, **options)
    job = client.wait_job(started.job.id, timeout=timeout)
    if not job.status.is_terminal:  # too slow: fail, and leave the CPUs to the next test
        client.cancel_job(job.id)
    logs = client.job_logs(job.id)
    assert job.status.value == "succeeded", logs
    return job, started.config, logs


def model_metrics(server, job_id):
    folder = server.artifacts / "jobs" / str(job_id) / "artifacts" / "model"
    return json.loads((folder / "metrics.json").read_text())


def test_digits_with_the_small_cnn(jobs, jobs_server, digits):
    job, config, logs = trained(jobs, digits, epochs=4, memory="3Gi")
    assert config["model"] == "small-cnn" and config["dataset"] == f"{digits}:v1"
    assert "precision" in logs and "effective batch 32" in logs
    metrics = model_metrics(jobs_server, job.id)
    assert metrics["test"]["accuracy"] > 0.9
    assert len(metrics["test"]["confusion_matrix"]) == 10
    folder = jobs_server.artifacts / "jobs" / str(job.id) / "artifacts" / "model"
    assert {p.name for p in folder.iterdir()} >= {
        "model.safetensors",
        "config.json",
        "labels.json",
        "preprocessing.json",
        "metrics.json",
    }
    series = jobs.job_metrics(job.id).series
    assert {"train/loss", "lr", "samples_per_s", "val/accuracy", "test/accuracy"} <= set(series)

    # Registered, linked to the job and the exact dataset version, with its metrics.
    registered = jobs.get_model_version(config["name"])
    assert registered.ref == f"{config['name']}:v1" and f"registered model {registered.ref}" in logs
    assert (registered.job_id, registered.dataset) == (job.id, f"{digits}:v1")
    assert registered.metrics["test"]["accuracy"] == metrics["test"]["accuracy"]
    stored = {p.name for p in Path(registered.uri).iterdir()}
    assert {"model.safetensors", "labels.json", "preprocessing.json"} <= stored
    shown = CliRunner().invoke(app, ["model", "show", config["name"]], env=jobs_server.env)
    assert f"job {job.id}" in shown.stdout and "true \\ predicted" in shown.stdout
    job_json = CliRunner().invoke(app, ["job", "show", str(job.id), "--json"], env=jobs_server.env)
    assert json.loads(job_json.stdout)["models"][0]["ref"] == registered.ref


def test_resnet18_ddp_bf16_with_gradient_accumulation(jobs, jobs_server, few_digits):
    """With the default resources for 2 processes (2 CPUs, 6Gi). What it learns is not
    the point (resnet18 learns digits in tests/modelfile); its memory and mechanics are."""
    job, config, logs = trained(
        jobs, few_digits, model="resnet18", epochs=1, nproc=2, precision="bf16", grad_accum=2
    )
    assert (job.cpu, job.memory) == (2.0, "6Gi")
    assert "2 process(es), batch 32 x 2 x grad-accum 2 = effective batch 128" in logs
    emulated = cpu_has_native_bf16() is None  # this machine's CPU, which ran the job
    assert ("bf16 on this CPU is emulated" in logs) == emulated
    assert "precision bf16 (as asked" in logs
    assert 0 <= model_metrics(jobs_server, job.id)["test"]["accuracy"] <= 1
    assert jobs.get_model_version(config["name"]).job_id == job.id


def test_tabular_mlp_and_regression(jobs, jobs_server, tmp_path):
    jobs.create_dataset(
        "train-iris",
        "tabular-classification",
        sources.write_rows(tmp_path / "iris.csv", sources.iris_rows()),
        label_column="species",
    )
    job, config, _ = trained(jobs, "train-iris", memory="2Gi")
    assert config["model"] == "mlp"
    assert model_metrics(jobs_server, job.id)["test"]["accuracy"] > 0.8  # chance 0.33

    jobs.create_dataset(
        "train-diabetes",
        "tabular-regression",
        sources.write_rows(tmp_path / "d.csv", sources.diabetes_rows()),
    )
    job, _, logs = trained(jobs, "train-diabetes", memory="2Gi", early_stopping=15)
    test = model_metrics(jobs_server, job.id)["test"]
    assert test["r2"] > 0.2 and test["mae"] < 60, logs  # the mean predictor has r2 0


def test_text_with_the_small_transformer(jobs, jobs_server, tmp_path):
    jobs.create_dataset(
        "train-reviews",
        "text-classification",
        sources.write_rows(tmp_path / "r.csv", sources.review_rows(400)),
    )
    job, config, _ = trained(jobs, "train-reviews", memory="2Gi", epochs=6)
    assert config["model"] == "small-transformer"
    assert model_metrics(jobs_server, job.id)["test"]["accuracy"] > 0.8  # chance 0.5


def test_a_model_file_of_the_users(jobs, jobs_server, digits, tmp_path, monkeypatch):
    (tmp_path / "my_model.py").write_text(
        textwrap.dedent("""
        from torch import nn

        class Tiny(nn.Module):
            def __init__(self, num_classes):
                super().__init__()
                self.net = nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, num_classes))

            def forward(self, x):
                return self.net(x)
    """)
    )
    started = jobs.train(
        digits, model_file="my_model.py:Tiny", epochs=3, memory="2Gi", workdir=tmp_path
    )
    job = jobs.wait_job(started.job.id, timeout=300)
    assert job.status.value == "succeeded", jobs.job_logs(job.id)
    assert model_metrics(jobs_server, job.id)["test"]["accuracy"] > 0.8


def test_bad_options_are_refused_at_submit(jobs, digits):
    with pytest.raises(fm.InvalidInput, match="use --precision bf16"):
        jobs.train(digits, precision="fp16")
    with pytest.raises(fm.InvalidInput, match="does not fit a image-classification dataset"):
        jobs.train(digits, model="mlp")
    with pytest.raises(fm.NotFound, match="no-such-data"):
        jobs.train("no-such-data")
    with pytest.raises(fm.InvalidInput, match="optimizer"):
        jobs.train(digits, optimizer="adam-ish")


def test_the_defaults_on_digits_match_a_tuned_svc(jobs, jobs_server, digits):
    """`fermion train --dataset digits` with nothing else reaches 98.9% on the test split,
    the figure of scikit-learn's tuned SVC on the same data."""
    job, config, _ = trained(jobs, digits, memory="3Gi")
    assert (config["model"], config["epochs"]) == ("small-cnn", 30)
    assert model_metrics(jobs_server, job.id)["test"]["accuracy"] >= 0.989


def test_follow_shows_progress_and_validation_per_epoch(jobs, digits):
    """What `fermion train --follow` draws in a terminal."""
    import io

    from rich.console import Console

    from fermion.cli.progress import follow_training

    started = jobs.train(digits, epochs=3, memory="3Gi")
    screen = io.StringIO()
    job = follow_training(
        jobs, started.job.id, Console(file=screen, force_terminal=True, width=120)
    )
    drawn = screen.getvalue()
    assert job.status.value == "succeeded"
    assert "epoch 3/3" in drawn and "samples/s" in drawn
    assert [f"epoch {n}: validation loss" in drawn for n in (1, 2, 3)] == [True] * 3
    assert "test: " in drawn and "accuracy" in drawn


def test_options_from_a_file_with_flags_winning(jobs_server, digits, tmp_path):
    (tmp_path / "train.yaml").write_text(
        f"dataset: {digits}\nepochs: 2\nlr: 0.01\nbatch-size: 16\n"
    )
    result = CliRunner().invoke(
        app,
        ["train", "-f", str(tmp_path / "train.yaml"), "--lr", "0.02", "--memory", "2Gi", "--json"],
        env=jobs_server.env,
    )
    assert result.exit_code == 0, result.output
    started = json.loads(result.stdout)
    assert (started["config"]["epochs"], started["config"]["lr"]) == (2, 0.02)
    assert started["config"]["batch_size"] == 16
    with jobs_server.client() as client:
        client.cancel_job(started["job"]["id"])


def test_early_stopping_ends_a_stalled_run(jobs, jobs_server, tmp_path):
    jobs.create_dataset(
        "stall-iris",
        "tabular-classification",
        sources.write_rows(tmp_path / "iris.csv", sources.iris_rows()),
        label_column="species",
    )
    job, _, logs = trained(jobs, "stall-iris", epochs=500, early_stopping=3, memory="2Gi")
    assert "early stopping: no improvement for 3 epochs" in logs
    assert len(model_metrics(jobs_server, job.id)["history"]) < 500
