"""A live view of a training job for `fermion train --follow` in a terminal: a progress
bar (epoch, step, loss, samples/s, ETA) from the job's metrics, and a line per epoch
with its validation metrics."""

from __future__ import annotations

import time

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

from fermion.client import Client
from fermion.payloads import JobPublic

POLL_S = 1.0


def _last(series: dict, name: str) -> float | None:
    points = series.get(name)
    return points[-1].value if points else None


def follow_training(client: Client, job_id: int, console: Console) -> JobPublic:
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TextColumn("{task.fields[info]}"),
        TimeRemainingColumn(),
    )
    reported = 0
    with Progress(*columns, console=console, transient=False) as progress:
        task = progress.add_task("queued", total=None, info="")
        while True:
            job = client.get_job(job_id)
            series = client.job_metrics(job_id).series
            total = _last(series, "progress/total_steps")
            epochs = int(_last(series, "progress/epochs") or 0)
            losses = series.get("train/loss", [])
            step = losses[-1].step if losses else 0
            epoch = min(int(step / (total / epochs)) + 1, epochs) if total and epochs else 0
            info = ""
            if losses:
                info = f"loss {losses[-1].value:.4f}  {_last(series, 'samples_per_s') or 0:.0f} samples/s"
            label = f"epoch {epoch}/{epochs}" if epochs else job.status.value
            progress.update(task, description=label, total=total, completed=step or 0, info=info)
            validation = {
                name.removeprefix("val/"): points
                for name, points in series.items()
                if name.startswith("val/")
            }
            done_epochs = len(next(iter(validation.values()), []))
            while reported < done_epochs:
                shown = ", ".join(f"{k} {v[reported].value:.4f}" for k, v in validation.items())
                reported += 1
                progress.console.print(f"epoch {reported}: validation {shown}", highlight=False)
            if job.status.is_terminal:
                break
            time.sleep(POLL_S)
    test = {
        k.removeprefix("test/"): v[-1].value for k, v in series.items() if k.startswith("test/")
    }
    if test:
        console.print(
            "test: " + ", ".join(f"{k} {v:.4f}" for k, v in test.items()), highlight=False
        )
    return job
