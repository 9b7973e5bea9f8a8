"""The registry's tables (SQLAlchemy Core), what their columns may hold, and rows to records.

This is the CURRENT schema, used to build queries; the database itself is created and upgraded
only by the Alembic migrations in ``keel/registry/migrations`` (a test checks the two agree).

    models        one row per model name (locked by writers to serialise version numbers)
    versions      name, version (UNIQUE together), manifest digest, signature, metrics..., the
                  signed version statement and the seq of a re-signing (revision 0003)
    aliases       (name, stage) -> version: where each stage points now
    alias_events  every move of an alias: the promotion/rollback history, each move with its
                  signed move statement and the seq of a re-signing (revision 0005)
    audit         the hash-chained trail (seq 1, 2, 3...)
    audit_head    one row: the last seq and hash (locked by every writer; shows a lost tail)
    api_keys      API keys with their role: the sha256 of each key, never the key (revision 0002),
                  and the signed key statement binding them (revision 0004)
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    Dialect,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    MetaData,
    Row,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.types import TypeDecorator

from keel.errors import NotFoundError, UserError
from keel.registry._audit import (
    ALIAS_ACTIONS,
    KEY_ACTIONS,
    KEY_PREFIX,
    REGISTER,
    RESIGN,
    STAGE_RESIGN,
    canonical_json,
)
from keel.registry._refs import check_model_name
from keel.registry.types import ROLES, AliasEvent, ApiKeyRecord, AuditEntry, Role, VersionRecord

__all__ = [
    "MAX_REASON",
    "NAME_LENGTH",
    "VERSION_TABLE",
    "alias_events",
    "aliases",
    "api_keys",
    "audit",
    "audit_head",
    "check_alias_action",
    "check_digest",
    "check_free_action",
    "check_free_target",
    "check_key_hash",
    "check_role",
    "check_signed",
    "check_text",
    "check_unsigned",
    "entry_from_row",
    "event_from_row",
    "key_from_row",
    "metadata",
    "models",
    "version_from_row",
    "versions",
]

VERSION_TABLE = "keel_alembic_version"  # not "alembic_version": a shared server may hold others
NAME_LENGTH = 200
MAX_REASON = 4000  # characters of a promotion's or rollback's reason
_DIGEST = re.compile(r"[0-9a-f]{64}")


class UtcDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime with microseconds on every backend (SQLite keeps text)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: the registry keeps UTC times")
        value = value.astimezone(UTC)
        return value if dialect.name == "postgresql" else value.replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class JsonText(TypeDecorator[Any]):
    """JSON kept as canonical text: NaN survives (PostgreSQL's json type refuses it)."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        return None if value is None else canonical_json(value)

    def process_result_value(self, value: str | None, dialect: Dialect) -> Any:
        return None if value is None else json.loads(value)


metadata = MetaData()

models = Table(
    "models",
    metadata,
    Column("name", String(NAME_LENGTH), primary_key=True),
    Column("created_at", UtcDateTime(), nullable=False),
)

versions = Table(
    "versions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(NAME_LENGTH), ForeignKey("models.name"), nullable=False),
    Column("version", Integer, nullable=False),
    Column("manifest_digest", String(64), nullable=False),
    Column("signature", Text, nullable=False),
    Column("key_id", String(NAME_LENGTH), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("created_by", String(NAME_LENGTH), nullable=False),
    Column("gates_passed", Boolean, nullable=False),
    Column("metrics", JsonText(), nullable=False),
    Column("audit_seq", Integer, nullable=False),
    Column("statement", Text, nullable=True),
    Column("resign_seq", Integer, nullable=True),
    UniqueConstraint("name", "version", name="uq_versions_name_version"),
    CheckConstraint("version >= 1", name="ck_versions_positive"),
)

aliases = Table(
    "aliases",
    metadata,
    Column("name", String(NAME_LENGTH), primary_key=True),
    Column("stage", String(NAME_LENGTH), primary_key=True),
    Column("version", Integer, nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
    ForeignKeyConstraint(
        ["name", "version"], ["versions.name", "versions.version"], name="fk_aliases_version"
    ),
)

alias_events = Table(
    "alias_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(NAME_LENGTH), nullable=False),
    Column("stage", String(NAME_LENGTH), nullable=False),
    Column("version", Integer, nullable=False),
    Column("previous_version", Integer, nullable=True),
    Column("action", String(32), nullable=False),
    Column("actor", String(NAME_LENGTH), nullable=False),
    Column("reason", Text, nullable=False),
    Column("forced", Boolean, nullable=False),
    Column("at", UtcDateTime(), nullable=False),
    Column("audit_seq", Integer, nullable=False),
    Column("statement", Text, nullable=True),
    Column("signature", Text, nullable=True),
    Column("key_id", String(NAME_LENGTH), nullable=True),
    Column("resign_seq", Integer, nullable=True),
    Index("ix_alias_events_name_stage", "name", "stage"),
)

audit = Table(
    "audit",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=False),
    Column("at", UtcDateTime(), nullable=False),
    Column("actor", String(NAME_LENGTH), nullable=False),
    Column("action", String(64), nullable=False),
    Column("target", Text, nullable=False),
    Column("details", JsonText(), nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
)

audit_head = Table(
    "audit_head",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("seq", Integer, nullable=False),
    Column("hash", String(64), nullable=False),
    CheckConstraint("id = 1", name="ck_audit_head_single_row"),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("key_id", String(64), primary_key=True),
    Column("name", String(NAME_LENGTH), nullable=False),
    Column("role", String(16), nullable=False),
    Column("key_hash", String(64), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("created_by", String(NAME_LENGTH), nullable=False),
    Column("revoked_at", UtcDateTime(), nullable=True),
    Column("revoked_by", String(NAME_LENGTH), nullable=True),
    Column("create_seq", Integer, nullable=False),
    Column("revoke_seq", Integer, nullable=True),
    Column("statement", Text, nullable=True),
    Column("signature", Text, nullable=True),
    Column("signer", String(NAME_LENGTH), nullable=True),
)


def check_text(
    value: str, what: str, *, empty: bool = False, limit: int | None = NAME_LENGTH
) -> str:
    """``value`` if it is a string that fits its column; a UserError naming it otherwise."""
    if not isinstance(value, str) or (not empty and not value.strip()):
        raise UserError(f"{what} must be a non-empty string, got {value!r}")
    if limit is not None and len(value) > limit:
        raise UserError(f"{what} {value[:40]!r}... has {len(value)} characters: at most {limit}")
    return value


def check_digest(value: str) -> str:
    if not isinstance(value, str) or not _DIGEST.fullmatch(value):
        raise UserError(f"manifest digest {value!r} is not a lowercase sha256 hex string")
    return value


def check_alias_action(action: str) -> str:
    if action not in ALIAS_ACTIONS:
        raise UserError(
            f"alias action {action!r} is unknown: use one of {', '.join(ALIAS_ACTIONS)}"
        )
    return action


def check_free_action(action: str) -> str:
    """An action for ``append_audit``: not one that ``create_version``/``resign_version``/
    ``move_alias``/``resign_moves`` write (their entries must point at a row, so a free-standing
    one would read as tampering)."""
    check_text(action, "audit action", limit=64)
    if action in (REGISTER, RESIGN, STAGE_RESIGN, *ALIAS_ACTIONS):
        raise UserError(
            f"audit action {action!r} is written by the registry itself: use create_version or "
            "move_alias, or name another action (e.g. key.create)"
        )
    return action


def check_free_target(action: str, target: str) -> str:
    """``target`` unless it names an API key under a key action (those entries must point at an
    ``api_keys`` row, so only ``create_api_key``/``revoke_api_key`` write them)."""
    if action in KEY_ACTIONS and target.startswith(KEY_PREFIX):
        raise UserError(
            f"audit entry {action} {target!r} is written by the registry itself: use "
            "create_api_key or revoke_api_key"
        )
    return target


def check_role(role: str) -> Role:
    if role not in ROLES:
        raise UserError(f"API key role {role!r} is unknown: use one of {', '.join(ROLES)}")
    return role  # type: ignore[return-value]


def check_key_hash(value: str) -> str:
    if not isinstance(value, str) or not _DIGEST.fullmatch(value):
        raise UserError("API key hash is not a lowercase sha256 hex string: store the key's hash")
    return value


def version_from_row(row: Row[Any]) -> VersionRecord:
    return VersionRecord(
        name=row.name,
        version=row.version,
        manifest_digest=row.manifest_digest,
        signature=row.signature,
        key_id=row.key_id,
        created_at=row.created_at,
        created_by=row.created_by,
        gates_passed=bool(row.gates_passed),
        metrics=row.metrics,
        statement=row.statement,
    )


def event_from_row(row: Row[Any]) -> AliasEvent:
    return AliasEvent(
        id=row.id,
        name=row.name,
        stage=row.stage,
        version=row.version,
        previous_version=row.previous_version,
        action=row.action,
        actor=row.actor,
        reason=row.reason,
        forced=bool(row.forced),
        at=row.at,
        statement=row.statement,
        signature=row.signature,
        key_id=row.key_id,
    )


def entry_from_row(row: Row[Any]) -> AuditEntry:
    return AuditEntry(
        seq=row.seq,
        at=row.at,
        actor=row.actor,
        action=row.action,
        target=row.target,
        details=row.details,
        prev_hash=row.prev_hash,
        hash=row.hash,
    )


def key_from_row(row: Row[Any]) -> ApiKeyRecord:
    return ApiKeyRecord(
        key_id=row.key_id,
        name=row.name,
        role=row.role,
        key_hash=row.key_hash,
        created_at=row.created_at,
        created_by=row.created_by,
        revoked_at=row.revoked_at,
        revoked_by=row.revoked_by,
        statement=row.statement,
        signature=row.signature,
        signer=row.signer,
    )


# -- the arguments of each store method, checked once for every implementation -------------------


def check_version_args(name: str, manifest_digest: str, created_by: str) -> None:
    check_model_name(name)  # a name a reference can name, or the version could never be used
    check_digest(manifest_digest)
    check_text(created_by, "created_by")


def check_signed(signature: str, key_id: str) -> None:
    """What a signer returned: a signature and a key id that fit their columns."""
    check_text(signature, "signature", limit=None)
    check_text(key_id, "key id")


def check_unsigned(record: VersionRecord, current: VersionRecord | None) -> VersionRecord:
    """``current``, the row of ``record`` as it is now, if it is still the row that was checked
    before re-signing and has no version statement yet; a UserError otherwise."""
    ref = f"{record.name}:{record.version}"
    if current is None:
        raise NotFoundError(f"{ref} does not exist: `keel models list` shows the versions")
    if current.statement is not None:
        raise UserError(f"{ref} already has a signed version statement: nothing to re-sign")
    facts = ("manifest_digest", "signature", "key_id")
    if any(getattr(current, f) != getattr(record, f) for f in facts):
        raise UserError(f"{ref} changed since it was checked: run `keel models resign` again")
    return current


def check_alias_args(stage: str, action: str, actor: str, reason: str) -> None:
    check_text(stage, "stage")
    check_alias_action(action)
    check_text(actor, "actor")
    check_text(reason, "reason", empty=True, limit=MAX_REASON)


def check_unsigned_moves(
    events: Sequence[AliasEvent], current: Sequence[AliasEvent]
) -> list[AliasEvent]:
    """``current``, the history of one alias as it is now, if it is still ``events``, the
    history that was checked before re-signing, and has no statements; a UserError otherwise."""
    if not events:
        raise UserError("no moves to re-sign: pass the history of one stage")
    alias = f"{events[0].name}@{events[0].stage}"
    if any(event.statement is not None for event in current):
        raise UserError(f"{alias} already has signed move statements: nothing to re-sign")
    if list(current) != list(events):
        raise UserError(f"{alias} changed since it was checked: run `keel models resign` again")
    return list(current)


def check_api_key_args(key_id: str, key_hash: str, role: str, name: str, actor: str) -> None:
    check_text(key_id, "API key id", limit=64)
    check_key_hash(key_hash)
    check_role(role)
    check_text(name, "API key name", empty=True)
    check_text(actor, "actor")


def check_audit_args(actor: str, action: str, target: str) -> None:
    check_text(actor, "actor")
    check_free_action(action)
    check_text(target, "audit target", empty=True, limit=None)
    check_free_target(action, target)
