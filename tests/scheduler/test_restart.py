"""The server killed with SIGKILL mid-job and started again: a job whose processes
still run is re-attached (not run twice), one whose processes died is failed with a
reason, and a queued job stays queued and runs."""

from __future__ import annotations

import contextlib
import os
import signal

import psutil

from fermion.client import launcher
from tests.conftest import start_server
from tests.scheduler.conftest import job_processes, script, wait_for


def test_restart_reconciles_every_job(tmp_path):
    home = tmp_path / "home"
    server = start_server(home, FERMION_CAPACITY="cpu=2,memory=8Gi")
    runs = tmp_path / "runs.txt"
    code = script(
        tmp_path / "code",
        f"""
        import os, sys, time
        with open({str(runs)!r}, "a") as f:
            f.write(os.environ["FERMION_JOB_ID"] + "\\n")
        print("working", flush=True)
        time.sleep(float(sys.argv[1]))
        print("finished", flush=True)
    """,
    )
    try:
        with server.client() as client:
            survivor = client.submit_job(
                ["python", "job.py", "6"], cpu=1, memory="256Mi", workdir=code
            )
            victim = client.submit_job(
                ["python", "job.py", "600"], cpu=1, memory="256Mi", workdir=code
            )
            waiting = client.submit_job(
                ["python", "job.py", "0"], cpu=2, memory="256Mi", workdir=code
            )
            for job in (survivor, victim):
                wait_for(lambda j=job: "working" in client.job_logs(j.id), what="job running")
            assert client.get_job(waiting.id).status.value == "queued"

        pid = launcher.status(server.settings).pid
        os.kill(pid, signal.SIGKILL)
        wait_for(
            lambda: (
                not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
            ),
            what="server gone",
        )
        for process in job_processes(client, victim.id):  # the victim dies while no server watches
            with contextlib.suppress(psutil.NoSuchProcess):  # gone with its parent already
                process.kill()
        assert job_processes(client, survivor.id), "a job must outlive its server"

        server = start_server(home, port=server.port, FERMION_CAPACITY="cpu=2,memory=8Gi")
        with server.client() as client:
            lost = client.get_job(victim.id)
            assert lost.status.value == "failed"
            assert lost.failure_reason.startswith("lost:")
            assert client.get_job(survivor.id).status.value == "running"  # re-attached

            done = client.wait_job(survivor.id, timeout=60)
            assert (done.status.value, done.attempt) == ("succeeded", 1)
            assert "finished" in client.job_logs(survivor.id)
            ran = client.wait_job(waiting.id, timeout=60)
            assert ran.status.value == "succeeded"
        # Every job ran exactly once.
        assert sorted(runs.read_text().split()) == sorted(
            str(j.id) for j in (survivor, victim, waiting)
        )
    finally:
        launcher.stop(server.settings)
