"""Federated digits against centralised training on the same images: three sites with
non-IID shares (mostly 3-4 classes each), FedAvg for the rounds, against `fermion train`
on the union of the shares; both scored on held-out images neither saw, and timed from
submission to the registered model.

    python -m bench.federated [--rounds 6] [--local-epochs 3]
"""

from __future__ import annotations

import argparse
import shutil
import socket
import tempfile
import time
from pathlib import Path

from bench.results import record

SITES = {"a": "0123", "b": "456", "c": "789"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def held_out_accuracy(client, ref: str) -> float:
    job = client.wait_job(client.evaluate_model(ref, "holdout", "test").id)
    assert job.status.value == "succeeded", client.job_logs(job.id)
    return client.get_model_version(ref).evaluations[-1]["metrics"]["accuracy"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--local-epochs", type=int, default=3)
    args = parser.parse_args()
    from fermion.client import Client, launcher
    from fermion.datasets.samples import split_across_sites, write_digits_folder
    from fermion.settings import Settings

    work = Path(tempfile.mkdtemp(prefix="fermion-bench-federated-"))
    settings = Settings(home=work / "home", port=free_port(), capacity="cpu=2,memory=12Gi")
    launcher.start(settings)
    try:
        with Client(settings=settings, autostart=False) as client:
            folders = split_across_sites(write_digits_folder(work / "digits"), work / "s", SITES)
            for name, folder in folders.items():
                split = (0.02, 0.0, 0.98) if name == "holdout" else (0.8, 0.1, 0.1)
                client.create_dataset(name, "image-classification", folder, split=split)
            started = time.perf_counter()
            job = client.train("union", name="central", cpu=2).job
            assert client.wait_job(job.id).status.value == "succeeded", client.job_logs(job.id)
            central_s = time.perf_counter() - started
            started = time.perf_counter()
            sites = {site: f"site-{site}" for site in SITES}
            client.create_federation(
                "federated", sites, rounds=args.rounds, local_epochs=args.local_epochs, cpu=0.5
            )
            found = client.wait_federation("federated")
            assert found.status == "succeeded", found.reason
            federated_s = time.perf_counter() - started
            central = held_out_accuracy(client, "central:v1")
            federated = held_out_accuracy(client, found.model)
    finally:
        launcher.stop(settings)
        shutil.rmtree(work, ignore_errors=True)
    print(f"\ndigits, 3 non-IID sites, {args.rounds} rounds x {args.local_epochs} local epochs")
    print("                              held-out accuracy   seconds (submit -> model)")
    print(f"  centralised (fermion train) : {central:10.4f}        {central_s:8.1f}")
    print(f"  federated (FedAvg)          : {federated:10.4f}        {federated_s:8.1f}")
    print(f"  per round                   :                   {federated_s / args.rounds:8.1f}")
    print(f"  accuracy, federated / centralised: {federated / central:.3f}")
    record(
        "federated.accuracy",
        "held-out accuracy, federated (3 non-IID sites) / centralised",
        federated / central,
        0.97,
        ours=federated,
        baseline=central,
    )


if __name__ == "__main__":
    main()
