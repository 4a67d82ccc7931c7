"""API tokens a user makes (create, list, revoke, expire), and the server's files kept
to its own user."""

from __future__ import annotations

import stat
import time

import httpx
import pytest
from typer.testing import CliRunner

from fermion.cli.main import app
from fermion.errors import InvalidInput, NotFound


def whoami(server, token: str) -> httpx.Response:
    return httpx.get(
        f"{server.settings.server_url}/api/v1/users/me",
        headers={"Authorization": f"Bearer {token}"},
    )


def test_a_token_is_shown_once_works_and_stops_when_revoked(server, client):
    result = CliRunner().invoke(app, ["token", "create", "ci", "--expires", "30d"], env=server.env)
    assert result.exit_code == 0, result.output
    secret = result.stdout.strip().splitlines()[-1]
    assert secret.startswith("fm_")
    assert whoami(server, secret).json()["name"] == "admin"

    listed = client.list_tokens().data
    ci = next(t for t in listed if t.name == "ci")
    assert abs((ci.expires_at - ci.created_at).total_seconds() - 30 * 86400) < 60
    shown = CliRunner().invoke(app, ["token", "list", "--json"], env=server.env).stdout
    assert "ci" in shown and secret not in shown  # the secret is never shown again

    client.revoke_token(ci.id)
    refused = whoami(server, secret)
    assert refused.status_code == 401 and "not valid" in refused.json()["message"]
    with pytest.raises(NotFound, match="token list"):
        client.revoke_token(ci.id)
    with pytest.raises(NotFound, match="token list"):
        client.revoke_token(2**40)  # past an Integer id on PostgreSQL: 404, not 500


def test_an_expired_token_is_refused_with_the_reason(server, client):
    made = client.create_token("short", expires="1s")
    assert whoami(server, made.token).status_code == 200
    time.sleep(1.5)
    refused = whoami(server, made.token)
    assert refused.status_code == 401
    assert "'short' has expired" in refused.json()["message"]
    assert "short" not in [t.name for t in client.list_tokens().data]
    with pytest.raises(InvalidInput, match="not a duration"):
        client.create_token("bad", expires="soon")


def test_the_servers_files_are_its_users_alone(server):
    home = server.home
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    on_sqlite = server.settings.resolved_database_url.startswith("sqlite")
    files = [home / "server.log", home / "credentials", *([home / "fermion.db"] * on_sqlite)]
    for path in files:
        assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0, path
