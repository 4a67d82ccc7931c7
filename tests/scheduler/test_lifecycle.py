"""A job's life with real processes: cancel, failure reasons, retries that resume from
a checkpoint, memory limits, and the job's own token."""

from __future__ import annotations

import json
import signal
import time

import psutil
import pytest

import fermion as fm
from tests.scheduler.conftest import job_processes, script, wait_for


def test_cancel_stops_a_torchrun_job_and_leaves_no_process(jobs, tmp_path):
    code = script(
        tmp_path,
        """
        import os, time
        print("ready", os.environ["RANK"], flush=True)
        time.sleep(600)
    """,
    )
    job = jobs.submit_job(["python", "job.py"], nproc=2, cpu=2, memory="2Gi", workdir=code)
    wait_for(lambda: jobs.job_logs(job.id).count("ready") == 2, what="both ranks")
    processes = job_processes(jobs, job.id)
    assert len(processes) >= 3  # supervisor, torchrun, two workers
    started = time.monotonic()
    jobs.cancel_job(job.id)
    done = jobs.wait_job(job.id, timeout=15, poll_s=0.1)
    assert done.status.value == "cancelled"
    assert time.monotonic() - started < 10
    wait_for(lambda: not job_processes(jobs, job.id), timeout=10, what="no process left")
    assert not [p for p in processes if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]


def test_failure_reasons_a_person_can_read(jobs, tmp_path):
    code = script(tmp_path, "import sys; print('bad input'); sys.exit(3)")
    failed = jobs.wait_job(
        jobs.submit_job(["python", "job.py"], memory="256Mi", workdir=code).id, timeout=60
    )
    assert failed.status.value == "failed"
    assert (failed.exit_code, failed.failure_reason) == (3, "exit code 3: see logs")
    assert "bad input" in jobs.job_logs(failed.id)

    missing = jobs.wait_job(
        jobs.submit_job(["no-such-program"], memory="256Mi", workdir=None).id, timeout=60
    )
    assert missing.status.value == "failed" and missing.exit_code == 127
    assert "cannot run 'no-such-program'" in jobs.job_logs(missing.id)


def test_memory_limit_kills_with_a_clear_reason(jobs, tmp_path):
    code = script(
        tmp_path,
        """
        import time
        hog = bytearray(600 * 1024 * 1024)
        for i in range(0, len(hog), 4096):
            hog[i] = 1
        time.sleep(30)
    """,
    )
    job = jobs.wait_job(
        jobs.submit_job(["python", "job.py"], memory="256Mi", workdir=code).id, timeout=60
    )
    assert job.status.value == "failed"
    assert job.failure_reason.startswith("killed: out of memory")
    assert "256Mi limit" in job.failure_reason


def test_a_killed_worker_fails_the_attempt_and_the_retry_resumes(jobs, tmp_path):
    code = script(
        tmp_path,
        """
        import json, os, time
        import fermion as fm

        state = fm.checkpoint_dir() / "state.json"
        start = json.loads(state.read_text())["epoch"] if state.exists() else 0
        rank = int(os.environ["RANK"])
        print(f"attempt {os.environ['FERMION_JOB_ATTEMPT']} starts at epoch {start}", flush=True)
        for epoch in range(start, 6):
            time.sleep(0.7)
            if rank == 0:
                tmp = state.with_suffix(".tmp")
                tmp.write_text(json.dumps({"epoch": epoch + 1}))
                os.replace(tmp, state)
                print(f"checkpoint {epoch + 1}", flush=True)
        print("done", flush=True)
    """,
    )
    job = jobs.submit_job(
        ["python", "job.py"], nproc=2, cpu=2, memory="2Gi", max_retries=1, workdir=code
    )
    wait_for(lambda: "checkpoint 2" in jobs.job_logs(job.id), what="two checkpoints")
    rank1 = [p for p in job_processes(jobs, job.id) if p.environ().get("RANK") == "1"]
    assert len(rank1) == 1
    rank1[0].send_signal(signal.SIGKILL)

    done = jobs.wait_job(job.id, timeout=120)
    assert done.status.value == "succeeded"
    assert done.attempt == 2
    assert done.history[0].reason and done.history[0].exit_code != 0
    second = jobs.job_logs(job.id, attempt=2)
    resumed_at = int(second.split("starts at epoch ")[1].split()[0])
    assert resumed_at >= 2
    assert "[rank0]: done" in second
    assert "checkpoint 1\n" not in second  # nothing was redone from scratch


def test_saved_artifacts_are_kept_with_the_job(jobs, jobs_server, tmp_path):
    code = script(
        tmp_path,
        """
        import pathlib
        import fermion as fm
        pathlib.Path("report.txt").write_text("accuracy 0.99")
        pathlib.Path("plots").mkdir()
        pathlib.Path("plots/loss.csv").write_text("1,0.5")
        fm.save_artifact("report.txt")
        fm.save_artifact("plots", name="figures")
    """,
    )
    job = jobs.wait_job(
        jobs.submit_job(["python", "job.py"], memory="1Gi", workdir=code).id, timeout=60
    )
    assert job.status.value == "succeeded", jobs.job_logs(job.id)
    kept = jobs_server.artifacts / "jobs" / str(job.id) / "artifacts"
    assert (kept / "report.txt").read_text() == "accuracy 0.99"
    assert (kept / "figures" / "loss.csv").read_text() == "1,0.5"
    assert sorted(p.name for p in kept.iterdir()) == ["figures", "report.txt"]  # no temp files
    assert jobs.job_artifacts(job.id) == ["figures/loss.csv", "report.txt"]
    saved = jobs.download_artifact(job.id, "figures/loss.csv", tmp_path / "out" / "loss.csv")
    assert saved.read_text() == "1,0.5"
    with pytest.raises(fm.NotFound, match="no artifact"):
        jobs.download_artifact(job.id, "..%2F..%2F..%2Fcredentials", tmp_path / "x")


def test_retry_command_runs_a_failed_job_again(jobs, tmp_path):
    marker = tmp_path / "runs"
    code = script(
        tmp_path / "code",
        f"""
        import pathlib, sys
        runs = pathlib.Path({str(marker)!r})
        runs.write_text(runs.read_text() + "x" if runs.exists() else "x")
        sys.exit(0 if len(runs.read_text()) == 2 else 1)
    """,
    )
    job = jobs.wait_job(
        jobs.submit_job(["python", "job.py"], memory="256Mi", workdir=code).id, timeout=60
    )
    assert job.status.value == "failed"
    jobs.retry_job(job.id)
    again = jobs.wait_job(job.id, timeout=60)
    assert (again.status.value, again.attempt) == ("succeeded", 2)
    with pytest.raises(Exception, match="only a failed or cancelled job"):
        jobs.retry_job(job.id)


def test_the_job_token_is_its_own_and_limited(jobs, jobs_server, tmp_path):
    code = script(
        tmp_path,
        """
        import json, os
        import fermion as fm
        client = fm.Client()
        token = open(os.environ["FERMION_TOKEN_FILE"]).read()
        result = {"token_is_users": token == os.environ.get("ADMIN")}
        result["token_in_env"] = "FERMION_TOKEN" in os.environ
        result["can_list"] = isinstance(client.list_datasets().count, int)
        try:
            client.set_job_defaults(cpu=8)
            result["can_change"] = True
        except fm.Forbidden as e:
            result["can_change"] = False
        try:
            client.get_job(int(os.environ["FERMION_JOB_ID"]) - 1)
            result["sees_other_job"] = True
        except (fm.Forbidden, fm.NotFound):
            result["sees_other_job"] = False
        result["threads"] = os.environ["OMP_NUM_THREADS"]
        result["gpus"] = os.environ["CUDA_VISIBLE_DEVICES"]
        print(json.dumps(result))
    """,
    )
    job = jobs.submit_job(
        ["python", "job.py"], cpu=2, memory="1Gi", workdir=code, env={"ADMIN": jobs_server.token}
    )
    done = jobs.wait_job(job.id, timeout=60)
    assert done.status.value == "succeeded", jobs.job_logs(job.id)
    result = json.loads(jobs.job_logs(job.id).strip().splitlines()[-1])
    assert result == {
        "token_is_users": False,
        "token_in_env": False,
        "can_list": True,
        "can_change": False,
        "sees_other_job": False,
        "threads": "2",
        "gpus": "",
    }
