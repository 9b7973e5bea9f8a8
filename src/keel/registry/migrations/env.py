"""Alembic's environment for the registry: always run programmatically on a connection that
``keel.registry.migrations.upgrade`` passes in (already in a locked transaction); no alembic.ini."""

from __future__ import annotations

from alembic import context

from keel.registry._schema import VERSION_TABLE, metadata

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=metadata,
    version_table=VERSION_TABLE,
    transactional_ddl=True,
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
