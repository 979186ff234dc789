"""Alembic environment: runs on the connection Vigil passes in (see vigil.store.db.upgrade_schema)."""

from __future__ import annotations

from alembic import context

from vigil.store.models import Base

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run Vigil's migrations through vigil.store.db.upgrade_schema")
context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
