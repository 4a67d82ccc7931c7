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
    assert command[-3:] == [sys.executable, "-m", "pkg.train"]
    # Each rank starts through tf_config, which sets TF_CONFIG and becomes the command.
    wrapper = command.index("--no-python") + 1
    assert command[wrapper : wrapper + 3] == [sys.executable, "-m", "fermion.scheduler.tf_config"]
    workers = command[wrapper + 3].removeprefix("--workers=").split(",")
    assert len(set(workers)) == 4 and all(w.startswith("127.0.0.1:") for w in workers)


def test_each_rank_gets_tf_config_naming_the_cluster_and_itself(tmp_path):
    """The wrapper as torchrun runs it: TF_CONFIG for RANK, then the command itself."""
    import json
    import os
    import subprocess

    workers = "--workers=127.0.0.1:7001,127.0.0.1:7002"
    show = [sys.executable, "-c", "import os; print(os.environ['TF_CONFIG'])"]
    env = {k: v for k, v in os.environ.items() if k != "TF_CONFIG"}
    out = subprocess.run(
        [sys.executable, "-m", "fermion.scheduler.tf_config", workers, "--", *show],
        env={**env, "RANK": "1"},
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(out.stdout) == {
        "cluster": {"worker": ["127.0.0.1:7001", "127.0.0.1:7002"]},
        "task": {"type": "worker", "index": 1},
    }


def test_a_node_of_several_runs_torchrun_with_its_rank_and_the_rendezvous():
    from fermion.scheduler.local import NodeRank

    node = NodeRank(nodes=3, rank=2, master="10.0.0.1:29400")
    command = process_command(["python", "train.py"], 4, Path("/a"), node)
    assert command[:3] == [sys.executable, "-m", "torch.distributed.run"]
    assert {"--nnodes=3", "--node-rank=2", "--master-addr=10.0.0.1", "--master-port=29400"} <= set(
        command
    )
    assert "--standalone" not in command and "--nproc-per-node=4" in command
    assert "--log-dir=/a/torchrun-node2" in command  # nodes share the folder, not the logs
    assert command[-2:] == [sys.executable, "train.py"]
    # One process on each node still runs under torchrun: the ranks need the rendezvous.
    assert process_command(["python", "t.py"], 1, Path("/a"), node)[2] == "torch.distributed.run"
