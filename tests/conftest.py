"""Shared fixtures: one real server process per test session, on a free loopback port,
with its own FERMION_HOME; the CLI (in-process, through Typer's runner) and the SDK
talk to it over real HTTP."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sys
import types
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fermion import errors as fm_errors
from fermion.cli.main import app
from fermion.client import Client, launcher
from fermion.settings import Settings
from tests import sources

# TensorBoard's readers in this process use its own stand-in for TensorFlow, as where
# TensorFlow is not installed: TensorFlow loaded here would stay for every later test.
sys.modules.setdefault("tensorboard.compat.notf", types.ModuleType("notf"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class RunningServer:
    home: Path
    port: int
    settings: Settings

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def env(self) -> dict[str, str]:
        return {"FERMION_HOME": str(self.home), "FERMION_PORT": str(self.port)}

    @property
    def token(self) -> str:
        return json.loads((self.home / "credentials").read_text())["token"]

    def client(self, **kwargs) -> Client:
        return Client(settings=self.settings, autostart=False, **kwargs)

    @property
    def artifacts(self) -> Path:
        return self.home / "artifacts"


def start_server(home: Path, port: int | None = None, **env: str) -> RunningServer:
    """Start a server process with `env` added to its environment; its metadata on
    PostgreSQL where the session runs its servers there (tests/postgres.py)."""
    from tests.postgres import server_database, servers_on_postgres

    if servers_on_postgres() and "FERMION_DATABASE_URL" not in env:
        env = {**env, "FERMION_DATABASE_URL": server_database(home)}
    port = port or free_port()
    saved = dict(os.environ)
    os.environ.update(env)
    try:
        settings = Settings(home=home, port=port)
        launcher.start(settings)
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return RunningServer(home=home, port=port, settings=settings)


def stop_server(running: RunningServer) -> None:
    """Stop a test server and everything it runs. Jobs and replicas outlive a server on
    purpose (a restarted one finds them again), so a test session ends them itself."""
    try:
        with running.client() as admin:
            workspaces = [w.name for w in admin.list_workspaces().data]
        for workspace in workspaces:
            with running.client(workspace=workspace) as client:
                for deployment in client.list_deployments().data:
                    client.delete_deployment(deployment.name)
                active = [j for j in client.list_jobs().data if not j.status.is_terminal]
                for job in active:
                    with contextlib.suppress(fm_errors.Conflict):  # ended meanwhile
                        client.cancel_job(job.id)
                for job in active:
                    client.wait_job(job.id, timeout=60)
    except fm_errors.ServerUnavailable:
        pass  # already stopped by the test
    launcher.stop(running.settings)
    log = running.settings.server_log_path
    warned = [line for line in log.read_text().splitlines() if "Warning:" in line]
    assert not warned, f"the server warned (SQLAlchemy, FastAPI...): {warned[:5]}"


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A PostgreSQL for the tests that run on it (tests/postgres.py)."""
    from tests.postgres import throwaway_postgres

    with throwaway_postgres() as url:
        if url is None:
            pytest.skip("no PostgreSQL on this machine (apt-get install postgresql)")
        yield url


@pytest.fixture(scope="session")
def server(tmp_path_factory) -> Iterator[RunningServer]:
    running = start_server(tmp_path_factory.mktemp("fermion-home"))
    yield running
    stop_server(running)


@pytest.fixture(scope="module")
def jobs_server(tmp_path_factory) -> Iterator[RunningServer]:
    """A server whose executor has a known, small capacity (2 CPUs, 8 GiB), so job tests
    mean the same on any machine."""
    running = start_server(
        tmp_path_factory.mktemp("jobs-home"),
        FERMION_CAPACITY="cpu=2,memory=8Gi",
        FERMION_JOB_GRACE_S="3",
    )
    yield running
    stop_server(running)


@pytest.fixture()
def jobs(jobs_server) -> Iterator[Client]:
    with jobs_server.client() as client:
        yield client


@pytest.fixture()
def client(server: RunningServer) -> Iterator[Client]:
    with server.client() as c:
        yield c


@dataclass
class Cli:
    server: RunningServer
    runner: CliRunner

    def __call__(self, *args: str, ok: bool = True):
        result = self.runner.invoke(app, [str(a) for a in args], env=self.server.env)
        if ok and result.exit_code != 0:
            raise AssertionError(
                f"fermion {' '.join(map(str, args))} exited {result.exit_code}:\n{result.output}"
                f"{result.exception!r}"
            )
        return result


@pytest.fixture()
def cli(server: RunningServer) -> Cli:
    return Cli(server, CliRunner())


@pytest.fixture(scope="session")
def digits_dir(tmp_path_factory) -> Path:
    return sources.digits_folder(tmp_path_factory.mktemp("sources") / "digits")


@pytest.fixture()
def unique_name(request) -> str:
    """A dataset name no other test uses."""
    return request.node.name.replace("[", "-").replace("]", "").replace("_", "-")[-60:].strip("-")
