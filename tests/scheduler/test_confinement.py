"""Escape attempts, each made by a real job against a real server: read the server's
home, database and credentials; read another job's environment and files; signal the
server and another job; call the API beyond the job's own scope; register a folder
outside its output. Each fails, and the job's report says how."""

from __future__ import annotations

import json
import os

import pytest

import fermion as fm
from tests.scheduler.conftest import job_processes, script, wait_for

ATTACKER = """
import json, os, sys
from pathlib import Path

import httpx

home, victim_dir, victim_pid, server_pid, victim_job = sys.argv[1:6]
token = Path(os.environ["FERMION_TOKEN_FILE"]).read_text().strip()
api = os.environ["FERMION_URL"] + "/api/v1"
headers = {"Authorization": f"Bearer {token}"}
own = os.environ["FERMION_JOB_ID"]
report = {}

def attempt(name, action):
    try:
        report[name] = f"done: {str(action())[:200]}"
    except Exception as exc:
        report[name] = f"{type(exc).__name__}: {exc}"[:300]

attempt("list server home", lambda: sorted(os.listdir(home)))
attempt("read credentials", lambda: Path(home, "credentials").read_text())
attempt("read database", lambda: Path(home, "fermion.db").read_bytes()[:16])
attempt("read other job's environment", lambda: Path(f"/proc/{victim_pid}/environ").read_bytes())
attempt("read other job's files", lambda: os.listdir(victim_dir))
attempt("signal other job", lambda: os.kill(int(victim_pid), 15))
attempt("signal server", lambda: os.kill(int(server_pid), 15))
report["token in environment"] = "FERMION_TOKEN" in os.environ
report["server home in environment"] = any(v.rstrip("/") == home for v in os.environ.values())

def status(method, path, **kw):
    return httpx.request(method, api + path, headers=headers, timeout=30, **kw).status_code

report["api"] = {
    "list jobs": status("GET", "/jobs"),
    "read other job": status("GET", f"/jobs/{victim_job}"),
    "cancel other job": status("POST", f"/jobs/{victim_job}/cancel"),
    "make a token": status("POST", "/tokens", json={"name": "mine"}),
    "set a secret": status("PUT", "/secrets/STOLEN", json={"value": "x"}),
    "list users": status("GET", "/users"),
    "own job": status("GET", f"/jobs/{own}"),
}
artifacts = Path(os.environ["FERMION_JOB_DIR"]) / "artifacts"
(artifacts / "model").mkdir(parents=True, exist_ok=True)
(artifacts / "model" / "config.json").symlink_to(Path(home) / "credentials")
# Links for the server to follow when it serves or copies the job's files.
job_dir = Path(os.environ["FERMION_JOB_DIR"])
(artifacts / "loot.txt").symlink_to(Path(home) / "credentials")
(job_dir / "tensorboard").mkdir(exist_ok=True)
(job_dir / "tensorboard" / "events.loot").symlink_to(Path(home) / "credentials")
(job_dir / "logs" / "attempt-9.log").symlink_to(Path(home) / "credentials")
register = lambda folder: httpx.post(
    f"{api}/jobs/{own}/model", headers=headers, json={"name": "loot", "folder": folder}, timeout=30
)
report["register ../../.."] = register("../../..").status_code
report["register a folder that links out"] = register("model").status_code
print("REPORT " + json.dumps(report), flush=True)
"""


def test_a_job_cannot_reach_the_server_or_another_job(jobs, jobs_server, tmp_path):
    victim = jobs.submit_job(
        ["python", "-c", "import time; time.sleep(120)"],
        name="victim",
        env={"VICTIMS_MARK": "private"},
        cpu=0.5,
        workdir=None,
    )
    processes = wait_for(lambda: job_processes(jobs, victim.id), what="the victim's processes")
    victim_dir = processes[0].environ()["FERMION_JOB_DIR"]
    server_pid = json.loads((jobs_server.home / "server.pid").read_text())["pid"]
    folder = script(tmp_path / "attacker", ATTACKER)
    home = str(jobs_server.home.resolve())
    attacker = jobs.submit_job(
        [
            "python",
            "job.py",
            home,
            victim_dir,
            str(processes[0].pid),
            str(server_pid),
            str(victim.id),
        ],
        name="attacker",
        cpu=0.5,
        workdir=folder,
    )
    done = jobs.wait_job(attacker.id, timeout=120)
    log = jobs.job_logs(attacker.id)
    assert done.status.value == "succeeded", log
    report = json.loads(log.split("REPORT ", 1)[1].splitlines()[0])
    # An empty folder in its place, but for the way to the job's own folder and cache.
    assert report["list server home"] == "done: ['artifacts', 'cache']"
    for name in ("read credentials", "read database", "read other job's files"):
        assert report[name].startswith("FileNotFoundError"), report
    assert report["read other job's environment"].startswith("FileNotFoundError"), report
    for name in ("signal other job", "signal server"):
        assert report[name].startswith("ProcessLookupError"), report
    assert report["token in environment"] is False
    assert report["server home in environment"] is False
    assert report["api"] == {
        "list jobs": 403,
        "read other job": 403,
        "cancel other job": 403,
        "make a token": 403,
        "set a secret": 403,
        "list users": 403,
        "own job": 200,
    }
    assert report["register ../../.."] == 403
    assert report["register a folder that links out"] == 403
    # The server serves the job's own files only, never what a link of the job's names.
    admin_token = (jobs_server.home / "credentials").read_text().strip()
    assert "loot.txt" not in jobs.job_artifacts(attacker.id)
    with pytest.raises(fm.NotFound):
        jobs.download_artifact(attacker.id, "loot.txt", tmp_path / "loot.txt")
    with pytest.raises(fm.NotFound, match="no TensorBoard events"):
        jobs.download_tensorboard(attacker.id, tmp_path / "tb")
    assert admin_token not in jobs.job_logs(attacker.id, attempt=9)
    assert jobs.get_job(victim.id).status.value == "running"  # untouched by all that
    assert os.path.exists(jobs_server.home / "credentials")
    jobs.cancel_job(victim.id)


def test_the_token_file_is_the_jobs_own(jobs, tmp_path):
    """Readable by the job's user only, in the job's own folder, gone from no log."""
    folder = script(
        tmp_path / "reader",
        """
        import os, stat
        path = os.environ["FERMION_TOKEN_FILE"]
        print("MODE", oct(stat.S_IMODE(os.stat(path).st_mode)))
        print("INSIDE", path.startswith(os.environ["FERMION_JOB_DIR"]))
        """,
    )
    job = jobs.submit_job(["python", "job.py"], name="reader", cpu=0.5, workdir=folder)
    assert jobs.wait_job(job.id, timeout=60).status.value == "succeeded"
    log = jobs.job_logs(job.id)
    assert "MODE 0o600" in log and "INSIDE True" in log


def test_the_server_says_how_it_keeps_jobs_apart(jobs):
    assert "every job runs sandboxed" in jobs.capacity().job_isolation
