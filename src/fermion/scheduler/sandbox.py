"""`python -m fermion.scheduler.sandbox --hide DIR --keep DIR -- COMMAND...`: run a
command that must not see what other jobs keep on this machine (a federated site's job,
which may read its own dataset and nothing else).

Linux namespaces, no privileges needed: in a user namespace of its own (the same user id
inside), the command gets its own mount namespace, in which every `--hide` folder is
replaced by an empty one (a fresh tmpfs) and then only the `--keep` folders are put back,
and its own process namespace, in which it sees no process but its own (so not another
job's environment and token in /proc). The network is shared: the job still reaches
the server's API, whose answers its token limits.

Process tree: this process (outside; forwards SIGTERM/SIGINT and exits with the
command's status) -> the namespace's init (pid 1; reaps, forwards) -> the command."""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import os
import signal
import sys
from pathlib import Path

CLONE_NEWNS, CLONE_NEWUSER, CLONE_NEWPID = 0x00020000, 0x10000000, 0x20000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_BIND, MS_REC, MS_PRIVATE = 1, 2, 4, 4096, 16384, 1 << 18
EXIT_NO_SANDBOX = 125
PR_SET_PDEATHSIG = 1

_libc = ctypes.CDLL(None, use_errno=True)


class SandboxError(RuntimeError):
    pass


def _check(result: int, what: str) -> None:
    if result != 0:
        errno = ctypes.get_errno()
        raise SandboxError(f"{what}: {os.strerror(errno)}")


def mount(source: str, target: str, fstype: str | None, flags: int, data: str = "") -> None:
    _check(
        _libc.mount(
            source.encode(),
            target.encode(),
            fstype.encode() if fstype else None,
            flags,
            data.encode() if data else None,
        ),
        f"mount {target}",
    )


def enter_namespaces() -> None:
    """A user namespace (same ids inside), with its own mounts and process ids."""
    uid, gid = os.getuid(), os.getgid()
    _check(
        _libc.unshare(CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID),
        "unshare (are unprivileged user namespaces allowed?"
        " sysctl kernel.unprivileged_userns_clone / user.max_user_namespaces)",
    )
    Path("/proc/self/setgroups").write_text("deny")
    Path("/proc/self/uid_map").write_text(f"{uid} {uid} 1")
    Path("/proc/self/gid_map").write_text(f"{gid} {gid} 1")


def hide(hidden: list[Path], kept: list[Path]) -> None:
    """Cover each hidden folder with an empty tmpfs, then bind the kept folders (opened
    before, so reachable through /proc/self/fd) back in at their own paths."""
    mount("none", "/", None, MS_REC | MS_PRIVATE)  # nothing done here leaks outside
    handles = {path: os.open(path, os.O_PATH | os.O_DIRECTORY) for path in kept}
    for folder in sorted(hidden, key=lambda p: len(p.parts)):
        if folder.is_dir():
            mount("tmpfs", str(folder), "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755")
    for path, fd in handles.items():
        path.mkdir(parents=True, exist_ok=True)
        mount(f"/proc/self/fd/{fd}", str(path), None, MS_BIND | MS_REC)
        os.close(fd)
    mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV)  # this namespace's processes only


def forward_signals(pid: int) -> None:
    def forward(signum: int, _frame: object) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signum)

    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, forward)


def exit_code(status: int) -> int:
    code = os.waitstatus_to_exitcode(status)
    return code if code >= 0 else 128 - code


def init(command: list[str]) -> int:
    """pid 1 of the namespace: start the command, reap every orphan, and leave with the
    command's status (the namespace, and whatever is left in it, ends with us)."""
    child = os.fork()
    if child == 0:
        try:
            os.execvp(command[0], command)
        except OSError as exc:
            print(
                f"fermion: cannot run {command[0]!r}: {exc.strerror}", file=sys.stderr, flush=True
            )
            os._exit(127)
    forward_signals(child)
    while True:
        pid, status = os.wait()
        if pid == child:
            return exit_code(status)


def covered(path: Path, hidden: list[Path]) -> bool:
    return any(path == h or h in path.parents for h in hidden)


def kept_folders(hidden: list[Path], asked: list[Path]) -> list[Path]:
    """What the command needs of the hidden folders: what it was given, and this
    Python's own folders (a virtual environment or a checkout may lie under them)."""
    own = [Path(p).resolve() for p in (sys.prefix, sys.base_prefix, *sys.path) if p]
    needed = [p for p in own if p.is_dir() and covered(p, hidden)]
    return sorted({p.resolve() for p in [*asked, *needed]}, key=lambda p: len(p.parts))


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m fermion.scheduler.sandbox")
    parser.add_argument("--hide", action="append", type=Path, default=[])
    parser.add_argument("--keep", action="append", type=Path, default=[])
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    hidden = [p.resolve() for p in args.hide]
    kept = kept_folders(hidden, args.keep)
    try:
        enter_namespaces()
    except (SandboxError, OSError) as exc:
        print(f"error: this job runs isolated, and cannot be here: {exc}", file=sys.stderr)
        return EXIT_NO_SANDBOX
    pid = os.fork()  # the first child is pid 1 of the new process namespace
    if pid == 0:
        # Killed with this process: the kernel then ends every process of the namespace.
        # A supervisor killed outright (SIGKILL takes this process with it) leaves none.
        _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        try:
            hide(hidden, kept)
        except (SandboxError, OSError) as exc:
            print(f"error: cannot isolate this job: {exc}", file=sys.stderr, flush=True)
            os._exit(EXIT_NO_SANDBOX)
        os._exit(init(command))
    forward_signals(pid)
    _, status = os.waitpid(pid, 0)
    return exit_code(status)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
