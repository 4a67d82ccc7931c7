"""A throwaway PostgreSQL for the tests that run on it: the server named by
FERMION_TEST_DATABASE_URL if one is given, else one started here from the machine's
PostgreSQL binaries (Debian's postgresql package) on a free loopback port, in a folder
of its own, stopped at the end of the session.

With FERMION_TEST_DATABASE=postgresql (`make test DATABASE=postgresql`, what CI runs),
every server a test starts keeps its metadata there, in a database of its own."""

from __future__ import annotations

import atexit
import contextlib
import glob
import hashlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import create_engine, make_url, text

from fermion.store.metadata import make_engine

BINARIES = sorted(glob.glob("/usr/lib/postgresql/*/bin"))


def _as_owner(command: list[str], owner: str | None) -> list[str]:
    # initdb refuses to run as root: as root, the cluster belongs to the postgres user.
    return ["runuser", "-u", owner, "--", *command] if owner else command


@contextlib.contextmanager
def throwaway_postgres() -> Iterator[str | None]:
    """A database URL, or None when this machine has no PostgreSQL to start."""
    given = os.environ.get("FERMION_TEST_DATABASE_URL")
    if given:
        yield given
        return
    if not BINARIES:
        yield None
        return
    from tests.conftest import free_port

    bin_dir = Path(BINARIES[-1])
    owner = "postgres" if os.geteuid() == 0 else None
    folder = Path(tempfile.mkdtemp(prefix="fermion-pg-"))
    if owner:
        shutil.chown(folder, owner)
    data, port = folder / "data", free_port()

    def run(program: str, *args: str) -> None:
        command = _as_owner([str(bin_dir / program), *args], owner)
        subprocess.run(command, check=True, capture_output=True, timeout=120)

    run("initdb", "-D", str(data), "-A", "trust", "-U", "postgres", "-E", "UTF8")
    options = f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off"
    run("pg_ctl", "-D", str(data), "-l", str(folder / "log"), "-w", "-o", options, "start")
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            _as_owner([str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"], owner),
            capture_output=True,
            timeout=60,
        )
        shutil.rmtree(folder, ignore_errors=True)


def empty(url: str) -> str:
    """The database at `url`, emptied: every test starts from nothing."""
    engine = make_engine(url)
    with engine.begin() as connection:
        connection.execute(text("DROP SCHEMA public CASCADE"))
        connection.execute(text("CREATE SCHEMA public"))
    engine.dispose()
    return url


def servers_on_postgres() -> bool:
    return os.environ.get("FERMION_TEST_DATABASE", "sqlite") == "postgresql"


_shared: list[str] = []  # the session's PostgreSQL for servers, started on first use


def server_database(home: Path) -> str:
    """The database of the server whose home is `home`: made on first use, the same
    again for a server restarted on that home."""
    if not _shared:
        stack = contextlib.ExitStack()
        url = stack.enter_context(throwaway_postgres())
        if url is None:
            raise RuntimeError(
                "FERMION_TEST_DATABASE=postgresql, and this machine has no PostgreSQL to start:"
                " apt-get install postgresql, or give FERMION_TEST_DATABASE_URL"
            )
        atexit.register(stack.close)
        _shared.append(url)
    name = "fermion_" + hashlib.sha256(str(home.resolve()).encode()).hexdigest()[:16]
    admin = create_engine(make_url(_shared[0]), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        found = connection.execute(
            text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name}
        ).first()
        if found is None:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return make_url(_shared[0]).set(database=name).render_as_string(hide_password=False)
