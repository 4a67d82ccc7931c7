"""The API's JSON bodies have a size limit (413, with the reason); uploads do not."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import RunningServer, start_server, stop_server


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[RunningServer]:
    """A server of its own: the upload below stays in its home."""
    running = start_server(tmp_path_factory.mktemp("limits-home"))
    yield running
    stop_server(running)


def post(server, path: str, content, headers: dict | None = None) -> httpx.Response:
    return httpx.post(
        f"{server.settings.server_url}{path}",
        content=content,
        headers={"Authorization": f"Bearer {server.token}", **(headers or {})},
        timeout=60,
    )


def test_a_json_body_over_the_limit_is_refused_before_it_is_read(server):
    big = b'{"command": ["true"], "env": {"A": "' + b"x" * (17 * 2**20) + b'"}}'
    refused = post(server, "/api/v1/jobs", big, {"Content-Type": "application/json"})
    assert refused.status_code == 413, refused.text
    assert "limit of 16 MB" in refused.json()["message"]

    def chunks():  # no Content-Length: counted as it arrives
        yield big[: 2**20]
        for start in range(2**20, len(big), 2**20):
            yield big[start : start + 2**20]

    streamed = post(server, "/api/v1/jobs", chunks(), {"Content-Type": "application/json"})
    assert streamed.status_code == 413, streamed.text
    assert streamed.json()["error"] == "PAYLOAD_TOO_LARGE"


def test_small_bodies_and_uploads_pass(server, tmp_path):
    small = post(server, "/api/v1/jobs", b'{"command": []}', {"Content-Type": "application/json"})
    assert small.status_code == 400  # read and judged by the route
    upload = post(server, "/api/v1/uploads", b"\0" * (20 * 2**20))
    assert upload.status_code == 201, upload.text
