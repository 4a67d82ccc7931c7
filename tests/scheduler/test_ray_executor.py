"""Jobs on a real Ray cluster of two nodes (`fermion server start --executor ray`),
started here inside a network namespace of the test's own, where only loopback is up
(Ray listens beyond loopback otherwise). ray_cluster.py runs the cluster, the server and
the jobs in there, and reports; the assertions are here."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
pytestmark = pytest.mark.timeout(600)


@pytest.fixture(scope="module")
def cluster_run(tmp_path_factory) -> dict:
    work = tmp_path_factory.mktemp("ray")
    unshare = shutil.which("unshare")
    assert unshare and shutil.which("ip"), (
        "the Ray tests need unshare and ip (util-linux, iproute2)"
    )
    done = subprocess.run(
        # A user namespace (no privileges needed) with a network namespace of its own.
        [unshare, "--user", "--map-root-user", "--net", "--fork",
         sys.executable, "-m", "tests.scheduler.ray_cluster", str(work)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)])},
        capture_output=True,
        text=True,
        timeout=540,
    )  # fmt: skip
    logs = "".join(p.read_text(errors="replace")[-2000:] for p in work.glob("*.log"))
    assert done.returncode == 0, f"{done.stdout[-3000:]}\n{done.stderr[-5000:]}\n{logs}"
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_capacity_is_the_clusters_nodes_together(cluster_run):
    assert cluster_run["capacity"]["executor"] == "ray"
    assert cluster_run["capacity"]["total"]["cpu"] == 2  # two nodes of one CPU


def test_two_one_cpu_jobs_run_at_once_on_different_nodes(cluster_run):
    assert cluster_run["two"] == ["succeeded", "succeeded"]
    first, second = cluster_run["nodes_of_two"]
    assert first != second


def test_cancel_stops_a_job_on_its_node(cluster_run):
    assert cluster_run["cancelled"] == "cancelled"


def test_two_replicas_on_two_nodes_answer_through_the_gateway(cluster_run):
    assert cluster_run["deployment"] == "ready"
    first, second = cluster_run["replica_nodes"]
    assert first != second
    labels = cluster_run["answers"]
    assert len(labels) == 6 and set(labels) <= {"setosa", "versicolor", "virginica"}


def test_a_job_on_a_lost_node_is_retried_on_the_node_that_remains(cluster_run):
    assert cluster_run["capacity_after_loss"]["cpu"] == 1
    lost = cluster_run["lost_job"]
    assert lost["status"] == "succeeded" and lost["attempt"] == 2, lost
    assert lost["history"][0]["reason"], lost  # the first attempt says why it ended
    assert cluster_run["lost_job_node_after"] != cluster_run["worker_node"]
    # The job on the node that remained ran once, undisturbed.
    assert cluster_run["other_job"] == {"status": "succeeded", "attempt": 1}
