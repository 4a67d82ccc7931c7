"""Admission within capacity: many jobs at once never use more than the capacity, and
a request larger than the whole capacity is refused at submit."""

from __future__ import annotations

import json

import pytest

import fermion as fm
from tests.scheduler.conftest import script, wait_for


def test_twelve_jobs_on_two_cpus(jobs, tmp_path):
    timeline = tmp_path / "timeline.jsonl"
    code = script(
        tmp_path / "code",
        f"""
        import json, os, sys, time
        start = time.time()
        time.sleep(1.0)
        with open({str(timeline)!r}, "a") as f:
            f.write(json.dumps({{"cpu": float(sys.argv[1]), "start": start, "end": time.time(),
                                "threads": os.environ["OMP_NUM_THREADS"]}}) + "\\n")
    """,
    )
    cpus = [1, 1, 2, 1, 1, 2, 1, 1, 2, 1, 1, 2]  # 16 CPU-seconds of work on 2 CPUs
    submitted = [
        jobs.submit_job(["python", "job.py", str(c)], cpu=c, memory="256Mi", workdir=code)
        for c in cpus
    ]
    assert all(j.status == "queued" for j in submitted)
    done = [jobs.wait_job(j.id, timeout=120) for j in submitted]
    assert [j.status.value for j in done] == ["succeeded"] * 12

    runs = [json.loads(line) for line in timeline.read_text().splitlines()]
    assert len(runs) == 12
    assert sorted(r["threads"] for r in runs) == sorted(str(c) for c in cpus)
    # At every moment a job started, the CPUs of the jobs running then add up to <= 2.
    for moment in (r["start"] for r in runs):
        in_use = sum(r["cpu"] for r in runs if r["start"] <= moment < r["end"])
        assert in_use <= 2, f"{in_use} CPUs in use at once"
    assert jobs.capacity().used["cpu"] == 0


def test_a_request_larger_than_the_capacity_is_refused(jobs):
    with pytest.raises(fm.CapacityExceeded) as refused:
        jobs.submit_job(["python", "-c", "pass"], cpu=3, workdir=None)
    assert "cpu=3" in refused.value.message and "cpu=2" in refused.value.message
    with pytest.raises(fm.CapacityExceeded, match="memory=64Gi"):
        jobs.submit_job(["python", "-c", "pass"], memory="64Gi", workdir=None)
    with pytest.raises(fm.CapacityExceeded, match="gpu=1"):
        jobs.submit_job(["python", "-c", "pass"], gpu=1, workdir=None)


def test_several_nodes_are_refused_where_jobs_run_on_the_servers_machine(jobs, jobs_server):
    import httpx
    from typer.testing import CliRunner

    from fermion.cli.main import app

    with pytest.raises(fm.InvalidInput) as refused:
        jobs.submit_job(["python", "-c", "pass"], nodes=2, workdir=None)
    assert "--nodes 2 needs a cluster" in refused.value.message
    assert "--executor ray" in refused.value.message
    answer = httpx.post(
        f"{jobs_server.url}/api/v1/jobs",
        json={"command": ["python", "-c", "pass"], "nodes": 2},
        headers={"Authorization": f"Bearer {jobs_server.token}"},
    )
    assert answer.status_code == 400 and "needs a cluster" in answer.json()["message"]
    shown = CliRunner().invoke(
        app, ["job", "run", "--nodes", "2", "--", "python", "-c", "pass"], env=jobs_server.env
    )
    assert shown.exit_code != 0 and "--nodes 2 needs a cluster" in shown.output
    assert "Traceback" not in shown.output


def test_queued_jobs_show_their_position(jobs, tmp_path):
    code = script(tmp_path, "import time; time.sleep(3)")
    blocker = jobs.submit_job(["python", "job.py"], cpu=2, memory="256Mi", workdir=code)
    waiting = [
        jobs.submit_job(["python", "job.py"], cpu=2, memory="256Mi", workdir=code) for _ in range(2)
    ]
    positions = [jobs.get_job(j.id).queue_position for j in waiting]
    assert positions == [1, 2] or positions == [None, 1]  # the first may already run
    for job in (blocker, *waiting):
        jobs.cancel_job(job.id)


def test_a_queued_job_says_what_it_waits_for_and_who_holds_it(jobs, jobs_server, tmp_path):
    from typer.testing import CliRunner

    from fermion.cli.main import app

    code = script(tmp_path, "import time; time.sleep(60)")
    holder = jobs.submit_job(
        ["python", "job.py"], name="holder", cpu=2, memory="256Mi", workdir=code
    )
    try:
        wait_for(lambda: jobs.get_job(holder.id).status.value == "running", what="running")
        result = CliRunner().invoke(
            app,
            [
                "job",
                "run",
                "--cpu",
                "1",
                "--memory",
                "256Mi",
                "--workdir",
                str(code),
                "--",
                "python",
                "job.py",
            ],
            env=jobs_server.env,
        )
        assert result.exit_code == 0, result.output
        waiting = int(result.stdout.split()[-1])
        said = result.output
        assert f"Job {waiting} is queued, waiting for CPUs (1 wanted, 0 free)" in said
        assert f"held by job {holder.id} holder (2 CPU" in said
        assert f"fermion job cancel {holder.id}" in said
        shown = jobs.get_job(waiting)
        assert shown.waiting_for.startswith("waiting for CPUs")
        listed = {j.id: j.waiting_for for j in jobs.list_jobs().data}
        assert listed[waiting] == shown.waiting_for and listed[holder.id] is None
        jobs.cancel_job(waiting)
    finally:
        jobs.cancel_job(holder.id)


def test_a_finished_job_can_be_deleted_with_its_files(jobs, jobs_server, tmp_path):
    code = script(tmp_path, "import fermion as fm; fm.log({'x': 1.0}, step=0); print('hi')")
    job = jobs.submit_job(["python", "job.py"], memory="1Gi", workdir=code)
    running = jobs.submit_job(
        ["python", "-c", "import time; time.sleep(30)"], memory="256Mi", workdir=None
    )
    assert jobs.wait_job(job.id, timeout=60).status.value == "succeeded", jobs.job_logs(job.id)
    folder = jobs_server.artifacts / "jobs" / str(job.id)
    assert folder.exists()
    with pytest.raises(fm.Conflict, match="cancel it first"):
        jobs.delete_job(running.id)
    jobs.cancel_job(running.id)
    jobs.delete_job(job.id)
    assert not folder.exists()
    with pytest.raises(fm.NotFound, match=f"job {job.id} not found"):
        jobs.get_job(job.id)
    with pytest.raises(fm.NotFound):
        jobs.get_job(99999999999999999999999)  # beyond any database integer: 404, not 500
    with pytest.raises(fm.NotFound):
        jobs.get_job(2**40)  # beyond PostgreSQL's Integer ids: 404 there too


def test_resources_left_out_come_from_the_users_defaults(jobs):
    jobs.set_job_defaults(cpu=1.5, memory="300Mi")
    try:
        job = jobs.submit_job(["python", "-c", "pass"], workdir=None)
        assert (job.cpu, job.gpu, job.memory) == (1.5, 0, "300Mi")
        explicit = jobs.submit_job(["python", "-c", "pass"], cpu=1, memory="1Gi", workdir=None)
        assert (explicit.cpu, explicit.memory) == (1.0, "1Gi")
    finally:
        jobs.clear_job_defaults()
    plain = jobs.submit_job(["python", "-c", "pass"], nproc=2, workdir=None)
    # The platform's: a CPU per process, 1Gi + 2.5Gi per process.
    assert (plain.cpu, plain.memory) == (2.0, "6Gi")
    single = jobs.submit_job(["python", "-c", "pass"], workdir=None)
    assert (single.cpu, single.memory) == (1.0, "3584Mi")
    for submitted in (job, explicit, plain, single):
        assert jobs.wait_job(submitted.id, timeout=60).status.value == "succeeded"


def test_gpus_are_given_out_whole_and_never_shared(tmp_path):
    """The executor is told it has 2 GPUs (this machine has none: the assignment, not
    CUDA, is what is checked)."""
    from fermion.client import launcher
    from tests.conftest import start_server

    server = start_server(tmp_path / "home", FERMION_CAPACITY="cpu=3,gpu=2,memory=8Gi")
    timeline = tmp_path / "gpus.jsonl"
    code = script(
        tmp_path / "code",
        f"""
        import json, os, time
        start = time.time()
        time.sleep(1.5)
        with open({str(timeline)!r}, "a") as f:
            f.write(json.dumps({{"gpus": os.environ["CUDA_VISIBLE_DEVICES"], "start": start,
                                "end": time.time()}}) + "\\n")
    """,
    )
    try:
        with server.client() as client:
            submitted = [
                client.submit_job(["python", "job.py"], cpu=1, gpu=1, memory="256Mi", workdir=code)
                for _ in range(3)
            ]
            assert all(
                client.wait_job(j.id, timeout=60).status.value == "succeeded" for j in submitted
            )
    finally:
        launcher.stop(server.settings)
    runs = [json.loads(line) for line in timeline.read_text().splitlines()]
    assert all(r["gpus"] in ("0", "1") for r in runs)
    for a in runs:  # two jobs running at the same moment never hold the same GPU
        for b in runs:
            if a is not b and a["start"] < b["end"] and b["start"] < a["end"]:
                assert a["gpus"] != b["gpus"]
