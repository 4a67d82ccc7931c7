"""Store tests run on SQLite always, and on PostgreSQL too when
FERMION_TEST_DATABASE_URL is set (`.ci/run` starts a throwaway one)."""

from __future__ import annotations

import os

import pytest
from sqlalchemy import text

from fermion.store.metadata import make_engine

DATABASES = ["sqlite"] + (["postgresql"] if os.environ.get("FERMION_TEST_DATABASE_URL") else [])


@pytest.fixture(params=DATABASES)
def database_url(request, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'fermion.db'}"
    url = os.environ["FERMION_TEST_DATABASE_URL"]
    engine = make_engine(url)
    with engine.begin() as connection:  # start from an empty database every time
        connection.execute(text("DROP SCHEMA public CASCADE"))
        connection.execute(text("CREATE SCHEMA public"))
    engine.dispose()
    return url
