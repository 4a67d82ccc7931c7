"""MetadataStore on a real database: migrations, constraints, cascades, timestamps."""

from __future__ import annotations

from datetime import UTC

import pytest
from sqlalchemy import inspect, select, text
from sqlalchemy.exc import IntegrityError

from fermion.store import MetadataStore
from fermion.store.tables import DatasetRow, DatasetVersionRow, Token, User
from fermion.store.tenancy import WorkspaceRow, enter


def _version(dataset: DatasetRow, version: int, digest: str) -> DatasetVersionRow:
    return DatasetVersionRow(
        dataset=dataset,
        version=version,
        digest=digest,
        uri=f"/a/{digest}",
        source="/src",
        spec={"split": [0.8, 0.1, 0.1], "nested": {"k": [1, 2]}},
        num_records=3,
        split_counts={"train": 2, "validation": 1, "test": 0},
        class_names=["a", "b"],
        class_counts={"train": {"a": 1, "b": 1}},
        size_bytes=2**40,
        skipped={"count": 0},
    )


def test_migrations_create_the_schema_and_are_idempotent(database_url):
    store = MetadataStore(database_url)
    tables = set(inspect(store.engine).get_table_names())
    assert {"users", "tokens", "datasets", "dataset_versions", "alembic_version"} <= tables
    with store.engine.connect() as connection:
        head = connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
    assert head == "0012"
    store.dispose()
    MetadataStore(database_url).dispose()  # a second start applies nothing and fails nothing


def test_the_migrations_build_exactly_the_tables_the_code_declares(database_url):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from fermion.store.tables import Base

    store = MetadataStore(database_url)
    with store.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": False})
        differences = compare_metadata(context, Base.metadata)
    store.dispose()
    assert differences == []


def test_sqlite_runs_in_wal_mode(tmp_path):
    store = MetadataStore(f"sqlite:///{tmp_path / 'f.db'}")
    with store.engine.connect() as connection:
        assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1


def test_rows_round_trip_with_json_and_aware_timestamps(database_url):
    store = MetadataStore(database_url)
    with store.session() as session:
        user = User(name="ada", role="admin", job_defaults={"cpu": 2.0})
        dataset = DatasetRow(
            name="digits", type="image-classification", next_version=2, workspace_id=1
        )
        session.add_all([user, dataset, _version(dataset, 1, "d1")])
    with store.session() as session:
        row = session.scalar(select(DatasetVersionRow))
        assert row.spec["nested"] == {"k": [1, 2]}
        assert row.size_bytes == 2**40
        assert row.created_at.tzinfo is not None
        assert row.created_at.utcoffset() == UTC.utcoffset(None)
        assert session.scalar(select(User)).job_defaults == {"cpu": 2.0}


def test_versions_and_digests_are_unique_per_dataset(database_url):
    store = MetadataStore(database_url)
    with store.session() as session:
        dataset = DatasetRow(name="d", type="text-classification", next_version=1, workspace_id=1)
        session.add_all([dataset, _version(dataset, 1, "same")])
    with pytest.raises(IntegrityError), store.session() as session:
        dataset = session.scalar(select(DatasetRow))
        session.add(_version(dataset, 2, "same"))
    with pytest.raises(IntegrityError), store.session() as session:
        dataset = session.scalar(select(DatasetRow))
        session.add(_version(dataset, 1, "other"))
    with store.session() as session:  # the same digest under another name is fine
        other = DatasetRow(name="e", type="text-classification", next_version=1, workspace_id=1)
        session.add_all([other, _version(other, 1, "same")])


def test_deleting_a_dataset_deletes_its_versions_and_a_user_their_tokens(database_url):
    store = MetadataStore(database_url)
    with store.session() as session:
        user = User(name="bob", role="member", job_defaults={})
        session.add_all([user, Token(user=user, name="t", token_hash="h" * 64)])
        dataset = DatasetRow(name="d", type="text-classification", next_version=1, workspace_id=1)
        session.add_all([dataset, _version(dataset, 1, "x"), _version(dataset, 2, "y")])
    with store.session() as session:
        session.delete(session.scalar(select(DatasetRow)))
        session.delete(session.scalar(select(User)))
    with store.session() as session:
        assert session.scalars(select(DatasetVersionRow)).all() == []
        assert session.scalars(select(Token)).all() == []


def test_an_existing_database_moves_into_the_default_workspace(database_url):
    """A server upgraded from before workspaces: its users, datasets and secrets land in
    "default", and a name may then be taken again in another workspace."""
    from alembic import command
    from alembic.config import Config

    from fermion.store.metadata import MIGRATIONS_DIR, make_engine

    engine = make_engine(database_url)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0008")
        connection.execute(
            text(
                "INSERT INTO users (id, name, role, job_defaults, created_at)"
                " VALUES (7, 'ada', 'viewer', '{}', CURRENT_TIMESTAMP)"
            )
        )
        connection.execute(
            text(
                "INSERT INTO datasets (id, name, type, owner_id, next_version, created_at)"
                " VALUES (3, 'digits', 'image-classification', 7, 2, CURRENT_TIMESTAMP)"
            )
        )
        for user_id, name in ((8, "bob"), (9, "cy")):
            connection.execute(
                text(
                    "INSERT INTO users (id, name, role, job_defaults, created_at)"
                    f" VALUES ({user_id}, '{name}', 'member', '{{}}', CURRENT_TIMESTAMP)"
                )
            )
        for owner_id in (7, 8, 9):  # each user had their own API_KEY
            connection.execute(
                text(
                    "INSERT INTO secrets (owner_id, name, sealed, created_at, updated_at)"
                    f" VALUES ({owner_id}, 'API_KEY', :sealed, CURRENT_TIMESTAMP,"
                    " CURRENT_TIMESTAMP)"
                ),
                {"sealed": b"x"},
            )
        connection.execute(  # a dataset's version: recreating its table must keep it
            text(
                "INSERT INTO dataset_versions (dataset_id, version, digest, uri, source, spec,"
                " num_records, split_counts, class_names, class_counts, size_bytes, skipped,"
                " created_at) VALUES (3, 1, 'd1', '/a', '/s', '{}', 1, '{}', '[]', '{}', 1,"
                " '{}', CURRENT_TIMESTAMP)"
            )
        )
    engine.dispose()
    store = MetadataStore(database_url)
    with store.session() as session:
        ada = session.get(User, 7)
        assert ada.default_workspace_id == 1 and ada.disabled is False
        assert session.scalar(select(DatasetRow)).workspace_id == 1
        assert session.scalar(select(DatasetVersionRow)).digest == "d1"
        secrets = session.execute(text("SELECT owner_id, name FROM secrets ORDER BY id"))
        assert list(secrets) == [(7, "API_KEY"), (8, "API_KEY_8"), (9, "API_KEY_9")]
        role = session.execute(text("SELECT role FROM memberships WHERE user_id = 7")).scalar()
        assert role == "viewer"
        other = WorkspaceRow(name="team-b", quota={})
        session.add(other)
        session.flush()
        session.add(DatasetRow(name="digits", type="text-classification", workspace_id=other.id))
    with pytest.raises(IntegrityError), store.session() as session:
        session.add(DatasetRow(name="digits", type="text-classification", workspace_id=1))
    store.dispose()


def test_an_entered_session_sees_and_creates_rows_of_its_workspace_only(database_url):
    store = MetadataStore(database_url)
    with store.session() as session:
        team = WorkspaceRow(name="team", quota={})
        session.add(team)
        session.flush()
        session.add(DatasetRow(name="theirs", type="text-classification", workspace_id=team.id))
        session.add(DatasetRow(name="ours", type="text-classification", workspace_id=1))
    with store.session() as session:
        enter(session, 1)
        assert [d.name for d in session.scalars(select(DatasetRow))] == ["ours"]
        theirs_id = session.execute(text("SELECT id FROM datasets WHERE name = 'theirs'")).scalar()
        assert session.get(DatasetRow, theirs_id) is None
        session.add(DatasetRow(name="new", type="text-classification"))
    with store.session() as session:
        new = session.scalar(select(DatasetRow).where(DatasetRow.name == "new"))
        assert new.workspace_id == 1
    store.dispose()


def test_the_audit_log_cannot_be_rewritten(database_url):
    from sqlalchemy.exc import DBAPIError

    from fermion.store.tables import AuditEventRow

    store = MetadataStore(database_url)
    with store.session() as session:
        session.add(AuditEventRow(actor="ana", method="POST", path="/api/v1/x", status=201))
    for change in ("UPDATE audit_events SET actor = 'eve'", "DELETE FROM audit_events"):
        with pytest.raises(DBAPIError, match="append-only"), store.session() as session:
            session.execute(text(change))
    with store.session() as session:
        assert session.scalar(select(AuditEventRow)).actor == "ana"
    store.dispose()
