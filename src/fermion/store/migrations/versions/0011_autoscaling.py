"""deployments may scale themselves between bounds; the changes they made

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("deployments") as batch:
        batch.add_column(sa.Column("autoscaling", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("scale_events", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("deployments") as batch:
        batch.drop_column("scale_events")
        batch.drop_column("autoscaling")
