"""How a job's command is run: this environment's Python, torchrun above one process."""

import sys
from pathlib import Path

from fermion.scheduler.local import process_command


def test_plain_commands_run_as_given_with_our_python():
    assert process_command(["python", "train.py", "-e", "3"], 1, Path("/a")) == [
        sys.executable,
        "train.py",
        "-e",
        "3",
    ]
    assert process_command(["bash", "run.sh"], 1, Path("/a")) == ["bash", "run.sh"]


def test_several_processes_run_under_torchrun_with_rank_prefixes():
    command = process_command(["python3", "-m", "pkg.train"], 4, Path("/a"))
    assert command[:3] == [sys.executable, "-m", "torch.distributed.run"]
    assert "--nproc-per-node=4" in command
    assert "--log-line-prefix-template=[rank${rank}]: " in command
    assert command[-4:] == ["--no-python", sys.executable, "-m", "pkg.train"]
