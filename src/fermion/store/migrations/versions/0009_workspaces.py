"""workspaces and memberships; every resource belongs to a workspace (the existing ones
to "default"), names unique per workspace (deployments' stay server-wide: they are
addresses); users can be disabled; the audit log, which the database keeps append-only;
each replica's key; tokens limited to reading, or to one workspace

Revision ID: 0009
Revises: 0008
"""

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

# SQLite keeps the old unique constraints unnamed; batch mode names them by this
# convention so that they can be dropped. PostgreSQL named them itself (TABLE_COL_key).
SQLITE_NAMES = {"uq": "uq_%(table_name)s_%(column_0_name)s"}
# table -> the column its old unique constraint started with, or None to keep it
DEFAULT = "(SELECT id FROM workspaces WHERE name = 'default')"
BOUND = {
    "datasets": "name",
    "jobs": None,
    "models": "name",
    "deployments": None,
    "sweeps": "name",
    "federations": "name",
    "secrets": "owner_id",
}


def _old_unique(table: str, first: str) -> str:
    if op.get_bind().dialect.name == "postgresql":
        columns = "owner_id_name" if first == "owner_id" else first
        return f"{table}_{columns}_key"
    return f"uq_{table}_{first}"


def upgrade() -> None:
    workspaces = op.create_table(
        "workspaces",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("quota", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    op.bulk_insert(workspaces, [{"name": "default", "quota": {}, "created_at": datetime.now(UTC)}])
    op.create_table(
        "memberships",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["workspace_id"], ["workspaces.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("workspace_id", "user_id"),
    )
    with op.batch_alter_table("memberships") as batch:
        batch.create_index(batch.f("ix_memberships_user_id"), ["user_id"], unique=False)
        batch.create_index(batch.f("ix_memberships_workspace_id"), ["workspace_id"], unique=False)
    op.execute(
        sa.text(
            "INSERT INTO memberships (workspace_id, user_id, role, created_at)"
            f" SELECT {DEFAULT}, id, CASE WHEN role = 'viewer' THEN 'viewer' ELSE 'member' END,"
            " created_at FROM users"
        )
    )
    with op.batch_alter_table("users") as batch:
        batch.add_column(
            sa.Column("disabled", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch.add_column(sa.Column("default_workspace_id", sa.Integer(), nullable=True))
        batch.create_foreign_key(
            "fk_users_default_workspace_id",
            "workspaces",
            ["default_workspace_id"],
            ["id"],
            ondelete="SET NULL",
        )
    op.execute(sa.text(f"UPDATE users SET default_workspace_id = {DEFAULT}"))
    _rename_shared_secret_names()
    for table, old_unique in BOUND.items():
        _bind_to_workspaces(table, old_unique)
    _audit_log()
    with op.batch_alter_table("replicas") as batch:
        batch.add_column(sa.Column("key", sa.String(length=128), nullable=True))
    with op.batch_alter_table("tokens") as batch:
        batch.add_column(sa.Column("scope", sa.JSON(), nullable=True))


def _rename_shared_secret_names() -> None:
    """Secrets were each user's own; now they are the workspace's, one per name. Where
    users had the same name, the first keeps it and the others become NAME_<user id>
    (sealed under the old name, so `fermion secret set` must set them again)."""
    op.execute(
        sa.text(
            "UPDATE secrets SET name = name || '_' || CAST(owner_id AS VARCHAR(16))"
            " WHERE EXISTS (SELECT 1 FROM secrets AS earlier"
            " WHERE earlier.name = secrets.name AND earlier.id < secrets.id)"
        )
    )


def _audit_log() -> None:
    op.create_table(
        "audit_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=128), nullable=False),
        sa.Column("workspace", sa.String(length=64), nullable=True),
        sa.Column("method", sa.String(length=8), nullable=False),
        sa.Column("path", sa.String(length=512), nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("client", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("audit_events") as batch:
        batch.create_index(batch.f("ix_audit_events_actor"), ["actor"], unique=False)
        batch.create_index(batch.f("ix_audit_events_at"), ["at"], unique=False)
    refusal = "the audit log is append-only"
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            sa.text(
                "CREATE FUNCTION audit_events_append_only() RETURNS trigger AS $$"
                f" BEGIN RAISE EXCEPTION '{refusal}'; END; $$ LANGUAGE plpgsql"
            )
        )
        op.execute(
            sa.text(
                "CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON"
                " audit_events FOR EACH ROW EXECUTE FUNCTION audit_events_append_only()"
            )
        )
        return
    for change in ("UPDATE", "DELETE"):
        op.execute(
            sa.text(
                f"CREATE TRIGGER audit_events_no_{change.lower()} BEFORE {change} ON"
                f" audit_events BEGIN SELECT RAISE(ABORT, '{refusal}'); END"
            )
        )


def _bind_to_workspaces(table: str, old_unique: str | None) -> None:
    with op.batch_alter_table(table) as batch:
        batch.add_column(sa.Column("workspace_id", sa.Integer(), nullable=True))
    op.execute(sa.text(f"UPDATE {table} SET workspace_id = {DEFAULT}"))  # noqa: S608 - a fixed name
    with op.batch_alter_table(table, naming_convention=SQLITE_NAMES) as batch:
        batch.alter_column("workspace_id", existing_type=sa.Integer(), nullable=False)
        batch.create_foreign_key(
            f"fk_{table}_workspace_id", "workspaces", ["workspace_id"], ["id"], ondelete="CASCADE"
        )
        batch.create_index(batch.f(f"ix_{table}_workspace_id"), ["workspace_id"], unique=False)
        if old_unique is not None:
            batch.drop_constraint(_old_unique(table, old_unique), type_="unique")
            batch.create_unique_constraint(f"uq_{table}_workspace_name", ["workspace_id", "name"])


def downgrade() -> None:
    with op.batch_alter_table("replicas") as batch:
        batch.drop_column("key")
    with op.batch_alter_table("tokens") as batch:
        batch.drop_column("scope")
    if op.get_bind().dialect.name == "postgresql":
        op.execute(sa.text("DROP TRIGGER audit_events_append_only ON audit_events"))
        op.execute(sa.text("DROP FUNCTION audit_events_append_only()"))
    op.drop_table("audit_events")
    for table in BOUND:
        with op.batch_alter_table(table) as batch:
            batch.drop_index(batch.f(f"ix_{table}_workspace_id"))
            batch.drop_column("workspace_id")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("default_workspace_id")
        batch.drop_column("disabled")
    op.drop_table("memberships")
    op.drop_table("workspaces")
