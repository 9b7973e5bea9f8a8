"""The registry's schema migrations (Alembic), run programmatically: no alembic.ini.

``SqlStore`` calls :func:`upgrade` on open, on a connection whose transaction already holds the
migration lock (SQLite: ``BEGIN IMMEDIATE``; PostgreSQL: an advisory lock), so many processes
opening a fresh database at once migrate it exactly once. To write the next migration, add
``versions/000N_what.py`` by hand (``script.py.mako`` is the template) with ``down_revision`` set
to the previous one, and change ``keel/registry/_schema.py`` to match; a test compares the two.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from keel.errors import UserError

if TYPE_CHECKING:
    from alembic.config import Config
    from sqlalchemy import Connection

__all__ = ["HEAD", "REVISIONS", "at_head", "upgrade"]

HERE = Path(__file__).parent
# every revision in versions/, oldest first (a test checks this list)
REVISIONS = ("0001", "0002", "0003", "0004", "0005")
HEAD = REVISIONS[-1]


def _config(connection: Connection) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(HERE).replace("%", "%%"))
    config.attributes["connection"] = connection
    return config


def at_head(connection: Connection, where: str) -> bool:
    """Whether the database is at the newest schema, read without loading Alembic (so opening
    an up-to-date registry stays fast); a UserError if it is newer than this keel."""
    from sqlalchemy import inspect, text

    from keel.registry._schema import VERSION_TABLE

    if not inspect(connection).has_table(VERSION_TABLE):
        return False
    current = set(connection.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalars())
    if current - set(REVISIONS):
        raise UserError(
            f"the registry database {where} has schema revision {', '.join(sorted(current))}, "
            "newer than this keel knows: upgrade keel, or check KEEL_REGISTRY_URL"
        )
    return current == {HEAD}


def upgrade(connection: Connection) -> None:
    """Bring the schema to the newest revision, inside the caller's (locked) transaction."""
    from alembic import command

    command.upgrade(_config(connection), "head")
