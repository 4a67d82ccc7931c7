"""`fermion job ...` as a user types it, against a real server and real processes."""

from __future__ import annotations

import json
import os
import textwrap

from typer.testing import CliRunner

from fermion.cli.main import app


def run(server, *args, cwd=None):
    old = os.getcwd()
    if cwd:
        os.chdir(cwd)
    try:
        return CliRunner().invoke(app, [str(a) for a in args], env=server.env)
    finally:
        os.chdir(old)


def test_run_follow_list_show(server, tmp_path):
    (tmp_path / "work.py").write_text(
        textwrap.dedent("""
        import os, sys
        print("greeting", os.environ["GREETING"], "args", sys.argv[1:])
    """)
    )
    result = run(
        server,
        "job",
        "run",
        "--name",
        "greeter",
        "--env",
        "GREETING=hello",
        "--memory",
        "512Mi",
        "--follow",
        "--",
        "python",
        "work.py",
        "--epochs",
        "3",
        cwd=tmp_path,
    )
    assert result.exit_code == 0, result.output
    assert "greeting hello args ['--epochs', '3']" in result.stdout
    assert "succeeded" in result.output

    listed = json.loads(run(server, "job", "list", "--status", "succeeded", "--json").stdout)
    job = next(j for j in listed["data"] if j["name"] == "greeter")
    assert job["command"] == ["python", "work.py", "--epochs", "3"]
    assert job["memory"] == "512Mi" and job["env"] == {"GREETING": "hello"}
    shown = run(server, "job", "show", str(job["id"]))
    assert "greeter" in shown.stdout and "succeeded" in shown.stdout


def test_a_failing_job_fails_the_follow_with_its_exit_code(server, tmp_path):
    (tmp_path / "fail.py").write_text("import sys; sys.exit(4)")
    result = run(
        server, "job", "run", "--memory", "256Mi", "-f", "--", "python", "fail.py", cwd=tmp_path
    )
    assert result.exit_code == 4
    assert "failed: exit code 4: see logs" in result.output


def test_run_prints_the_id_and_cancel_stops_it(server, tmp_path):
    (tmp_path / "sleep.py").write_text("import time; time.sleep(600)")
    submitted = run(
        server, "job", "run", "--memory", "256Mi", "--", "python", "sleep.py", cwd=tmp_path
    )
    job_id = submitted.stdout.strip()
    assert job_id.isdigit()
    cancelled = run(server, "job", "cancel", job_id)
    assert f"Job {job_id} cancelled" in cancelled.stdout
    again = run(server, "job", "cancel", job_id)
    assert again.exit_code == 1 and "already cancelled" in again.output


def test_bad_requests_are_refused_clearly(server, tmp_path):
    for args, message in (
        (["job", "run"], "give the command after --"),
        (["job", "run", "--env", "NOEQUALS", "--", "true"], "KEY=VALUE"),
        (["job", "run", "--memory", "lots", "--", "true"], "memory 'lots' is not a size"),
        (["job", "run", "--env", "FERMION_TOKEN=x", "--", "true"], "set by Fermion"),
        (["job", "show", "999999"], "job 999999 not found"),
        (["job", "retry", "999999"], "job 999999 not found"),
    ):
        result = run(server, *args, cwd=tmp_path)
        assert result.exit_code != 0, args
        assert message in result.output, (args, result.output)
