"""A text model the way a new user makes one, from the CLI with every default: dataset ->
train -> deploy -> predict -> evaluate -> export, on reviews made here."""

from __future__ import annotations

import json

import pytest

from tests import sources
from tests.conftest import Cli

pytestmark = pytest.mark.slow


def test_text_with_the_defaults_from_the_cli(jobs_server, tmp_path):
    from typer.testing import CliRunner

    cli = Cli(jobs_server, CliRunner())
    reviews = sources.write_rows(tmp_path / "reviews.csv", sources.review_rows(300))
    cli(
        "dataset",
        "create",
        "--name",
        "reviews",
        "--type",
        "text-classification",
        "--source",
        reviews,
    )

    trained = cli("train", "--dataset", "reviews", "--follow")
    assert "registered model reviews-small-transformer:v1" in trained.output
    ref = "reviews-small-transformer:v1"
    shown = json.loads(cli("model", "show", ref, "--json").stdout)
    trainer_accuracy = shown["metrics"]["test"]["accuracy"]
    assert trainer_accuracy > 0.8  # chance is 0.5

    deployed = cli("deploy", ref, "--name", "reviews", "--cpu", "0.5", "--memory", "1Gi")
    assert "ready" in deployed.output
    try:
        predicted = cli("predict", "reviews", "--text", "a wonderful, delightful film", "--raw")
        [prediction] = json.loads(predicted.stdout)
        assert prediction["label"] in ("pos", "neg") and 0 <= prediction["probability"] <= 1
    finally:
        cli("deployment", "delete", "reviews", "--yes")

    evaluation = json.loads(cli("model", "evaluate", ref, "--dataset", "reviews", "--json").stdout)
    assert abs(evaluation["metrics"]["accuracy"] - trainer_accuracy) <= 0.005

    for fmt in ("onnx", "torchscript"):
        exported = cli(
            "model", "export", ref, "--format", fmt, "--output", tmp_path / fmt, "--json"
        )
        result = json.loads(exported.stdout)
        assert result["max_difference"] <= 1e-4
        assert (tmp_path / fmt / "preprocessing.json").exists()
