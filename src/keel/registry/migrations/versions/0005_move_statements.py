"""Signed stage moves: each alias event keeps the move statement its signature covers (alias,
place in its history, version and manifest digest, action, actor, reason, forced, time, the move
before it), that signature, the signing key's id and the audit seq of its re-signing, if any.

Rows written before this revision keep the four NULL: nothing binds them, so a row inserted into
the history with the alias pointed at it would pass as a promotion. A stage whose history has
no statements is refused on every read until `keel models resign` signs them after checking the
history against the audit trail.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-14
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NAME = 200


def upgrade() -> None:
    op.add_column("alias_events", sa.Column("statement", sa.Text, nullable=True))
    op.add_column("alias_events", sa.Column("signature", sa.Text, nullable=True))
    op.add_column("alias_events", sa.Column("key_id", sa.String(NAME), nullable=True))
    op.add_column("alias_events", sa.Column("resign_seq", sa.Integer, nullable=True))


def downgrade() -> None:
    op.drop_column("alias_events", "resign_seq")
    op.drop_column("alias_events", "key_id")
    op.drop_column("alias_events", "signature")
    op.drop_column("alias_events", "statement")
