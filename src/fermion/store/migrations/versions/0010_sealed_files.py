"""files sealed at rest: a workspace may ask for it; data keys wrapped by the master
key; which dataset and model versions are sealed

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

VERSIONED = ("dataset_versions", "model_versions")


def upgrade() -> None:
    with op.batch_alter_table("workspaces") as batch:
        batch.add_column(
            sa.Column("encrypted", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    for table in VERSIONED:
        with op.batch_alter_table(table) as batch:
            batch.add_column(
                sa.Column("sealed", sa.Boolean(), nullable=False, server_default=sa.false())
            )
    op.create_table(
        "data_keys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("wrapped", sa.LargeBinary(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["workspace_id"], ["workspaces.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_data_keys_workspace_id", "data_keys", ["workspace_id"])


def downgrade() -> None:
    op.drop_index("ix_data_keys_workspace_id", "data_keys")
    op.drop_table("data_keys")
    for table in VERSIONED:
        with op.batch_alter_table(table) as batch:
            batch.drop_column("sealed")
    with op.batch_alter_table("workspaces") as batch:
        batch.drop_column("encrypted")
