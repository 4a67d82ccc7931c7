"""Federated digits, for real: three sites, each a Fermion job holding a non-IID share of
digits (mostly 3-4 classes), Flower's SuperLink and FedAvg in a coordinator job. The
global model comes within 3 points of centralised training on the union of the sites'
data (both scored on images neither saw); no site's job can read another site's data;
and everything the sites send over the wire is the model's weights and a few numbers."""

from __future__ import annotations

import contextlib
import subprocess
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest

from fermion.datasets.samples import split_across_sites
from fermion.errors import CapacityExceeded, Conflict, InvalidInput, NotFound
from tests.conftest import RunningServer, free_port, start_server, stop_server
from tests.federated.wire import Relay, pushed_objects
from tests.scheduler.conftest import job_processes, wait_for

SITES = {"a": "0123", "b": "456", "c": "789"}  # the classes each site mostly holds
MOSTLY = 0.85  # of a class's images go to its site; the rest spread over the others
ROUNDS, LOCAL_EPOCHS = 6, 3


@pytest.fixture(scope="module")
def folders(digits_dir, tmp_path_factory) -> dict[str, Path]:
    """digits cut into a held-out set (15%, seen by nobody) and three sites' shares;
    `union` is the three shares together (centralised training's data)."""
    return split_across_sites(digits_dir, tmp_path_factory.mktemp("federated"), SITES, MOSTLY)


@pytest.fixture(scope="module")
def fed_server(tmp_path_factory) -> Iterator[RunningServer]:
    running = start_server(
        tmp_path_factory.mktemp("federated-home"), FERMION_CAPACITY="cpu=3,memory=12Gi"
    )
    yield running
    stop_server(running)


@pytest.fixture(scope="module")
def client(fed_server, folders):
    with fed_server.client() as c:
        for site in SITES:
            c.create_dataset(f"fed-{site}", "image-classification", folders[f"site-{site}"])
        c.create_dataset("fed-union", "image-classification", folders["union"])
        # Only its test split is used: images no model trained on.
        c.create_dataset(
            "fed-holdout", "image-classification", folders["holdout"], split=(0.02, 0.0, 0.98)
        )
        yield c


@pytest.fixture(scope="module")
def federation(client) -> Iterator[tuple[str, Relay]]:
    """The federation, its sites dialling the SuperLink through a relay that keeps every
    byte they send; and centralised training beside it (the rounds mostly wait)."""
    client.train("fed-union", name="fed-central", cpu=1)
    port = free_port()
    relay = Relay(("127.0.0.1", port))
    found = client.create_federation(
        "fed-digits",
        {site: f"fed-{site}" for site in SITES},
        rounds=ROUNDS,
        local_epochs=LOCAL_EPOCHS,
        cpu=0.5,
        memory="2Gi",
        port=port,
        site_address=f"127.0.0.1:{relay.port}",
    )
    assert found.status == "running" and len(found.sites) == 3
    yield found.name, relay
    relay.close()


def site_process(client, job_id: int) -> psutil.Process:
    """The site's SuperNode: a process of that job (under this server's home), inside
    the job's sandbox."""

    def find() -> psutil.Process | None:
        for process in job_processes(client, job_id):
            with contextlib.suppress(psutil.Error):
                if "flower-supernode" in " ".join(process.cmdline()):
                    return process
        return None

    return wait_for(find, timeout=180, what=f"job {job_id}'s SuperNode")


def inside(process: psutil.Process, *command: str) -> subprocess.CompletedProcess:
    """Run `command` in the site's namespaces (its user, mounts and processes)."""
    return subprocess.run(
        ["nsenter", "-t", str(process.pid), "-U", "-m", "-p", "--preserve-credentials", *command],
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_a_site_reads_its_own_dataset_and_nothing_else(fed_server, client, federation):
    name, _ = federation
    found = client.get_federation(name)
    a, b = found.sites[0], found.sites[1]
    supernode = site_process(client, a.job_id)

    # On disk: the server's home (datasets, the database, other jobs) is not there.
    home = fed_server.home.resolve()
    b_folder = client.get_dataset_version(b.dataset).uri
    assert Path(b_folder).exists()  # for us, outside
    listed = inside(supernode, "ls", "-a", str(home))
    assert listed.returncode == 0, listed.stderr
    assert set(listed.stdout.split()) <= {".", "..", "artifacts"}, listed.stdout
    for path in (b_folder, str(home / "fermion.db"), str(home / "credentials")):
        seen = inside(supernode, "cat", path)
        assert seen.returncode != 0 and "No such file" in seen.stderr, (path, seen)
    # Its own folder is there, with the copy of its own dataset (once the first round asks).
    own_home = str(Path(supernode.environ()["FERMION_JOB_DIR"]) / "home" / "cache" / "datasets")
    copies = wait_for(
        lambda: inside(supernode, "ls", own_home).stdout, timeout=180, what="its dataset's copy"
    )
    assert len(copies.split()) == 1, copies

    # Processes: its own only, so no other job's environment (nor token) to read.
    every = "for p in /proc/[0-9]*; do tr '\\0' ' ' < $p/cmdline; echo; done"
    processes = inside(supernode, "sh", "-c", every).stdout
    assert "fermion.server" not in processes and "fed-digits-b" not in processes, processes
    assert "flower-supernode" in processes and len(processes.splitlines()) < 15, processes

    # Over the API: its token reads its dataset; another site's is refused, as is the rest.
    token = Path(supernode.environ()["FERMION_TOKEN_FILE"]).read_text().strip()
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=fed_server.settings.server_url, headers=headers) as api:
        name_a, _, version_a = a.dataset.partition(":")
        name_b, _, version_b = b.dataset.partition(":")
        assert api.get(f"/api/v1/datasets/{name_a}/versions/{version_a.lstrip('v')}").is_success
        for path in (
            f"/api/v1/datasets/{name_b}/versions/{version_b.lstrip('v')}",
            f"/api/v1/datasets/{name_b}/versions/{version_b.lstrip('v')}/files",
            "/api/v1/datasets",
            "/api/v1/models",
            f"/api/v1/jobs/{b.job_id}/logs",
        ):
            refused = api.get(path)
            assert refused.status_code == 403, (path, refused.text)
            assert "reads its own dataset" in refused.json()["message"]


def test_the_global_model_matches_centralised_training(client, federation):
    name, _ = federation
    central = next(j for j in client.list_jobs().data if j.name == "fed-central")
    found = client.wait_federation(name, timeout=900)
    assert found.status == "succeeded", (found.reason, found.sites)
    assert found.model == "fed-digits:v1"
    assert client.wait_job(central.id, timeout=600).status.value == "succeeded"
    for site in found.sites:  # each ended by itself once the SuperLink had gone
        assert client.wait_job(site.job_id, timeout=60).status.value == "succeeded"

    # Each site held mostly its own 3-4 classes.
    for site, classes in SITES.items():
        counts = client.get_dataset_version(f"fed-{site}").class_counts["train"]
        own = sum(n for c, n in counts.items() if c in classes)
        assert own / sum(counts.values()) > 0.75, counts

    # The rounds are on the coordinator job's live charts: validation accuracy per round.
    series = client.job_metrics(found.coordinator_job_id).series
    accuracy = [p.value for p in series["val/accuracy"]]
    assert [p.step for p in series["val/accuracy"]] == list(range(ROUNDS + 1))
    assert accuracy[0] < 0.3 < 0.9 < accuracy[-1]  # from chance to a trained model
    assert len(series["train/loss"]) == ROUNDS

    version = client.get_model_version(found.model)
    assert version.job_id == found.coordinator_job_id
    scores = {}
    for ref in (found.model, "fed-central:v1"):
        job = client.wait_job(client.evaluate_model(ref, "fed-holdout", "test").id, timeout=300)
        assert job.status.value == "succeeded"
        scores[ref] = client.get_model_version(ref).evaluations[-1]["metrics"]["accuracy"]
    print(f"held-out accuracy: {scores}")
    assert scores[found.model] >= scores["fed-central:v1"] - 0.03, scores


def test_only_weights_and_numbers_leave_a_site(client, federation):
    import torch  # noqa: F401 - Flower turns arrays into tensors with it
    from flwr.supercore.inflatable.inflatable_object import get_object_type_from_object_content
    from flwr.supercore.inflatable.inflatable_utils import inflate_object_from_contents

    from fermion import modelfile

    name, relay = federation
    found = client.wait_federation(name, timeout=900)
    assert found.status == "succeeded"
    shapes = {
        k: tuple(v.shape)
        for k, v in modelfile.load(client.fetch_model(found.model)).network.state_dict().items()
    }

    requests = relay.requests()
    objects = pushed_objects(requests)
    kinds = Counter(get_object_type_from_object_content(v) for v in objects.values())
    assert set(kinds) <= {
        "Message",
        "RecordDict",
        "ArrayRecord",
        "Array",
        "ArrayChunk",
        "MetricRecord",
    }
    replies = [k for k, v in objects.items() if get_object_type_from_object_content(v) == "Message"]
    assert len(replies) == 3 * (ROUNDS + 1)  # a training reply per site per round, one score
    reached = set()
    for reply in replies:
        message = inflate_object_from_contents(reply, dict(objects), keep_object_contents=True)
        reached |= set(descendants(reply, objects))
        for key, record in message.content.items():
            if type(record).__name__ == "ArrayRecord":
                sent = {k: tuple(v.shape) for k, v in record.to_torch_state_dict().items()}
                assert sent == shapes  # the network's own weights, every one, nothing else
            else:
                assert type(record).__name__ == "MetricRecord", key
                assert set(dict(record)) <= KNOWN_METRICS, dict(record)
    assert reached == set(objects)  # every object pushed belongs to one of those replies
    # The other calls carry ids and bookkeeping, not data.
    bulky = [
        (p, len(b))
        for p, b in requests
        if len(b) > 4096 and not p.endswith(("/push-object", "/push-messages"))
    ]
    assert not bulky, bulky
    sent = sum(len(b) for _, b in requests)
    weights = sum(len(v) for v in objects.values() if v.startswith(b"ArrayChunk"))
    print(f"the sites sent {len(requests)} requests, {sent} bytes; weights {weights} bytes")


KNOWN_METRICS = {
    "num-examples",
    "train-loss",
    "received-val-accuracy",
    *(f"{s}-{k}" for s in ("validation", "test") for k in ("accuracy", "loss", "count")),
}


def descendants(object_id: str, objects: dict[str, bytes]) -> Iterator[str]:
    from flwr.supercore.inflatable.inflatable_object import (
        get_object_children_ids_from_object_content,
    )

    yield object_id
    for child in get_object_children_ids_from_object_content(objects[object_id]):
        yield from descendants(child, objects)


def test_bad_federations_are_refused_before_anything_runs(client, folders):
    with pytest.raises(InvalidInput, match="at least 2 sites"):
        client.create_federation("bad", {"a": "fed-a"})
    with pytest.raises(NotFound, match="nope"):
        client.create_federation("bad", {"a": "fed-a", "b": "nope"})
    with pytest.raises(InvalidInput, match="lower-case"):
        client.create_federation("bad", {"a": "fed-a", "B site": "fed-b"})
    with pytest.raises(CapacityExceeded, match="run at once"):
        client.create_federation("bad", {"a": "fed-a", "b": "fed-b"}, cpu=2)
    with pytest.raises(InvalidInput, match="does not fit"):
        client.create_federation("bad", {"a": "fed-a", "b": "fed-b"}, model="mlp")
    with pytest.raises(Conflict, match="exists"):
        client.create_federation("fed-digits", {"a": "fed-a", "b": "fed-b"})
    names = [f.name for f in client.list_federations().data]
    assert "bad" not in names
    assert not [j for j in client.list_jobs().data if j.name.startswith("bad")]


def test_the_cli_starts_shows_and_cancels(fed_server, client, federation):
    from typer.testing import CliRunner

    from fermion.cli.main import app

    runner = CliRunner()

    def fermion(*args: str, code: int = 0):
        result = runner.invoke(app, list(args), env=fed_server.env)
        assert result.exit_code == code, result.output
        return result.output

    name, _ = federation
    assert client.wait_federation(name, timeout=900).status == "succeeded"
    listed = fermion("federate", "list")
    assert "fed-digits" in listed and "succeeded" in listed
    shown = fermion("federate", "show", "fed-digits")
    assert "registered fed-digits:v1" in shown and "fed-b:v1" in shown
    bad = fermion("federate", "--sites", "a=fed-a,b", code=1)
    assert "is not SITE=DATASET" in bad

    started = fermion(
        "federate", "--sites", "a=fed-a,b=fed-b", "--name", "to-cancel", "--rounds", "50",
        "--strategy", "fedprox", "--dp-noise", "0.5", "--dp-clip", "1.0", "--cpu", "0.5",
    )  # fmt: skip
    assert "2 sites, 50 rounds of fedprox" in started
    found = client.get_federation("to-cancel")
    assert found.privacy is not None and found.privacy.clipping_norm == 1.0
    fermion("federate", "cancel", "to-cancel")
    found = client.get_federation("to-cancel")
    assert found.status == "cancelled" and found.model is None
    for job_id in [found.coordinator_job_id, *(s.job_id for s in found.sites)]:
        assert client.wait_job(job_id, timeout=60).status.value == "cancelled"


def test_a_site_lost_mid_run_fails_the_federation_at_once(client, federation):
    name, _ = federation
    assert client.wait_federation(name, timeout=900).status == "succeeded"
    found = client.create_federation(
        "loses-a-site", {"a": "fed-a", "b": "fed-b"}, rounds=50, cpu=0.5
    )
    lost = found.sites[1]
    wait_for(
        lambda: client.get_job(lost.job_id).status.value == "running",
        timeout=180,
        what="site b running",
    )
    client.cancel_job(lost.job_id)  # as if its machine went away
    ended = client.wait_federation("loses-a-site", timeout=60)
    assert ended.status == "failed"
    assert f"site b's job {lost.job_id} ended" in ended.reason
    for job_id in (found.coordinator_job_id, found.sites[0].job_id):
        assert client.wait_job(job_id, timeout=60).status.value == "cancelled"
