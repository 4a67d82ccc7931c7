"""The server on PostgreSQL: the same dataset path as on SQLite. Runs when
FERMION_TEST_DATABASE_URL is set (`.ci/run` starts a throwaway PostgreSQL)."""

from __future__ import annotations

import os

import pytest
from sqlalchemy import text

from fermion.client import launcher
from fermion.store.metadata import make_engine
from tests.conftest import start_server

DATABASES = ["postgresql"] if os.environ.get("FERMION_TEST_DATABASE_URL") else []


@pytest.mark.parametrize("database", DATABASES)
def test_datasets_on_postgresql(database, tmp_path, digits_dir):
    url = os.environ["FERMION_TEST_DATABASE_URL"]
    engine = make_engine(url)
    with engine.begin() as connection:
        connection.execute(text("DROP SCHEMA public CASCADE"))
        connection.execute(text("CREATE SCHEMA public"))
    engine.dispose()
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
