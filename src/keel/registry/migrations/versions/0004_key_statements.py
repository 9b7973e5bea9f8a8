"""Signed key statements: each API key row keeps the statement its signature covers (id, role,
key hash, name, creation), that signature and the id of the signing key.

Rows written before this revision keep the three NULL: nothing binds their role or hash, so a
row inserted into the database would pass as one of them. They are refused from this revision
on; the fix is a new key (`keel keys create`) and revoking the old one.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-13
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NAME = 200


def upgrade() -> None:
    op.add_column("api_keys", sa.Column("statement", sa.Text, nullable=True))
    op.add_column("api_keys", sa.Column("signature", sa.Text, nullable=True))
    op.add_column("api_keys", sa.Column("signer", sa.String(NAME), nullable=True))


def downgrade() -> None:
    op.drop_column("api_keys", "signer")
    op.drop_column("api_keys", "signature")
    op.drop_column("api_keys", "statement")
