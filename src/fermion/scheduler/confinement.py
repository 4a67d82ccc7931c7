"""What a job starts with, and what of this machine it sees.

- Its environment: this machine's, without the server's own settings and secrets
  (PRIVATE_ENV, every FERMION_*) or any credential it holds for other systems
  (CREDENTIAL_ENV: cloud keys, tokens, passwords); FERMION_HOME and HOME are a folder of
  the job's own, never the server's.
- Its token, in a file only it reads (FERMION_TOKEN_FILE, 0600, in its own folder), not
  in its environment, where `/proc/PID/environ` would show it to any process of the same
  user. The token reaches its own job, and reads its workspace's datasets and models
  (auth.Principal.check_scope).
- Its secrets, opened into its environment only (its log masks them).
- A sandbox (sandbox.py: user, mount and process namespaces, no privileges needed): the
  server's home, database and artifact store look empty but for the job's own folder
  and its workspace's dataset cache, and so do the credential folders of the server
  user's home (CREDENTIAL_DIRS); /dev/shm is its own; it sees no process but its own, so
  it can neither read another job's environment nor signal the server or another job.
  A job with a scope (a federated site) also gets a /tmp of its own.

Isolation modes (FERMION_JOB_ISOLATION): `auto` (the default) sandboxes every job where
the kernel allows unprivileged user namespaces, and otherwise runs jobs as the server's
user with its home hidden only by file modes (0700/0600): a weaker mode, which the
server's log and /healthz name. `sandbox` refuses to start a job it cannot sandbox;
`none` sandboxes only scoped jobs. A job with a scope is always sandboxed.
"""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
from functools import cache
from pathlib import Path

from fermion.scheduler.executor import Isolation
from fermion.scheduler.files import JobFiles
from fermion.settings import Settings
from fermion.store.tables import JobRow

log = logging.getLogger("fermion.scheduler")

# Variables of the server that a job must not inherit.
PRIVATE_ENV = (
    "FERMION_DATABASE_URL",
    "FERMION_ARTIFACT_OPTIONS",
    "FERMION_TOKEN",
    "FERMION_TOKEN_FILE",
    "FERMION_MASTER_KEY",
)
# ... and the credentials that the server's user may hold for other systems (clouds,
# registries, hubs): a job gets what it asks for with --secret, nothing of the server's.
CREDENTIAL_ENV = re.compile(
    r"^(AWS_|AZURE_|GOOGLE_|GCP_|GCLOUD_|CLOUDSDK_|KUBE|DOCKER_|GH_|GITHUB_|HF_TOKEN|PG)"
    r"|TOKEN|SECRET|PASSW|CREDENTIAL|API_KEY|ACCESS_KEY|PRIVATE_KEY"
)
# Folders of the server user's home where such credentials live, hidden in the sandbox.
CREDENTIAL_DIRS = (
    ".aws",
    ".azure",
    ".config/gcloud",
    ".config/gh",
    ".kube",
    ".docker",
    ".ssh",
    ".gnupg",
    ".fermion",
)
TOKEN_FILE = "token"


@cache
def sandbox_works() -> bool:
    """Whether this machine lets an unprivileged process make the sandbox's namespaces."""
    probe = [sys.executable, "-m", "fermion.scheduler.sandbox", "--", "true"]
    try:
        return subprocess.run(probe, capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def sandboxes(settings: Settings, job: JobRow) -> bool:
    mode = settings.job_isolation
    if job.scope or mode == "sandbox":
        return True
    return mode == "auto" and sandbox_works()


def describe_mode(settings: Settings) -> str:
    """One line for the log and /healthz: how jobs are kept apart on this server."""
    if settings.job_isolation == "none":
        return "jobs run as the server's user, unsandboxed (FERMION_JOB_ISOLATION=none)"
    if sandbox_works():
        return "every job runs sandboxed (user, mount and process namespaces)"
    if settings.job_isolation == "sandbox":
        return "jobs cannot start: FERMION_JOB_ISOLATION=sandbox, and this kernel refuses"
    return (
        "weaker isolation: this kernel refuses unprivileged user namespaces, so jobs run as"
        " the server's user, kept from its files by their modes only; allow them"
        " (sysctl kernel.unprivileged_userns_clone=1) or run the server as its own user"
    )


def workspace_cache_dir(settings: Settings, workspace_id: int) -> Path:
    return settings.home / "cache" / "workspaces" / str(workspace_id)


def workspace_cache(settings: Settings, job: JobRow) -> Path:
    """Datasets and models a job downloads are cached per workspace: its jobs share them
    (content-addressed), no other workspace's job sees them."""
    return workspace_cache_dir(settings, job.workspace_id)


def isolation(settings: Settings, store: Path | None, job: JobRow, files: JobFiles) -> Isolation:
    """The server's folders hidden; the job's own folder (and cache) kept."""
    hide = [settings.home, Path("/dev/shm")]  # /dev/shm: its own, where it keeps private copies
    hide += [store] if store is not None else []
    hide += [Path.home() / name for name in CREDENTIAL_DIRS]
    database = settings.resolved_database_url
    if database.startswith("sqlite:///"):
        hide.append(Path(database.removeprefix("sqlite:///")).parent)
    keep = [files.root]
    if job.scope:
        hide.append(Path("/tmp"))
    else:
        keep.append(workspace_cache(settings, job))
    return Isolation(hide=hide, keep=keep)


def write_token(files: JobFiles, token: str) -> Path:
    """The job's token in a file that only its user reads, replaced atomically."""
    path = files.root / TOKEN_FILE
    tmp = path.with_name(f".{TOKEN_FILE}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(token)
    os.replace(tmp, path)
    return path


def copy_trusted(settings: Settings, files: JobFiles) -> Path:
    """The certificates the job trusts for the server, in its own folder: the sandbox
    hides the server's home, where they may be kept. Public, so no secret moves."""
    path = files.root / "ca.pem"
    path.write_bytes(settings.trusted_certificates.read_bytes())
    return path


def environment(
    settings: Settings, job: JobRow, files: JobFiles, token: str, gpu_ids: list[int]
) -> dict[str, str]:
    threads = str(max(1, int(job.cpu // max(job.nproc, 1))))
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in PRIVATE_ENV and not CREDENTIAL_ENV.search(k) and not k.startswith("FERMION_")
    }
    env.update(job.env)
    env.update(
        {
            "FERMION_URL": settings.server_url,
            "FERMION_TOKEN_FILE": str(write_token(files, token)),
            "FERMION_AUTOSTART": "false",
            # Its own: its caches and settings stay in the folder it may see.
            "FERMION_HOME": str(files.root / "home"),
            "HOME": str(files.root / "home"),  # not the server user's, with its dotfiles
            "FERMION_JOB_ID": str(job.id),
            "FERMION_JOB_ATTEMPT": str(job.attempt),
            "FERMION_JOB_DIR": str(files.root),
            "OMP_NUM_THREADS": threads,
            "MKL_NUM_THREADS": threads,
            # GPUs are never shared: a job sees only its own, a CPU job none.
            "CUDA_VISIBLE_DEVICES": ",".join(str(g) for g in gpu_ids),
            "PYTHONUNBUFFERED": "1",
        }
    )
    if settings.trusted_certificates:  # HTTPS with a certificate of its own: trust it
        env["FERMION_CA_BUNDLE"] = str(copy_trusted(settings, files))
    if not job.scope:
        cache_dir = workspace_cache(settings, job)
        cache_dir.mkdir(parents=True, exist_ok=True)
        env["FERMION_CACHE_DIR"] = str(cache_dir)
    return env
