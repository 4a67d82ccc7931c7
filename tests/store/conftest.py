"""Store tests run on SQLite and on PostgreSQL (tests/postgres.py starts a throwaway
one, or uses FERMION_TEST_DATABASE_URL)."""

from __future__ import annotations

import pytest

from tests.postgres import empty


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'fermion.db'}"
    return empty(request.getfixturevalue("postgres_url"))
