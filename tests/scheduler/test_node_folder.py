"""A job's folder on a node that does not mount the server's home (node_folder.py):
shipped there, run in, and kept in step with the server's copy. The Ray tests run it on
a real node that sees the home empty; these go through its cases one by one."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from fermion.scheduler.executor import Isolation, LaunchSpec
from fermion.scheduler.node_folder import NodeFolder, apply, pack


def job_folder(root: Path) -> LaunchSpec:
    (root / "code").mkdir(parents=True)
    (root / "code" / "run.sh").write_text("#!/bin/sh\necho hi\n")
    (root / "code" / "run.sh").chmod(0o755)
    (root / "checkpoints" / "last").mkdir(parents=True)
    (root / "checkpoints" / "last" / "state.json").write_text('{"epoch": 1}')
    (root / "logs").mkdir()
    (root / "logs" / "attempt-1.log").write_text("the first attempt's log\n")
    (root / "attempts" / "2").mkdir(parents=True)
    return LaunchSpec(
        job_id=7,
        attempt=2,
        command=["./run.sh", f"--config={root}/code/config.json"],
        nproc=1,
        env={"FERMION_JOB_DIR": str(root), "FERMION_CACHE_DIR": "/srv/fermion/cache/ws-1"},
        job_dir=root,
        code_dir=root / "code",
        attempt_dir=root / "attempts" / "2",
        log_path=root / "logs" / "attempt-2.log",
        isolation=Isolation(hide=[Path("/srv/fermion")], keep=[root]),
    )


@pytest.fixture
def shipped(tmp_path, monkeypatch):
    monkeypatch.setenv("TMPDIR", str(tmp_path / "node-tmp"))  # the node's temp folder
    (tmp_path / "node-tmp").mkdir()
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)  # read TMPDIR again
    server = tmp_path / "server" / "jobs" / "7"
    spec = job_folder(server)
    node = NodeFolder(spec, pack(server), "job-7-2-abc")
    yield server, node
    node.discard()


def test_the_job_runs_in_a_copy_of_its_folder_with_every_path_moved_there(shipped):
    server, node = shipped
    spec = node.spec
    assert spec.job_dir == node.root and str(node.root).startswith(os.environ["TMPDIR"])
    assert (spec.code_dir / "run.sh").read_text() == "#!/bin/sh\necho hi\n"
    assert os.access(spec.code_dir / "run.sh", os.X_OK)  # modes kept: scripts still run
    assert (spec.job_dir / "checkpoints" / "last" / "state.json").exists()  # to resume from
    assert not (spec.job_dir / "logs" / "attempt-1.log").exists()  # logs stay on the server
    assert spec.command == ["./run.sh", f"--config={node.root}/code/config.json"]
    assert spec.env["FERMION_JOB_DIR"] == str(node.root)
    cache = Path(spec.env["FERMION_CACHE_DIR"])
    assert cache.is_dir() and not str(cache).startswith("/srv/fermion")
    assert spec.isolation.keep == [node.root, cache]
    # The server's home hidden as before, and the other jobs' folders on this node.
    assert spec.isolation.hide == [Path("/srv/fermion"), node.root.parent]
    assert spec.attempt_dir == node.root / "attempts" / "2"


def test_what_changes_on_the_node_reaches_the_servers_copy(shipped):
    server, node = shipped
    log = server / "logs" / "attempt-2.log"
    log.write_text("[rank0]: from another node\n")  # other nodes write the shared log
    spec = node.spec
    spec.log_path.write_text("[rank1]: a whole line\n[rank1]: half a li")
    events = spec.job_dir / "tensorboard" / "events.1"
    events.parent.mkdir()
    events.write_bytes(b"A" * 10)
    changes = node.changes(scan=True)
    apply(changes, server, log)
    assert log.read_text() == "[rank0]: from another node\n[rank1]: a whole line\n"
    assert (server / "tensorboard" / "events.1").read_bytes() == b"A" * 10

    # Grown in place: only the new bytes travel. Swapped in: whole. Removed: removed.
    with open(events, "ab") as f:
        f.write(b"B" * 5)
    (spec.job_dir / "checkpoints" / "next").mkdir()
    (spec.job_dir / "checkpoints" / "next" / "state.json").write_text('{"epoch": 2}')
    os.rename(spec.job_dir / "checkpoints" / "last", spec.job_dir / "checkpoints" / "old")
    os.rename(spec.job_dir / "checkpoints" / "next", spec.job_dir / "checkpoints" / "last")
    changes = node.changes(scan=True)
    assert changes["files"]["tensorboard/events.1"] == (10, b"B" * 5, "append", True)
    apply(changes, server, log)
    assert (server / "tensorboard" / "events.1").read_bytes() == b"A" * 10 + b"B" * 5
    assert (server / "checkpoints" / "last" / "state.json").read_text() == '{"epoch": 2}'
    assert (server / "checkpoints" / "old" / "state.json").read_text() == '{"epoch": 1}'
    (spec.job_dir / "checkpoints" / "old" / "state.json").unlink()
    apply(node.changes(scan=True), server, log)
    assert not (server / "checkpoints" / "old").exists()  # its folder too, once empty

    # Ended: the last line goes, whole or not, and nothing is sent twice.
    apply(node.changes(final=True), server, log)
    assert log.read_text().endswith("[rank1]: half a li")
    assert node.changes(final=True) == {"log": b"", "files": {}, "removed": [], "left": False}


def test_the_exit_comes_after_everything_else(shipped, monkeypatch):
    server, node = shipped
    monkeypatch.setattr("fermion.scheduler.node_folder.MAX_BATCH_BYTES", 8)
    state = node.spec.attempt_dir
    (state / "exit.json").write_text('{"exit_code": 0}')
    (node.root / "artifacts" / "model").mkdir(parents=True)
    (node.root / "artifacts" / "model" / "weights").write_bytes(b"W" * 20)
    (node.root / "artifacts" / "model" / "config.json").write_bytes(b"C" * 20)
    # 20 bytes a file, 8 a batch: each goes in pieces, to a part file renamed in with
    # its last piece; the exit only once nothing else is left.
    log = server / "logs" / "attempt-2.log"
    ended = server / "attempts" / "2" / "exit.json"
    batches = 0
    while True:
        changes = node.changes(final=True)
        batches += 1
        apply(changes, server, log)
        if changes["left"]:  # the server sees no exit while anything is still to come
            assert not ended.exists(), changes
        else:
            break
    assert batches >= 6 and ended.read_text() == '{"exit_code": 0}'
    assert (server / "artifacts" / "model" / "weights").read_bytes() == b"W" * 20
    assert (server / "artifacts" / "model" / "config.json").read_bytes() == b"C" * 20
    assert not list(server.rglob("*.fermion-part"))


def test_a_node_names_no_file_outside_the_jobs_folder(tmp_path):
    job = tmp_path / "jobs" / "7"
    job.mkdir(parents=True)
    changes = {
        "log": b"a line\n",
        "files": {"../8/token": (0, b"x", "whole", True), "ok.txt": (0, b"y", "whole", True)},
        "removed": ["gone/already.txt"],
    }
    problems = apply(changes, job, job / "logs" / "attempt-1.log")
    assert len(problems) == 1 and "outside the job's folder" in problems[0]
    assert not (tmp_path / "jobs" / "8").exists()
    # The rest is written all the same: a bad entry does not hold back the others.
    assert (job / "ok.txt").read_text() == "y"
    assert (job / "logs" / "attempt-1.log").read_text() == "a line\n"


def test_a_file_rewritten_in_place_and_longer_goes_whole(shipped):
    server, node = shipped
    state = node.root / "checkpoints" / "last" / "state.json"
    state.write_text('{"epoch": 10}')  # same inode, longer, different from the start
    changes = node.changes(scan=True)
    assert changes["files"]["checkpoints/last/state.json"][:3] == (0, b'{"epoch": 10}', "whole")
    apply(changes, server, server / "logs" / "attempt-2.log")
    assert (server / "checkpoints" / "last" / "state.json").read_text() == '{"epoch": 10}'


def test_a_folder_gone_from_the_node_removes_nothing_on_the_server(shipped):
    server, node = shipped
    node.discard()  # or a cleaner emptied the node's temp folder
    changes = node.changes(final=True)
    assert changes["removed"] == [] and changes["files"] == {}
    assert (server / "code" / "run.sh").exists()


def test_only_the_jobs_own_paths_are_moved(tmp_path, monkeypatch):
    monkeypatch.setattr("fermion.scheduler.node_folder.tempfile.tempdir", str(tmp_path))
    server = tmp_path / "server" / "jobs" / "12"
    spec = job_folder(server)
    spec.env["OTHER"] = f"{server}0/data:{server}/code"  # job 120's folder, then its own
    node = NodeFolder(spec, pack(server), "job-12-1-abc")
    assert node.spec.env["OTHER"] == f"{server}0/data:{node.root}/code"


def test_a_sweep_removes_only_this_servers_folders_whose_actor_is_gone(tmp_path, monkeypatch):
    from fermion.scheduler.node_folder import node_base, sweep

    monkeypatch.setattr("fermion.scheduler.node_folder.tempfile.tempdir", str(tmp_path))
    names = ["fermion-a-job-1-1-x", "fermion-a-job-2-1-y", "fermion-b-job-3-1-z", "cache"]
    for name in names:
        (node_base() / name).mkdir()
    sweep("fermion-a-job-", alive={"fermion-a-job-1-1-x"})
    # Its gone attempt's folder only: not its running one, another server's, or the cache.
    assert sorted(p.name for p in node_base().iterdir()) == [
        n for n in sorted(names) if "-2-" not in n
    ]
