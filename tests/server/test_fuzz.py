"""The API under a fuzzer: schemathesis generates requests from the server's own OpenAPI
schema (coverage and fuzzing phases, a fixed seed, a bounded number of examples per
operation), once with the admin's token and once with a member's. No answer may be a
5xx; nothing the requests start may fail inside the server (its log stays free of
errors); and no answer to the member may name anything of a workspace they are not in."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import httpx
import pytest

from tests import sources
from tests.conftest import RunningServer, start_server, stop_server

pytestmark = pytest.mark.slow
EXAMPLES = 15  # per operation; about half a minute on 2 cores
MARKER = "zz-private-marker"  # in every name in the workspace the member is not in
# The fuzzer also draws strings from the code it finds (this check's own constant), so an
# answer that only echoes what the request sent is no leak.
HOOKS = f"""
from urllib.parse import unquote

import schemathesis

def _names_it(text):
    return "{MARKER}" in unquote(str(text)).lower().replace("_", "-")

@schemathesis.check
def no_other_workspaces_names(ctx, response, case):
    sent = [response.request.url, response.request.body, response.request.headers]
    if _names_it(response.text) and not any(_names_it(part) for part in sent):
        raise AssertionError("the answer names a resource of another workspace")
"""


def _private_workspace(server: RunningServer, tmp_path: Path) -> str:
    """A workspace with a dataset and a secret, and a member of another one: their token."""
    with server.client() as admin:
        admin.create_workspace(f"{MARKER}-space")
        admin.create_workspace("fuzz")
        member = admin.create_user("fuzzer", workspace="fuzz").token
    with server.client(workspace=f"{MARKER}-space") as admin:
        rows = sources.write_rows(tmp_path / "rows.csv", sources.review_rows(40))
        admin.create_dataset(f"{MARKER}-data", "text-classification", rows)
        admin.set_secret(MARKER.upper().replace("-", "_"), "value")
    return member


@pytest.mark.parametrize("who", ["admin", "member"])
def test_no_request_the_fuzzer_makes_is_a_server_error(tmp_path, who):
    # Its own small server: the fuzzer's jobs (random commands) run there and nowhere else.
    server = start_server(tmp_path / "home", FERMION_CAPACITY="cpu=1,memory=2Gi")
    (tmp_path / "fuzz_hooks.py").write_text(textwrap.dedent(HOOKS))
    try:
        token = server.token if who == "admin" else _private_workspace(server, tmp_path)
        checks = "not_a_server_error" + (",no_other_workspaces_names" if who == "member" else "")
        schema = tmp_path / "openapi.json"  # served to the signed-in only
        bearer = {"Authorization": f"Bearer {token}"}
        schema.write_text(httpx.get(f"{server.url}/openapi.json", headers=bearer).text)
        run = subprocess.run(
            [
                str(Path(sys.executable).with_name("schemathesis")),
                "run",
                str(schema),
                "--url",
                server.url,
                "--checks",
                checks,
                "--phases",
                "coverage,fuzzing",
                "--max-examples",
                str(EXAMPLES),
                "--seed",
                "2",
                "--header",
                f"Authorization: Bearer {token}",
                "--request-timeout",
                "30",
                "--exclude-path-regex",
                "/logs$|/stream$",
            ],
            capture_output=True,
            cwd=tmp_path,  # its cache folder goes there
            env={
                **os.environ,
                "SCHEMATHESIS_HOOKS": "fuzz_hooks",
                "PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")]),
            },
            text=True,
            timeout=600,
        )
    finally:
        stop_server(server)
    log = (server.home / "server.log").read_text()
    assert run.returncode == 0, run.stdout[-12000:]
    errors = [line for line in log.splitlines() if " ERROR " in line or line.startswith("ERROR")]
    assert not errors, "\n".join(errors[:20])
