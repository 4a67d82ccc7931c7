"""The server on PostgreSQL: the same dataset path as on SQLite (tests/postgres.py
starts a throwaway PostgreSQL)."""

from __future__ import annotations

from fermion.client import launcher
from tests.conftest import start_server
from tests.postgres import empty


def test_datasets_on_postgresql(postgres_url, tmp_path, digits_dir):
    url = empty(postgres_url)
    running = start_server(tmp_path / "home", FERMION_DATABASE_URL=url)
    try:
        with running.client() as client:
            first = client.create_dataset("pg-digits", "image classification", digits_dir)
            again = client.create_dataset("pg-digits", "image-classification", digits_dir)
            assert (first.ref, again.ref, again.existing) == ("pg-digits:v1", "pg-digits:v1", True)
            assert client.list_datasets().count == 1
            assert client.me().name == "admin"
            assert client.delete_dataset("pg-digits") == ["pg-digits:v1"]
    finally:
        launcher.stop(running.settings)
    assert not (tmp_path / "home" / "fermion.db").exists()  # it really used PostgreSQL
