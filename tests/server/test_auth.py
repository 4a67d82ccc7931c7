"""Every API route needs a valid bearer token; /healthz does not. Tokens are stored
hashed, and the admin token is written once, readable only by its owner."""

from __future__ import annotations

import stat

import httpx
import pytest
from sqlalchemy import text

from fermion import Unauthorized
from fermion.store.metadata import make_engine


def test_health_is_open(server):
    response = httpx.get(f"{server.url}/healthz")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


@pytest.mark.parametrize(
    "method,path",
    [
        ("GET", "/api/v1/datasets"),
        ("POST", "/api/v1/datasets"),
        ("GET", "/api/v1/datasets/digits"),
        ("DELETE", "/api/v1/datasets/digits"),
        ("GET", "/api/v1/users/me"),
        ("POST", "/api/v1/uploads"),
    ],
)
@pytest.mark.parametrize("authorization", [None, "Bearer fm_wrong", "Bearer", "Basic YTpi"])
def test_api_refuses_missing_or_wrong_token(server, method, path, authorization):
    headers = {"Authorization": authorization} if authorization else {}
    response = httpx.request(method, f"{server.url}{path}", headers=headers)
    assert response.status_code == 401
    body = response.json()
    assert body["error"] == "UNAUTHORIZED"
    assert "token" in body["message"]


def test_sdk_raises_unauthorized_for_a_wrong_token(server):
    with server.client(token="fm_not-a-real-token") as client, pytest.raises(Unauthorized):
        client.list_datasets()


def test_cli_with_a_wrong_token_exits_nonzero(cli):
    result = cli.runner.invoke(
        __import__("fermion.cli.main", fromlist=["app"]).app,
        ["dataset", "list"],
        env={**cli.server.env, "FERMION_TOKEN": "fm_wrong"},
    )
    assert result.exit_code == 1
    assert "API token is not valid" in result.output


def test_credentials_file_is_private_and_token_is_stored_hashed(server):
    credentials = server.home / "credentials"
    assert stat.S_IMODE(credentials.stat().st_mode) == 0o600
    token = server.token
    engine = make_engine(server.settings.resolved_database_url)  # SQLite or PostgreSQL
    with engine.connect() as db:
        stored = [row[0] for row in db.execute(text("SELECT token_hash FROM tokens"))]
    engine.dispose()
    assert token not in stored
    assert all(len(h) == 64 and token not in h for h in stored)


def test_unknown_route_is_a_json_404(server):
    response = httpx.get(
        f"{server.url}/api/v1/nothing-here", headers={"Authorization": f"Bearer {server.token}"}
    )
    assert response.status_code == 404
    assert response.json()["error"] == "NOT_FOUND"


def test_openapi_docs_are_served_to_the_signed_in(server):
    bearer = {"Authorization": f"Bearer {server.token}"}
    spec = httpx.get(f"{server.url}/openapi.json", headers=bearer).json()
    assert "/api/v1/datasets" in spec["paths"]
    assert httpx.get(f"{server.url}/docs", headers=bearer).status_code == 200
    for path in ("/openapi.json", "/docs"):
        assert httpx.get(f"{server.url}{path}").status_code == 401
