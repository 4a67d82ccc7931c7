"""The sandbox a scoped job runs in (a federated site's): hidden folders are empty but
for what it keeps, it sees only its own processes, and it ends like its command."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

SANDBOX = [sys.executable, "-m", "fermion.scheduler.sandbox"]


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*SANDBOX, *args], capture_output=True, text=True, timeout=60)


def test_hidden_folders_show_only_what_is_kept(tmp_path):
    for name in ("mine", "theirs"):
        (tmp_path / "home" / name).mkdir(parents=True)
        (tmp_path / "home" / name / "data.txt").write_text(f"{name}'s records")
    home = tmp_path / "home"
    keep = ["--hide", str(home), "--keep", str(home / "mine")]

    mine = run(*keep, "--", "cat", str(home / "mine" / "data.txt"))
    assert mine.returncode == 0 and mine.stdout == "mine's records"
    theirs = run(*keep, "--", "cat", str(home / "theirs" / "data.txt"))
    assert theirs.returncode == 1 and "No such file" in theirs.stderr
    assert run(*keep, "--", "ls", str(home)).stdout.split() == ["mine"]
    # What it writes in a kept folder is really there; the hidden ones are untouched.
    run(*keep, "--", "sh", "-c", f"echo out > {home / 'mine' / 'result.txt'}")
    assert (home / "mine" / "result.txt").read_text() == "out\n"
    assert (home / "theirs" / "data.txt").exists()


def test_it_sees_its_own_processes_only():
    found = run("--hide", "/tmp", "--", "ls", "/proc")
    pids = sorted(int(name) for name in found.stdout.split() if name.isdigit())
    assert found.returncode == 0 and pids == [1, 2], found.stdout  # its init, and ls


def test_it_ends_like_its_command_and_passes_on_a_stop():
    assert run("--", "sh", "-c", "exit 7").returncode == 7
    assert run("--", "no-such-program").returncode == 127
    started = time.monotonic()
    process = subprocess.Popen([*SANDBOX, "--", "sleep", "60"])
    time.sleep(1.0)
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=10) == 128 + signal.SIGTERM
    assert time.monotonic() - started < 10


def test_nothing_of_it_outlives_it_killed_outright():
    """SIGKILL (what a supervisor's own death passes on) gives no time to forward a
    stop: the namespace's init and the command end with it all the same."""
    import psutil

    process = subprocess.Popen([*SANDBOX, "--", "sleep", "60"])
    deadline = time.monotonic() + 10
    while len(inside := psutil.Process(process.pid).children(recursive=True)) < 2:
        assert time.monotonic() < deadline, "the sandbox's command did not start"
        time.sleep(0.05)
    process.kill()
    process.wait(timeout=10)
    gone, alive = psutil.wait_procs(inside, timeout=10)
    assert alive == [], [p.cmdline() for p in alive]
