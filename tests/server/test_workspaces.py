"""Workspaces on a real server: what belongs to workspace B does not exist for a member
of workspace A (404, for every resource and every verb, the same as a name that does not
exist); a viewer of B reads B and changes nothing (403); a revoked, expired or disabled
user's token is refused (401); a quota keeps a workspace's jobs waiting, and says so."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
from typer.testing import CliRunner

from fermion.cli.main import app
from fermion.errors import CapacityExceeded, Forbidden
from tests import sources
from tests.conftest import RunningServer, start_server, stop_server
from tests.serving import folders

SLEEP = ["python", "-c", "import time; time.sleep(600)"]


@dataclass
class Tenants:
    server: RunningServer
    alice: str  # member of team-a
    bob: str  # member of team-b, who made B's resources
    vera: str  # viewer of team-b
    b: dict[str, str]  # B's resources: dataset, model, deployment, job, secret, sweep, federation


def call(server: RunningServer, token: str, method: str, path: str, workspace=None, **kw):
    headers = {"Authorization": f"Bearer {token}"}
    if workspace:
        headers["X-Fermion-Workspace"] = workspace
    return httpx.request(method, f"{server.url}{path}", headers=headers, timeout=60, **kw)


@pytest.fixture(scope="module")
def tenants(tmp_path_factory) -> Iterator[Tenants]:
    home = tmp_path_factory.mktemp("tenants")
    server = start_server(home, FERMION_CAPACITY="cpu=4,memory=12Gi")
    try:
        with server.client() as admin:
            admin.create_workspace("team-a")
            # B runs one job at a time: its blocker holds the slot, so the sweep's trial
            # and the federation's parties stay queued (and start no process).
            admin.create_workspace("team-b", jobs=1)
            alice = admin.create_user("alice", workspace="team-a").token
            bob = admin.create_user("bob", workspace="team-b").token
            vera = admin.create_user("vera", role="viewer", workspace="team-b").token
        yield Tenants(server, alice, bob, vera, _populate(server, bob, tmp_path_factory))
    finally:
        stop_server(server)


def _populate(server: RunningServer, bob: str, tmp_path_factory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("team-b")
    with server.client(token=bob) as sdk:
        sdk.create_dataset(
            "b-iris",
            "tabular-classification",
            sources.write_rows(root / "iris.csv", sources.iris_rows()),
            label_column="species",
        )
        for site in ("b-site1", "b-site2"):
            folder = sources.digits_folder(root / site, limit=100)
            sdk.create_dataset(site, "image-classification", folder)
        sdk.import_model("b-model", folders.tabular_model(root / "model"))
        sdk.set_secret("B_SECRET", "b-secret-value")
        blocker = sdk.submit_job(SLEEP, name="b-blocker", workdir=None)
        sdk.create_sweep("b-sweep", None, {"x": "uniform:0:1"}, command=SLEEP, trials=1, parallel=1)
        sdk.create_federation("b-fed", {"s1": "b-site1", "s2": "b-site2"}, rounds=1)
        sdk.deploy("b-model:v1", "b-endpoint", cpu=0.5, memory="1Gi")
        assert sdk.wait_deployment("b-endpoint", timeout=120).status == "ready"
    return {
        "dataset": "b-iris",
        "model": "b-model",
        "deployment": "b-endpoint",
        "job": str(blocker.id),
        "secret": "B_SECRET",
        "sweep": "b-sweep",
        "federation": "b-fed",
    }


RECORD = {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}
COLLECTIONS = {
    "datasets": "dataset",
    "models": "model",
    "deployments": "deployment",
    "jobs": "job",
    "secrets": "secret",
    "sweeps": "sweep",
    "federations": "federation",
}
# The bodies the routes that take one need to get past validation (a 422 would hide
# whether the resource was found). A route added without one here fails the matrix.
BODIES = {
    "POST /api/v1/models/{name}/versions/{version}/evaluate": {"dataset": "{dataset}"},
    "POST /api/v1/models/{name}/explain": {"input": RECORD},
    "POST /api/v1/models/{name}/versions/{version}/explain": {"input": RECORD},
    "POST /api/v1/models/{name}/versions/{version}/export": {},
    "POST /api/v1/models/{name}/versions/{version}/evaluations": {
        "dataset": "{dataset}:v1",
        "split": "test",
        "metrics": {"accuracy": 1.0},
    },
    "POST /api/v1/deployments/{name}/scale": {"replicas": 2},
    "PUT /api/v1/deployments/{name}/autoscaling": {"autoscaling": {"max_replicas": 2}},
    "POST /api/v1/deployments/{name}/update": {"model": "{model}:v1"},
    "POST /api/v1/deployments/{name}/predict": {"inputs": [RECORD]},
    "POST /api/v1/deployments/{name}/explain": {"input": RECORD},
    "POST /api/v1/jobs/{job_id}/metrics": {"metrics": [{"name": "x", "value": 1.0}]},
    "PUT /api/v1/jobs/{job_id}/endpoint": {"url": "http://127.0.0.1:1"},
    "POST /api/v1/jobs/{job_id}/model": {"name": "stolen"},
}
# PUT /secrets/NAME makes the caller's own secret of that name: shown below to leave B's.
OWN_NAME = {"PUT /api/v1/secrets/{name}"}


def resource_routes() -> list[tuple[str, str]]:
    """Every route (method, path) that names one of a workspace's resources."""
    from fermion.server.app import create_app

    routes = []
    for path, operations in create_app().openapi()["paths"].items():
        parts = path.split("/")
        if len(parts) > 4 and parts[3] in COLLECTIONS and parts[4].startswith("{"):
            routes += [(method.upper(), path) for method in operations]
    return [r for r in routes if " ".join(r) not in OWN_NAME]


def concrete(method: str, path: str, b: dict[str, str]) -> tuple[str, dict | None]:
    """The route's path for B's resource, and its body."""
    resource = b[COLLECTIONS[path.split("/")[3]]]
    values = {"name": resource, "job_id": resource, "version": "1", "split": "train"}
    values |= {"index": "0", "path": "config.json"}
    if path.endswith("/v2/{path}"):
        values["path"] = f"models/{resource}/infer" if method == "POST" else f"models/{resource}"
    body = BODIES.get(f"{method} {path}")
    return path.format(**values), _fill(body, b) if body is not None else None


def _fill(template, names: dict[str, str]):
    if isinstance(template, str):
        return template.format(**names)
    if isinstance(template, dict):
        return {k: _fill(v, names) for k, v in template.items()}
    return template


ROUTES = resource_routes()
CHANGES = [r for r in ROUTES if r[0] != "GET" and "/predict" not in r[1] and "/v2/" not in r[1]]
CHANGES = [r for r in CHANGES if not r[1].endswith("/explain") or "deployments" not in r[1]]
READS = [r for r in ROUTES if r[0] == "GET" and "/v2/" not in r[1]]
READS = [r for r in READS if not any(p in r[1] for p in ("{path}", "{index}", "tensorboard"))]


def test_the_matrix_covers_every_resource_type():
    assert {r[1].split("/")[3] for r in ROUTES} == set(COLLECTIONS)
    assert len(ROUTES) > 50 and len(CHANGES) > 20


@pytest.mark.parametrize("route", ROUTES, ids=" ".join)
def test_another_workspaces_resource_does_not_exist_for_a_member(tenants, route):
    path, body = concrete(*route, tenants.b)
    for workspace in (None, "team-b"):  # acting in A, or naming B (not theirs)
        answer = call(tenants.server, tenants.alice, route[0], path, workspace, json=body)
        assert answer.status_code == 404, (workspace, answer.text)
        assert answer.json()["error"] == "NOT_FOUND"


def test_another_workspaces_names_are_in_no_list(tenants):
    for kind in COLLECTIONS:
        answer = call(tenants.server, tenants.alice, "GET", f"/api/v1/{kind}")
        assert answer.status_code == 200, answer.text
        assert not any(name in answer.text for name in tenants.b.values() if len(name) > 3)
    with tenants.server.client(token=tenants.bob) as bob:  # while B sees its own
        assert [d.name for d in bob.list_datasets().data] == ["b-iris", "b-site1", "b-site2"]


def test_a_name_may_be_taken_again_in_another_workspace(tenants):
    """Alice's secret of the same name is hers: B's stays as it was."""

    def bobs() -> object:
        with tenants.server.client(token=tenants.bob) as bob:
            return next(s for s in bob.list_secrets().data if s.name == "B_SECRET").updated_at

    before = bobs()
    answer = call(
        tenants.server, tenants.alice, "PUT", "/api/v1/secrets/B_SECRET", json={"value": "a"}
    )
    assert answer.status_code == 200
    assert bobs() == before


@pytest.mark.parametrize("route", CHANGES, ids=" ".join)
def test_a_viewer_reads_but_changes_nothing(tenants, route):
    path, body = concrete(*route, tenants.b)
    answer = call(tenants.server, tenants.vera, route[0], path, json=body)
    assert answer.status_code == 403, answer.text
    assert "viewer" in answer.json()["message"]


def test_a_viewer_sees_the_workspace_and_may_call_its_endpoints(tenants):
    for route in READS:
        path, _ = concrete(*route, tenants.b)
        answer = call(tenants.server, tenants.vera, "GET", path)
        assert answer.status_code == 200, (path, answer.text)
    path, body = concrete("POST", "/api/v1/deployments/{name}/predict", tenants.b)
    predicted = call(tenants.server, tenants.vera, "POST", path, json=body)
    assert predicted.status_code == 200, predicted.text
    with (
        tenants.server.client(token=tenants.vera) as vera,
        pytest.raises(Forbidden, match="viewer"),
    ):
        vera.submit_job(["true"], workdir=None)


def test_revoked_expired_and_disabled_tokens_are_refused(tenants):
    server = tenants.server
    with server.client(token=tenants.alice) as alice:
        revoked = alice.create_token("revoked")
        expiring = alice.create_token("short", expires="1s")
        alice.revoke_token(revoked.id)
    assert call(server, revoked.token, "GET", "/api/v1/datasets").status_code == 401
    time.sleep(1.5)
    expired = call(server, expiring.token, "GET", "/api/v1/datasets")
    assert expired.status_code == 401 and "expired" in expired.json()["message"]
    with server.client() as admin:
        admin.create_user("dora", workspace="team-a")
        dora = admin.create_user("dora2", workspace="team-a").token
        admin.update_user("dora2", disabled=True)
        refused = call(server, dora, "GET", "/api/v1/datasets")
        assert refused.status_code == 401 and "disabled" in refused.json()["message"]
        admin.update_user("dora2", disabled=False)
    assert call(server, dora, "GET", "/api/v1/datasets").status_code == 200


def test_only_an_admin_manages_users_and_workspaces(tenants):
    for method, path, body in [
        ("POST", "/api/v1/users", {"name": "mallory"}),
        ("GET", "/api/v1/users", None),
        ("PATCH", "/api/v1/users/alice", {"role": "admin"}),
        ("POST", "/api/v1/workspaces", {"name": "mine"}),
        ("PUT", "/api/v1/workspaces/team-b/members", {"user": "alice"}),
        ("PUT", "/api/v1/workspaces/team-a/quota", {}),
    ]:
        answer = call(tenants.server, tenants.alice, method, path, json=body)
        assert answer.status_code == 403, (path, answer.text)
    listed = call(tenants.server, tenants.alice, "GET", "/api/v1/workspaces").json()
    assert [w["name"] for w in listed["data"]] == ["team-a"]


def test_the_quota_keeps_a_workspaces_jobs_waiting_and_names_itself(tenants):
    with tenants.server.client(token=tenants.bob) as bob:
        queued = bob.submit_job(["true"], name="b-second", workdir=None)
        time.sleep(1.5)  # a few scheduler passes: it must still wait
        shown = bob.get_job(queued.id)
        assert shown.status.value == "queued"
        assert "workspace team-b's quota: jobs (1 more wanted, 1 running of 1)" in shown.waiting_for
        bob.cancel_job(queued.id)
    with tenants.server.client() as admin:
        admin.set_quota("team-a", cpu=1)
    with (
        tenants.server.client(token=tenants.alice) as alice,
        pytest.raises(CapacityExceeded, match="team-a's quota allows: CPUs"),
    ):
        alice.submit_job(["true"], cpu=2, workdir=None)


def test_the_cli_creates_users_and_workspaces_and_chooses_where_to_act(tenants, tmp_path):
    server = tenants.server
    run = CliRunner().invoke
    made = run(app, ["workspace", "create", "team-c", "--cpu", "2"], env=server.env)
    assert made.exit_code == 0, made.output
    created = run(app, ["user", "create", "carol", "-w", "team-c"], env=server.env)
    assert created.exit_code == 0, created.output
    carol = {**server.env, "FERMION_TOKEN": created.stdout.strip().splitlines()[-1]}
    joined = run(
        app, ["workspace", "add-member", "team-a", "carol", "--role", "viewer"], env=server.env
    )
    assert joined.exit_code == 0, joined.output
    listed = run(app, ["workspace", "list"], env=carol)
    assert "team-a" in listed.stdout and "team-c" in listed.stdout, listed.output
    used = run(app, ["workspace", "use", "team-a"], env=carol)
    assert used.exit_code == 0, used.output
    refused = run(app, ["secret", "list"], env=carol)  # a viewer in team-a
    assert refused.exit_code == 1 and "viewer" in refused.output
    allowed = run(app, ["-w", "team-c", "secret", "list"], env=carol)  # a member there
    assert allowed.exit_code == 0, allowed.output
    assert "FERMION_WORKSPACE" not in os.environ  # -w held for that command only
    users = json.loads(run(app, ["user", "list", "--json"], env=server.env).stdout)
    carols = next(u for u in users["data"] if u["name"] == "carol")
    assert carols["workspaces"] == {"team-a": "viewer", "team-c": "member"}
    assert carols["default_workspace"] == "team-a"


def test_a_token_limited_to_reading_or_to_one_workspace(tenants):
    server = tenants.server
    with server.client() as admin:
        admin.add_member("team-a", "bob")  # bob now belongs to both
    made = CliRunner().invoke(
        app,
        ["token", "create", "reader", "--read-only", "--workspace", "team-b"],
        env={**server.env, "FERMION_TOKEN": tenants.bob},
    )
    assert made.exit_code == 0, made.output
    reader = made.stdout.strip().splitlines()[-1]
    assert call(server, reader, "GET", "/api/v1/datasets").status_code == 200  # in team-b
    changed = call(server, reader, "DELETE", "/api/v1/datasets/b-iris")
    assert changed.status_code == 403 and "read-only" in changed.json()["message"]
    elsewhere = call(server, reader, "GET", "/api/v1/datasets", workspace="team-a")
    assert elsewhere.status_code == 403 and "team-b only" in elsewhere.json()["message"]
    predicted = call(
        server, reader, "POST", "/api/v1/deployments/b-endpoint/predict", json={"inputs": [RECORD]}
    )
    assert predicted.status_code == 200, predicted.text
    # The dashboard session it opens is no stronger than the token.
    signed_in = httpx.post(f"{server.url}/api/v1/session", json={"token": reader})
    session = {
        "Cookie": f"fermion_session={signed_in.cookies['fermion_session']}",
        "X-Fermion-Dashboard": "1",
    }
    refused = httpx.delete(f"{server.url}/api/v1/datasets/b-iris", headers=session)
    assert refused.status_code == 403
    with server.client(token=tenants.bob) as bob:
        listed = next(t for t in bob.list_tokens().data if t.name == "reader")
        assert (listed.read_only, listed.workspace) == (True, "team-b")
