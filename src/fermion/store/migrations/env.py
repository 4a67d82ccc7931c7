"""Alembic environment: runs on the connection MetadataStore hands in."""

from alembic import context

from fermion.store.tables import Base

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
