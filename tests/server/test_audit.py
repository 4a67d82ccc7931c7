"""The audit log: every change and sign-in, refused ones too, with who, where, what and
from where; reads are not in it; only admins read it; nobody rewrites it."""

from __future__ import annotations

import json

import httpx
import pytest
from typer.testing import CliRunner

from fermion.cli.main import app
from fermion.errors import Forbidden
from tests import sources
from tests.conftest import start_server, stop_server


@pytest.fixture(scope="module")
def audited(tmp_path_factory):
    running = start_server(tmp_path_factory.mktemp("audit-home"))
    yield running
    stop_server(running)


def test_changes_and_sign_ins_are_recorded_with_who_where_and_what(audited, tmp_path):
    with audited.client() as admin:
        ana = admin.create_user("ana", workspace="default").token
    with audited.client(token=ana) as sdk:
        rows = sources.write_rows(tmp_path / "r.csv", sources.review_rows(40))
        sdk.create_dataset("audited-reviews", "text-classification", rows)
        sdk.list_datasets()  # a read: not recorded
    url = audited.url
    wrong = httpx.post(
        f"{url}/api/v1/tokens", headers={"Authorization": "Bearer fm_nope"}, json={"name": "x"}
    )
    assert wrong.status_code == 401
    assert httpx.post(f"{url}/api/v1/session", json={"token": ana}).status_code == 200

    shown = CliRunner().invoke(app, ["audit", "--json", "--limit", "20"], env=audited.env)
    assert shown.exit_code == 0, shown.output
    events = json.loads(shown.stdout)["data"]
    calls = [(e["actor"], e["method"], e["path"], e["status"]) for e in events]
    assert ("ana", "POST", "/api/v1/datasets", 201) in calls
    assert ("-", "POST", "/api/v1/tokens", 401) in calls
    assert ("ana", "POST", "/api/v1/session", 200) in calls
    assert ("admin", "POST", "/api/v1/users", 201) in calls
    assert not [c for c in calls if c[1] == "GET"]
    created = next(e for e in events if e["path"] == "/api/v1/datasets")
    assert created["workspace"] == "default" and created["client"] == "127.0.0.1"
    assert events == sorted(events, key=lambda e: e["at"], reverse=True)

    with audited.client() as admin:
        theirs = admin.audit_events(actor="ana").data
    assert {e.actor for e in theirs} == {"ana"}
    with audited.client(token=ana) as sdk, pytest.raises(Forbidden, match="admin"):
        sdk.audit_events()
