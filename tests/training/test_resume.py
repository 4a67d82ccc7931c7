"""A training run killed after its second epoch and resumed by the job's retry ends
with the same results as an uninterrupted run with the same seed."""

from __future__ import annotations

import json
import signal

from tests.scheduler.conftest import job_processes, wait_for
from tests.training.test_train import model_metrics


def test_killed_and_resumed_matches_uninterrupted(jobs, jobs_server, digits):
    options = {"epochs": 4, "seed": 3, "memory": "3Gi"}
    whole = jobs.train(digits, **options)

    broken = jobs.train(digits, max_retries=1, **options)
    state = (
        jobs_server.artifacts
        / "jobs"
        / str(broken.job.id)
        / "checkpoints"
        / "last"
        / "trainer.json"
    )

    def after_second_epoch() -> bool:
        try:
            return json.loads(state.read_text())["epoch"] >= 1
        except (OSError, ValueError):
            return False

    wait_for(after_second_epoch, timeout=240, every=0.05, what="the second epoch's checkpoint")
    trainer = [
        p
        for p in job_processes(jobs, broken.job.id)
        if "fermion.training.run" in " ".join(p.cmdline())
    ]
    assert trainer
    epoch_at_kill = json.loads(state.read_text())["epoch"]
    for process in trainer:
        process.send_signal(signal.SIGKILL)

    resumed = jobs.wait_job(broken.job.id, timeout=300)
    uninterrupted = jobs.wait_job(whole.job.id, timeout=300)
    assert resumed.status.value == uninterrupted.status.value == "succeeded"
    assert resumed.attempt == 2
    second = jobs.job_logs(broken.job.id, attempt=2)
    assert f"resuming after epoch {epoch_at_kill + 1}" in second
    assert "epoch 1/4:" not in second  # finished epochs were not trained again

    a = model_metrics(jobs_server, whole.job.id)
    b = model_metrics(jobs_server, broken.job.id)
    assert abs(a["test"]["accuracy"] - b["test"]["accuracy"]) <= 0.005
    assert len(b["history"]) == 4
    for x, y in zip(a["history"], b["history"], strict=True):
        assert abs(x["accuracy"] - y["accuracy"]) <= 0.005
