"""The folders the server reads dataset sources from: /etc, the server's own files, a
link that leads out, and URLs to anything but an object store are refused with a clear
4xx; a folder outside the roots is uploaded by the CLI and SDK instead."""

from __future__ import annotations

import os

import httpx
import pytest
from typer.testing import CliRunner

from fermion.cli.main import app
from fermion.errors import SourceOutsideRoots
from fermion.server.services import source_roots
from fermion.settings import Settings
from tests import sources
from tests.conftest import start_server, stop_server


@pytest.fixture(scope="module")
def narrow(tmp_path_factory):
    """A server that reads local sources from one folder only."""
    root = tmp_path_factory.mktemp("sources-root")
    running = start_server(tmp_path_factory.mktemp("narrow-home"), FERMION_SOURCE_ROOTS=str(root))
    yield running, root
    stop_server(running)


def create(server, source: str) -> httpx.Response:
    return httpx.post(
        f"{server.url}/api/v1/datasets",
        headers={"Authorization": f"Bearer {server.token}"},
        json={"name": "probe", "type": "text-classification", "source": source},
        timeout=60,
    )


def test_sources_outside_the_roots_or_inside_the_servers_files_are_refused(narrow, tmp_path):
    server, root = narrow
    (root / "leads-out").symlink_to("/etc")
    for source in [
        "/etc",
        "/etc/passwd",
        "file:///",
        f"file://{server.home}/credentials",
        str(server.home / "fermion.db"),
        str(root / "leads-out" / "passwd"),  # a link inside the root, to /etc
        str(root / ".." / ".."),
        str(tmp_path),  # another folder than the root
    ]:
        answer = create(server, source)
        assert answer.status_code == 403, (source, answer.text)
        assert answer.json()["error"] == "SOURCE_OUTSIDE_ROOTS"
        assert "FERMION_SOURCE_ROOTS" in answer.json()["message"]
    own_port = create(server, f"http://127.0.0.1:{server.port}/api/v1/users/me?x=.csv")
    assert own_port.status_code == 400 and "http:// is not a source" in own_port.text


def test_a_folder_around_the_servers_own_files_is_refused(tmp_path, monkeypatch):
    """A source of `~` would take `~/.fermion` and `~/.ssh` along: refused by default."""
    monkeypatch.setenv("HOME", str(tmp_path))
    settings = Settings(home=tmp_path / ".fermion")
    for source in (tmp_path, tmp_path / ".ssh", tmp_path / ".aws" / "credentials"):
        with pytest.raises(SourceOutsideRoots, match="server's own files"):
            source_roots.checked(settings, None, str(source))
    for source in ("~", "~/.fermion/master.key", "file://~/.ssh"):  # the server's ~
        with pytest.raises(SourceOutsideRoots, match="server's own files"):
            source_roots.checked(settings, None, source)
    photos = source_roots.checked(settings, None, "~/photos")  # beside them: fine
    assert photos == str(tmp_path.resolve() / "photos")


def test_the_artifact_store_is_never_a_source(tmp_path):
    settings = Settings(home=tmp_path, artifact_url="s3://shared/fermion/artifacts")
    for source in (
        "s3://shared/fermion/artifacts/datasets/theirs",
        "s3a://shared/fermion/artifacts",
        "s3://shared/fermion",
        "s3://shared",
    ):
        with pytest.raises(SourceOutsideRoots, match="artifact store"):
            source_roots.checked(settings, None, source)
    for fine in ("s3://shared/fermion/data", "s3://other/fermion/artifacts", "gs://shared"):
        assert source_roots.checked(settings, None, fine) == fine


def test_a_source_inside_a_root_is_read_in_place(narrow):
    server, root = narrow
    rows = sources.write_rows(root / "reviews.csv", sources.review_rows(40))
    answer = create(server, str(rows))
    assert answer.status_code == 201, answer.text
    assert answer.json()["source"] == str(rows)


def test_the_cli_and_sdk_upload_what_the_server_does_not_read_in_place(narrow, tmp_path):
    server, _ = narrow
    rows = sources.write_rows(tmp_path / "elsewhere.csv", sources.review_rows(40, seed=1))
    with server.client() as sdk:
        made = sdk.create_dataset("uploaded", "text-classification", rows)
        assert made.source.startswith("upload:")  # sent, not read in place
        with pytest.raises(SourceOutsideRoots, match="upload"):
            sdk.create_dataset("kept-out", "text-classification", rows, upload=False)
    result = CliRunner().invoke(
        app,
        [
            "dataset",
            "create",
            "--name",
            "by-cli",
            "--type",
            "text-classification",
            "--source",
            str(rows),
        ],
        env={**server.env, "PATH": os.environ["PATH"]},
    )
    assert result.exit_code == 0, result.output
