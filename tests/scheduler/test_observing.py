"""Watching a job: metrics through the API and in TensorBoard files, logs followed live
through the CLI, and a job run the way a user writes a training script."""

from __future__ import annotations

import threading
import time

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from typer.testing import CliRunner

from fermion.cli.main import app
from tests.scheduler.conftest import script, wait_for


def test_metrics_reach_the_api_and_tensorboard(jobs, jobs_server, tmp_path):
    code = script(
        tmp_path,
        """
        import fermion as fm
        for step in range(10):
            fm.log({"loss": 1.0 / (step + 1), "acc": step / 10}, step=step)
        try:
            fm.log({"loss": 0.0}, step=-1)
        except ValueError as exc:
            print(exc)
    """,
    )
    job = jobs.wait_job(
        jobs.submit_job(["python", "job.py"], memory="2Gi", workdir=code).id, timeout=120
    )
    assert job.status.value == "succeeded", jobs.job_logs(job.id)
    # A step the server could not keep is refused at the call, not lost with its batch.
    assert "fm.log: step -1 is out of range" in jobs.job_logs(job.id)
    series = jobs.job_metrics(job.id).series
    assert [p.step for p in series["loss"]] == list(range(10))
    assert series["loss"][-1].value == 0.1 and series["acc"][3].value == 0.3
    assert [p.value for p in jobs.job_metrics(job.id, name="acc").series["acc"]][:2] == [0.0, 0.1]

    events = EventAccumulator(
        str(jobs_server.artifacts / "jobs" / str(job.id) / "tensorboard"),
        size_guidance={"scalars": 0},
    )
    events.Reload()
    loss = events.Scalars("loss")
    assert [e.step for e in loss] == list(range(10))
    assert abs(loss[-1].value - 0.1) < 1e-6

    # The same events, downloaded through the API for TensorBoard on another machine.
    runner = CliRunner()
    result = runner.invoke(
        app,
        ["job", "tensorboard", str(job.id), "--download", str(tmp_path / "tb")],
        env=jobs_server.env,
    )
    assert result.exit_code == 0, result.output
    assert "tensorboard --logdir" in result.output
    downloaded = EventAccumulator(
        str(tmp_path / "tb" / f"job-{job.id}"), size_guidance={"scalars": 0}
    )
    downloaded.Reload()
    assert [e.value for e in downloaded.Scalars("loss")] == [e.value for e in loss]


def test_logs_follow_streams_until_the_job_ends(jobs, jobs_server, tmp_path):
    code = script(
        tmp_path,
        """
        import time
        for i in range(5):
            print(f"line {i}", flush=True)
            time.sleep(0.4)
    """,
    )
    job = jobs.submit_job(["python", "job.py"], memory="256Mi", workdir=code)
    seen_while_running: list[str] = []

    def peek() -> None:  # what the API shows while the job still runs
        wait_for(lambda: "line 1" in jobs.job_logs(job.id), what="first lines")
        if not jobs.get_job(job.id).status.is_terminal:
            seen_while_running.append(jobs.job_logs(job.id))

    watcher = threading.Thread(target=peek)
    watcher.start()
    started = time.monotonic()
    result = CliRunner().invoke(app, ["job", "logs", str(job.id), "-f"], env=jobs_server.env)
    watcher.join()
    assert result.exit_code == 0, result.output
    assert [f"line {i}" for i in range(5)] == result.stdout.split("\n")[:5]
    assert time.monotonic() - started >= 1.0  # it followed, it did not just read once
    assert jobs.get_job(job.id).status.value == "succeeded"
    assert seen_while_running and "line 4" not in seen_while_running[0]


def test_a_training_script_written_like_a_users(jobs, jobs_server, tmp_path, digits_dir):
    jobs.create_dataset("digits", "image-classification", digits_dir)
    code = script(
        tmp_path,
        """
        import fermion as fm
        import torch
        from torch import nn

        dataset = fm.Dataset.from_local("digits")
        loader = fm.DataLoader(dataset, batch_size=32, num_workers=2)

        class Net(nn.Module):
            def __init__(self, classes):
                super().__init__()
                self.body = nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 64), nn.ReLU(),
                                          nn.Linear(64, classes))

            def forward(self, x):
                return self.body(x)

        torch.manual_seed(0)
        model = nn.parallel.DistributedDataParallel(Net(dataset.num_classes)) \\
            if torch.distributed.is_initialized() else Net(dataset.num_classes)
        optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
        loss_fn = nn.CrossEntropyLoss()
        for epoch in range(4):
            total, batches = 0.0, 0
            for images, labels in loader:
                optimizer.zero_grad()
                loss = loss_fn(model(images), labels)
                loss.backward()
                optimizer.step()
                total, batches = total + loss.item(), batches + 1
            print(f"epoch {epoch} loss {total / batches:.4f} batches {batches}", flush=True)
            fm.log({"loss": total / batches}, step=epoch)
        torch.distributed.destroy_process_group()
    """,
        name="train.py",
    )
    # torchrun initialises the process group itself when the script asks for it:
    (code / "train.py").write_text(
        "import torch.distributed as dist\ndist.init_process_group('gloo')\n"
        + (code / "train.py").read_text()
    )
    job = jobs.submit_job(["python", "train.py"], nproc=2, cpu=2, memory="4Gi", workdir=code)
    done = jobs.wait_job(job.id, timeout=240)
    logs = jobs.job_logs(job.id)
    assert done.status.value == "succeeded", logs
    losses = {
        rank: [
            float(line.split("loss ")[1].split()[0])
            for line in logs.splitlines()
            if line.startswith(f"[rank{rank}]: epoch")
        ]
        for rank in (0, 1)
    }
    assert len(losses[0]) == len(losses[1]) == 4
    assert losses[0][-1] < losses[0][0] / 2  # it learned
    batches = {line.split("batches ")[1] for line in logs.splitlines() if "batches" in line}
    assert batches == {"23"}  # each rank had half of the 1,439 training images, 32 a batch
    assert len(jobs.job_metrics(job.id).series["loss"]) == 4  # rank 0 alone reported
