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
        # The server in the namespace keeps its metadata in SQLite: a PostgreSQL of the
        # session's (make test DATABASE=postgresql) listens on another loopback.
        env={
            **{k: v for k, v in os.environ.items() if k != "FERMION_TEST_DATABASE"},
            "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)]),
        },
        capture_output=True,
        text=True,
        timeout=540,
    )  # fmt: skip
    logs = "".join(p.read_text(errors="replace")[-2000:] for p in work.glob("*.log"))
    assert done.returncode == 0, f"{done.stdout[-3000:]}\n{done.stderr[-5000:]}\n{logs}"
    found = json.loads(done.stdout.strip().splitlines()[-1])
    (work / "found.json").write_text(json.dumps(found, indent=2))  # for a person reading
    return found


def test_capacity_is_the_clusters_nodes_together(cluster_run):
    assert cluster_run["capacity"]["executor"] == "ray"
    assert cluster_run["capacity"]["total"]["cpu"] == 2  # two nodes of one CPU


def test_admission_counts_node_by_node_not_only_the_totals(cluster_run):
    found = cluster_run["per_node"]
    refused = found["refused"]
    assert refused and refused["status"] == 422, found
    assert "no 1 node(s) of the cluster have that much each" in refused["message"]
    # While half a node was taken, 0.75 CPU on each of 2 nodes waited, never launched.
    assert found["attempt_while_waiting"] == 0, found
    assert found["waiting"].startswith("waiting for 2 node(s) with cpu=0.75"), found
    assert "free now: " in found["waiting"]
    assert found["spread"] == "succeeded" and found["half_then"] == "succeeded"


def test_two_one_cpu_jobs_run_at_once_on_different_nodes(cluster_run):
    assert cluster_run["two"] == ["succeeded", "succeeded"]
    first, second = cluster_run["nodes_of_two"]
    assert first != second


def test_cancel_stops_a_job_on_its_node(cluster_run):
    assert cluster_run["cancelled"] == "cancelled"


def test_a_job_over_its_memory_on_a_node_is_killed_saying_so(cluster_run):
    reason = cluster_run["memory_kill"]
    assert reason.startswith("killed: out of memory") and "--memory" in reason, reason


def test_a_restarted_server_finds_the_job_still_running_on_its_node(cluster_run):
    assert cluster_run["restart"] == {"during": "running", "status": "succeeded", "attempt": 1}


def test_two_replicas_on_two_nodes_answer_through_the_gateway(cluster_run):
    assert cluster_run["deployment"] == "ready"
    first, second = cluster_run["replica_nodes"]
    assert first != second
    labels = cluster_run["answers"]
    assert len(labels) == 6 and set(labels) <= {"setosa", "versicolor", "virginica"}


def test_a_two_node_job_has_a_rank_on_each_node_in_one_process_group(cluster_run):
    run = cluster_run["all_reduce"]
    assert run["status"] == "succeeded" and run["nodes"] == 2, run["log"]
    # [RANK, WORLD_SIZE, LOCAL_RANK, node id, all-reduced sum of rank + 1, interface]
    (first, second) = run["ranks"]
    assert (first[:3], second[:3]) == (["0", "2", "0"], ["1", "2", "0"]), run["log"]
    assert first[3] != second[3]
    assert first[4] == second[4] == "3"
    # Gloo told the interface of the node's address (the nodes' 127.0.0.1 here).
    assert first[5] == second[5] == "lo"


def test_training_on_two_nodes_matches_one_node(cluster_run):
    one, two = cluster_run["trained"]["one_node"], cluster_run["trained"]["two_nodes"]
    assert one["status"] == two["status"] == "succeeded", (one["log"], two["log"])
    assert one["processes"] and two["processes"]  # 2 ranks either way
    assert two["accuracy"] > 0.9
    assert abs(one["accuracy"] - two["accuracy"]) <= 0.01, (one["accuracy"], two["accuracy"])


def test_a_node_lost_under_a_two_node_job_its_retry_waits_then_resumes(cluster_run):
    lost = cluster_run["node_loss"]
    # A string, so pytest shows all of it (the second attempt's log) when it fails.
    assert lost["status"] == "succeeded" and lost["attempt"] == 2, json.dumps(lost, indent=1)
    assert lost["first_reason"], lost  # the first attempt says why it ended
    # While one node was left, the retry said what it waits for.
    assert "waiting for 2 nodes" in lost["waiting_for"], lost["waiting_for"]
    # Once a node joined, it went on from the checkpoint instead of starting over.
    (line,) = lost["resumed"]
    resumed_after = int(line.split("resuming after epoch")[1].split()[0])
    assert resumed_after >= lost["epochs_done_before_kill"] >= 1, (line, lost)
    # The rank on the lost node died with it, and the other stopped: neither trained on
    # to the end (8 epochs) unnoticed.
    assert resumed_after < 8, (line, lost)


def test_a_replica_on_a_lost_node_is_replaced_and_the_deployment_keeps_answering(cluster_run):
    lost = cluster_run["replica_loss"]
    assert cluster_run["worker2_node"] in lost["nodes_before"]
    assert lost["failed"] == [] and lost["answered"] == 30
    # The replacement runs on the node that joined, beside the replica that stayed.
    assert cluster_run["worker3_node"] in lost["nodes_after"]
    assert cluster_run["worker2_node"] not in lost["nodes_after"]
    assert lost["answers_after"] == 4


def test_a_node_that_does_not_mount_the_home_gets_the_job_shipped_and_sends_back(cluster_run):
    island = cluster_run["island"]
    assert island["status"] == "succeeded" and island["attempt"] == 2, json.dumps(island)
    first, second = island["logs"]

    def rank_on_the_island(lines: list[str]) -> str:
        (line,) = [x for x in lines if "sees-home False" in x]
        return line.partition("]: rank ")[2].split()[0]

    # Its code came with the job (it ran), and its first line reached the server's log
    # while the job still ran; the rest of its log came when it ended.
    assert island["while_running"] == "running", island
    rank = rank_on_the_island(island["streamed"])
    assert f"rank {rank} attempt 1 ends" in first, first
    # What it wrote is in the job's folder on the server, and nothing is left on the node.
    assert island["checkpoints"][f"rank{rank}-attempt1"] == island["node"]
    assert island["left_on_node"] == []
    # The retry's rank there was shipped every rank's checkpoint of attempt 1.
    rank = rank_on_the_island(second.splitlines())
    (line,) = [x for x in second.splitlines() if f"rank {rank} attempt 2 sees-home" in x]
    assert line.split("found ")[1] == "rank0-attempt1,rank1-attempt1,rank2-attempt1", line
    assert island["checkpoints"][f"rank{rank}-attempt2"] == island["node"]
    assert len(island["checkpoints"]) == 6


def test_a_model_trained_on_a_node_of_its_own_is_registered_with_its_files(cluster_run):
    island = cluster_run["island"]
    assert island["trained"] == "succeeded", island["trained_log"]
    assert "datasets" in island["node_cache"], island["node_cache"]  # fetched over HTTP
    assert island["model"] > 0.5  # its model folder reached the server before registering
    assert island["tensorboard"], island  # the metrics' event files came back


def test_a_replica_on_a_node_of_its_own_fetches_its_model_and_answers(cluster_run):
    island = cluster_run["island"]
    assert island["served"] == "ready" and island["answers"] == 3, island
    assert island["served_from"] == [island["node"]]
