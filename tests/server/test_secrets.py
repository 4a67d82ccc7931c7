"""A secret set and used by a real job: the job sees the value; the database, the logs,
every file under the server's home, the API and `job show` do not hold it."""

from __future__ import annotations

import hashlib
import json

import pytest
from typer.testing import CliRunner

from fermion.cli.main import app
from fermion.errors import InvalidInput, NotFound

VALUE = "sk-live-7f3a9c2e1b4d6f80a5"  # what a user would guard
JOB = f"""
import hashlib, os, sys
value = os.environ["API_KEY"]
print("calling the service with", value, flush=True)
sys.exit(0 if hashlib.sha256(value.encode()).hexdigest() == "{hashlib.sha256(VALUE.encode()).hexdigest()}" else 3)
"""


def fermion(server, *args: str, stdin: str | None = None) -> str:
    result = CliRunner().invoke(app, list(args), env=server.env, input=stdin)
    assert result.exit_code == 0, result.output
    return result.output


def test_a_job_gets_the_secret_and_nothing_shows_it(jobs_server, jobs):
    assert "API_KEY set" in fermion(jobs_server, "secret", "set", "API_KEY", stdin=VALUE + "\n")
    listed = fermion(jobs_server, "secret", "list")
    assert "API_KEY" in listed and VALUE not in listed

    job = jobs.submit_job(["python", "-c", JOB], secrets=["API_KEY"], workdir=None)
    done = jobs.wait_job(job.id, timeout=120)
    assert done.status.value == "succeeded", jobs.job_logs(job.id)  # it saw the value
    log = jobs.job_logs(job.id)
    assert "calling the service with ********" in log and VALUE not in log
    shown = fermion(jobs_server, "job", "show", str(job.id))
    assert "API_KEY (values never shown)" in shown and VALUE not in shown

    answers = [
        jobs._request("GET", path).text
        for path in (
            "/api/v1/jobs",
            f"/api/v1/jobs/{job.id}",
            f"/api/v1/jobs/{job.id}/config",
            "/api/v1/secrets",
        )
    ]
    assert all(VALUE not in text for text in answers)
    assert json.loads(answers[1])["secrets"] == ["API_KEY"]
    # Every file the server keeps: the database, logs, job folders, the key itself.
    held = [
        p for p in jobs_server.home.rglob("*") if p.is_file() and VALUE.encode() in p.read_bytes()
    ]
    assert held == [], held


def test_bad_secrets_are_refused_with_a_reason(jobs_server, jobs):
    with pytest.raises(InvalidInput, match="environment variable"):
        jobs.set_secret("1_NOT_A_NAME", "x")
    with pytest.raises(NotFound, match="fermion secret set NOPE"):
        jobs.submit_job(["python", "-c", "pass"], secrets=["NOPE"], workdir=None)
    with pytest.raises(InvalidInput, match="both a secret and an environment value"):
        jobs.submit_job(["true"], secrets=["API_KEY"], env={"API_KEY": "x"}, workdir=None)

    jobs.set_secret("SHORT_LIVED", "v")
    failing = ["python", "-c", "import sys; sys.exit(1)"]
    job = jobs.submit_job(failing, secrets=["SHORT_LIVED"], workdir=None)
    assert jobs.wait_job(job.id, timeout=120).status.value == "failed"
    jobs.delete_secret("SHORT_LIVED")
    assert "SHORT_LIVED" not in [s.name for s in jobs.list_secrets().data]
    again = jobs.wait_job(jobs.retry_job(job.id).id, timeout=60)
    assert again.status.value == "failed"
    assert "secret SHORT_LIVED no longer exists" in again.failure_reason
