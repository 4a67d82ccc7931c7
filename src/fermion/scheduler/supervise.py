"""`python -m fermion.scheduler.supervise --state-dir D --log F -- COMMAND...`

One supervisor per job attempt, started by the local executor in a session of its own.
It runs COMMAND with its output appended to F, and writes D/started.json when the
command is running and D/exit.json (atomically) when it has ended, so that a restarted
server can still learn how an attempt ended.

It is a child subreaper: processes the command leaves behind (torchrun's workers start
sessions of their own) stay its descendants, so SIGTERM to the supervisor stops all of
them (SIGKILL after --grace seconds) and nothing outlives the attempt.

An attempt whose state folder disappears (its server's home was removed: a test's, a
demo's) has no server to report to ever again: the supervisor stops it and exits.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO

import psutil

PR_SET_CHILD_SUBREAPER = 36
PR_SET_PDEATHSIG = 1
ORPHAN_CHECK_S = 5.0  # how often the supervisor looks for its state folder


def die_with_supervisor() -> None:
    """In the child, before exec: SIGKILL it if the supervisor dies. Otherwise a supervisor
    killed with SIGKILL leaves the command running, unwatched, beside the attempt that
    replaces it (both writing the same checkpoints)."""
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def write_json(path: Path, value: dict) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(value))
    os.replace(tmp, path)


def descendants() -> list[psutil.Process]:
    try:
        return psutil.Process().children(recursive=True)
    except psutil.Error:
        return []


def signal_all(processes: list[psutil.Process], signum: int) -> None:
    for process in processes:
        with contextlib.suppress(psutil.Error):
            process.send_signal(signum)


def reap_orphans(main_pid: int) -> None:
    """Collect the exit status of adopted processes so they do not linger as zombies.
    One system call when there are none: listing descendants here (every /proc entry on
    the machine, ten times a second) took a tenth of a core from the job it watches."""
    while True:
        try:  # which child has exited, without collecting it yet
            exited = os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:
            return  # no children at all
        if exited is None or exited.si_pid == main_pid:
            return  # none, or the command itself: Popen collects its status
        with contextlib.suppress(ChildProcessError):
            os.waitpid(exited.si_pid, 0)


def stop_everything(grace_s: float) -> None:
    signal_all(descendants(), signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while descendants() and time.monotonic() < deadline:
        reap_orphans(-1)
        time.sleep(0.1)
    signal_all(descendants(), signal.SIGKILL)


MASK = b"********"
MAX_HELD = 65536  # a line longer than this is masked and written in pieces


def masking_copy(source: IO[bytes], log: IO[bytes], values: list[bytes]) -> None:
    """Copy the command's output to the log line by line, each secret value replaced,
    so the log file never holds one (a value split across a very long line may be)."""
    values = sorted((v for v in values if v), key=len, reverse=True)

    def masked(data: bytes) -> bytes:
        for value in values:
            data = data.replace(value, MASK)
        return data

    held = b""
    while chunk := source.read1(65536):
        held += chunk
        lines, _, held = held.rpartition(b"\n")
        if lines:
            log.write(masked(lines + b"\n"))
        if len(held) > MAX_HELD:
            log.write(masked(held))
            held = b""
    if held:
        log.write(masked(held))


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("--state-dir", type=Path, required=True)
    parser.add_argument("--log", type=Path, required=True)
    parser.add_argument("--grace", type=float, default=5.0)
    parser.add_argument("--mask-env", default="", help="NAME,...: their values never reach the log")
    parser.add_argument("command", nargs=argparse.REMAINDER)
    return parser.parse_args()


def start(
    command: list[str], log: IO[bytes], secrets: list[bytes]
) -> tuple[subprocess.Popen, threading.Thread | None]:
    """The command, its output going to the log (through a masking copy, with secrets)."""
    child = subprocess.Popen(
        command,
        stdout=subprocess.PIPE if secrets else log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        preexec_fn=die_with_supervisor if sys.platform.startswith("linux") else None,
    )
    copier = None
    if secrets:
        copier = threading.Thread(target=masking_copy, args=(child.stdout, log, secrets))
        copier.start()
    return child, copier


def main() -> int:
    args = parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    args.state_dir.mkdir(parents=True, exist_ok=True)
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)

    stop_at: list[float] = []

    def on_terminate(signum: int, _frame: object) -> None:
        if not stop_at:
            stop_at.append(time.monotonic() + args.grace)
            signal_all(descendants(), signal.SIGTERM)

    signal.signal(signal.SIGTERM, on_terminate)
    signal.signal(signal.SIGINT, on_terminate)

    secrets = [os.environ[n].encode() for n in args.mask_env.split(",") if n in os.environ]
    with open(args.log, "ab", buffering=0) as log:
        try:
            child, copier = start(command, log, secrets)
        except OSError as exc:
            log.write(f"fermion: cannot run {command[0]!r}: {exc.strerror}\n".encode())
            write_json(args.state_dir / "exit.json", {"exit_code": 127, "signal": None})
            return 127
        write_json(args.state_dir / "started.json", {"pid": child.pid, "time": time.time()})
        next_check = time.monotonic() + ORPHAN_CHECK_S
        while (code := child.poll()) is None:
            reap_orphans(child.pid)
            if stop_at and time.monotonic() > stop_at[0]:
                signal_all(descendants(), signal.SIGKILL)
            if time.monotonic() > next_check:
                next_check = time.monotonic() + ORPHAN_CHECK_S
                if not args.state_dir.exists():  # the home is gone, and the server with it
                    stop_everything(args.grace)
                    return 0
            time.sleep(0.1)
        if descendants():  # whatever the command left running ends with it
            stop_everything(args.grace)
        if copier is not None:  # the last of the output, masked
            copier.join(timeout=10)
    status = (
        {"exit_code": code, "signal": None} if code >= 0 else {"exit_code": None, "signal": -code}
    )
    write_json(args.state_dir / "exit.json", status)
    return 0


if __name__ == "__main__":
    sys.exit(main())
