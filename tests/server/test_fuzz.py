"""The API under a fuzzer: schemathesis generates requests from the server's own OpenAPI
schema (coverage and fuzzing phases, a fixed seed, a bounded number of examples per
operation). No answer may be a 5xx, and nothing the requests start may fail inside the
server (its log stays free of errors)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import start_server, stop_server

pytestmark = pytest.mark.slow
EXAMPLES = 15  # per operation; about half a minute on 2 cores


def test_no_request_the_fuzzer_makes_is_a_server_error(tmp_path):
    # Its own small server: the fuzzer's jobs (random commands) run there and nowhere else.
    server = start_server(tmp_path / "home", FERMION_CAPACITY="cpu=1,memory=2Gi")
    try:
        run = subprocess.run(
            [
                str(Path(sys.executable).with_name("schemathesis")),
                "run",
                f"{server.url}/openapi.json",
                "--checks",
                "not_a_server_error",
                "--phases",
                "coverage,fuzzing",
                "--max-examples",
                str(EXAMPLES),
                "--seed",
                "2",
                "--header",
                f"Authorization: Bearer {server.token}",
                "--request-timeout",
                "30",
                "--exclude-path-regex",
                "/logs$|/stream$",
            ],
            capture_output=True,
            cwd=tmp_path,  # its cache folder goes there
            text=True,
            timeout=600,
        )
    finally:
        stop_server(server)
    log = (server.home / "server.log").read_text()
    assert run.returncode == 0, run.stdout[-6000:]
    errors = [line for line in log.splitlines() if " ERROR " in line or line.startswith("ERROR")]
    assert not errors, "\n".join(errors[:20])
