"""`python -m fermion.scheduler.tf_config --workers HOST:PORT,... -- COMMAND`: one worker
of a multi-process job, with TF_CONFIG set for TensorFlow's MultiWorkerMirroredStrategy:
the cluster's workers, and this one's index (torchrun's RANK, so that TensorFlow's chief
is the rank that reports metrics). A TF_CONFIG the job was given is left as it is.
PyTorch ranks ignore it."""

from __future__ import annotations

import json
import os
import socket
import sys


def free_addresses(count: int, host: str = "127.0.0.1") -> list[str]:
    """`count` ports that are free now (held together while picked, so all differ)."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind((host, 0))
        return [f"{host}:{s.getsockname()[1]}" for s in sockets]
    finally:
        for s in sockets:
            s.close()


def tf_config(workers: list[str], index: int) -> str:
    return json.dumps({"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}})


def main(argv: list[str]) -> int:
    if not argv or not argv[0].startswith("--workers=") or argv[1:2] != ["--"] or not argv[2:]:
        print("usage: python -m fermion.scheduler.tf_config --workers=H:P,... -- COMMAND")
        return 2
    workers = argv[0].removeprefix("--workers=").split(",")
    command = argv[2:]
    os.environ.setdefault("TF_CONFIG", tf_config(workers, int(os.environ.get("RANK", "0"))))
    os.execvp(command[0], command)  # the worker becomes the command: signals reach it


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
