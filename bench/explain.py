"""How long an explanation of one digit takes: from a deployment's replica (the model
loaded already) and from a registered model (a job of kind `explain`), against Captum's
Integrated Gradients called by hand in this process on the same network and input, the
same 64 steps.

    python -m bench.explain [--repeat 10]
"""

from __future__ import annotations

import argparse
import base64
import shutil
import socket
import statistics
import tempfile
import time
from pathlib import Path

from bench.results import record


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def by_hand(folder: Path, image: bytes, repeat: int) -> list[float]:
    """Captum on the loaded network: the preprocessing and the attribution, nothing else."""
    import torch
    from captum.attr import IntegratedGradients

    from fermion import modelfile
    from fermion.modelfile.inputs import Preprocessor

    model = modelfile.load(folder)
    pre = Preprocessor(model)

    def probabilities(x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(model.network(x), dim=-1)

    times = []
    for _ in range(repeat + 1):
        started = time.perf_counter()
        batch = pre.collate([pre.prepare(base64.b64encode(image).decode(), "input")])
        target = int(probabilities(batch).argmax())
        IntegratedGradients(probabilities).attribute(
            batch, baselines=torch.zeros_like(batch), target=target, n_steps=64
        )
        times.append(time.perf_counter() - started)
    return times[1:]  # the first call pays for imports


def timed(call, repeat: int) -> list[float]:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return times


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=10)
    args = parser.parse_args()
    from fermion.client import Client, launcher
    from fermion.datasets.samples import write_digits_folder
    from fermion.settings import Settings

    work = Path(tempfile.mkdtemp(prefix="fermion-bench-explain-"))
    settings = Settings(home=work / "home", port=free_port(), capacity="cpu=2,memory=8Gi")
    launcher.start(settings)
    try:
        with Client(settings=settings, autostart=False) as client:
            client.create_dataset("digits", "image-classification", write_digits_folder(work / "d"))
            job = client.train("digits", name="digits", epochs=5, memory="2Gi").job
            assert client.wait_job(job.id).status.value == "succeeded", client.job_logs(job.id)
            image = next((work / "d" / "3").iterdir()).read_bytes()
            in_job = timed(lambda: client.explain_model("digits:v1", image=image), 3)
            client.deploy("digits:v1", name="digits")
            client.wait_deployment("digits")
            client.explain("digits", image=image)  # warm: the replica builds its explainer
            replica = timed(lambda: client.explain("digits", image=image), args.repeat)
            # The model's own explain, now that a deployment serves it, asks the replica.
            deployed = timed(lambda: client.explain_model("digits:v1", image=image), args.repeat)
            hand = by_hand(client.fetch_model("digits:v1"), image, args.repeat)
            job = client.evaluate_model("digits:v1", "digits", importance=True)
            started = time.perf_counter()
            client.wait_job(job.id)
            evaluation = time.perf_counter() - started
    finally:
        launcher.stop(settings)
        shutil.rmtree(work, ignore_errors=True)
    a, j, b = statistics.median(replica), statistics.median(in_job), statistics.median(hand)
    print("\none digit explained with Integrated Gradients (64 steps), median seconds")
    print(f"  from a deployment (HTTP, gateway, replica) : {a:7.3f}")
    print(f"  from the model, not deployed (a job)       : {j:7.3f}")
    print(f"  from the model, deployed (its replica)     : {statistics.median(deployed):7.3f}")
    print(f"  Captum by hand in this process             : {b:7.3f}")
    print(f"  evaluate --importance on the test split    : {evaluation:7.1f}  (the whole job)")
    record(
        "explain.deployment",
        "explain a digit from a deployment: seconds (goal: a few)",
        a,
        3.0,
        at_most=True,
        ours=a,
        baseline=b,
        unit="s",
    )
    record(
        "explain.model_job",
        "explain a digit from the registered model, in a job: seconds",
        j,
        10.0,
        at_most=True,
        ours=j,
        baseline=b,
        unit="s",
    )


if __name__ == "__main__":
    main()
