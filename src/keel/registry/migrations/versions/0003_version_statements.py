"""Signed version statements: each version row keeps the statement its signature covers (name,
number, manifest digest, parent) and the audit seq of its re-signing, if it was re-signed.

Rows written before this revision keep ``statement`` NULL: their signature covers the manifest
digest only, so they are refused on load until `keel models resign` signs a statement for them.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("versions", sa.Column("statement", sa.Text, nullable=True))
    op.add_column("versions", sa.Column("resign_seq", sa.Integer, nullable=True))


def downgrade() -> None:
    op.drop_column("versions", "resign_seq")
    op.drop_column("versions", "statement")
