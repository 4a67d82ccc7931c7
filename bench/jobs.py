"""Time from `fermion job run` to the script's first line of output, against the same
script started with torchrun by hand, in the same run.

    python bench/jobs.py [--nproc 2] [--repeat 5]

Both start 2 processes on gloo; the script prints its first line before any import.
The Fermion figure includes packing and uploading the working directory, queueing,
scheduling, the supervisor and the log stream back to the CLI.
"""

from __future__ import annotations

import argparse
import os
import selectors
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from fermion.client import launcher
from fermion.settings import Settings

SCRIPT = """\
import os
print(f"first line from rank {os.environ.get('RANK')}", flush=True)
import torch.distributed as dist
dist.init_process_group("gloo")
dist.barrier()
dist.destroy_process_group()
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def seconds_to_first_line(command: list[str], cwd: Path, env: dict[str, str]) -> float:
    start = time.perf_counter()
    process = subprocess.Popen(
        command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
    )
    selector = selectors.DefaultSelector()
    selector.register(process.stdout, selectors.EVENT_READ)
    buffer = b""
    try:
        while b"first line" not in buffer:
            if not selector.select(timeout=120):
                raise RuntimeError(f"no first line from {command}")
            chunk = os.read(process.stdout.fileno(), 65536)
            if not chunk:
                raise RuntimeError(f"{command} ended without its first line")
            buffer += chunk
        return time.perf_counter() - start
    finally:
        process.wait(timeout=120)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--nproc", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="fermion-bench-jobs-"))
    code = work / "code"
    code.mkdir()
    (code / "script.py").write_text(SCRIPT)
    settings = Settings(home=work / "home", port=free_port())
    launcher.start(settings)
    env = {
        **os.environ,
        "FERMION_HOME": str(settings.home),
        "FERMION_PORT": str(settings.port),
        "OMP_NUM_THREADS": "1",
    }
    fermion = [
        str(Path(sys.executable).with_name("fermion")),
        "job",
        "run",
        f"--nproc={args.nproc}",
        f"--cpu={args.nproc}",
        "--memory=2Gi",
        "--follow",
        "--",
        "python",
        "script.py",
    ]
    torchrun = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        f"--nproc-per-node={args.nproc}",
        "script.py",
    ]
    try:
        seconds_to_first_line(fermion, code, env)  # warm-up: file caches, first job folder
        seconds_to_first_line(torchrun, code, env)
        ours, plain = [], []
        for _ in range(args.repeat):  # interleaved, so drift affects both alike
            ours.append(seconds_to_first_line(fermion, code, env))
            plain.append(seconds_to_first_line(torchrun, code, env))
    finally:
        launcher.stop(settings)
        shutil.rmtree(work, ignore_errors=True)
    a, b = statistics.median(ours), statistics.median(plain)
    print(f"\ntime to the script's first line, {args.nproc} processes, median of {args.repeat}")
    print(f"  fermion job run --follow : {a:6.2f} s  (min {min(ours):.2f}, max {max(ours):.2f})")
    print(f"  torchrun by hand         : {b:6.2f} s  (min {min(plain):.2f}, max {max(plain):.2f})")
    print(f"  ratio {a / b:.2f}x, difference {a - b:+.2f} s")


if __name__ == "__main__":
    main()
