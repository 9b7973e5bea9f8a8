"""``SqlStore``: the metadata store on SQLite (WAL, the default) or PostgreSQL (a shared server).

Writers are serialised so that version numbers and the audit chain never fork: on SQLite every
write transaction starts with ``BEGIN IMMEDIATE`` (one writer at a time across processes, others
wait up to the busy timeout); on PostgreSQL a writer locks the model's row in ``models`` (created on
first use with ``INSERT ... ON CONFLICT DO NOTHING``) and the one-row ``audit_head`` with ``SELECT
... FOR UPDATE``. The UNIQUE (name, version) constraint is the safety net; integrity, serialisation
and lock errors are retried a bounded number of times. Every mutation writes its audit entry in its
own transaction. The schema is created and upgraded only by Alembic, under a lock, on open. A
version's statement is signed inside the transaction that allocates its number, and a stage
move's inside the transaction that writes it (after reading the move it follows); once a write
has committed, its audit entry is handed to the ``anchor`` (when set) for a signed checkpoint.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from sqlalchemy import Connection, Engine, create_engine, event, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, IntegrityError, OperationalError

from keel.errors import KeelError, NotFoundError, UserError
from keel.registry import _schema as t
from keel.registry import migrations
from keel.registry._audit import (
    KEY_CREATE,
    KEY_REVOKE,
    REGISTER,
    RESIGN,
    STAGE_RESIGN,
    alias_details,
    alias_target,
    key_details,
    key_target,
    next_entry,
    plain_json,
    register_details,
    resign_details,
    stage_resign_details,
    verify_audit,
    version_target,
)
from keel.registry._key_statement import signed_key
from keel.registry._move_statement import resign_history, sign_move, signed_after
from keel.registry._refs import check_version
from keel.registry._statement import VersionStatement
from keel.registry.types import (
    AliasEvent,
    ApiKeyRecord,
    AuditEntry,
    Role,
    Signer,
    VersionRecord,
)

if TYPE_CHECKING:
    from keel.registry._anchor import AuditAnchor

__all__ = ["SqlStore", "parse_url"]

T = TypeVar("T")
BUSY_TIMEOUT_S = 30.0
CONNECT_TIMEOUT_S = 10
ATTEMPTS = 5
_MIGRATION_LOCK = 0x6B65656C  # "keel": the advisory lock key that serialises migrations
_RETRY_SQLSTATES = {"40001", "40P01", "55P03", "23505"}  # serialisation, deadlock, lock, unique
_FIX = "check KEEL_REGISTRY_URL"
_APPENDED = "keel_appended"  # connection.info key: the audit entry the transaction appended


def _safe(url: URL) -> str:
    return url.render_as_string(hide_password=True)


def parse_url(url: str) -> URL:
    """A SQLAlchemy URL for ``sqlite:///path`` or ``postgresql://...`` (run on psycopg 3)."""
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError, TypeError):
        raise UserError(
            f"registry URL {str(url).split('@')[-1]!r} is not a database URL: {_FIX} "
            "(sqlite:///path/registry.db or postgresql://user@host/db)"
        ) from None
    backend, _, driver = parsed.drivername.partition("+")
    if backend in ("postgresql", "postgres") and driver in ("", "psycopg"):
        return parsed.set(drivername="postgresql+psycopg")
    if backend == "sqlite" and driver in ("", "pysqlite"):
        database = parsed.database or ""
        if database in ("", ":memory:") or database.startswith("file:"):
            raise UserError(
                f"registry URL {_safe(parsed)!r} names no database file: use "
                "sqlite:///path/registry.db (or MemoryStore for a registry in memory)"
            )
        folder = Path(database).parent
        if not folder.is_dir():
            raise NotFoundError(
                f"the folder {folder} of registry database {database} does not exist: create it, "
                f"run `keel init`, or {_FIX}"
            )
        return parsed
    raise UserError(
        f"registry URL {_safe(parsed)!r} uses {parsed.drivername!r}: the registry runs on "
        f"sqlite:///path or postgresql://user@host/db; {_FIX}"
    )


def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None  # we emit BEGIN ourselves (see _sqlite_begin)
    cursor = dbapi_connection.cursor()
    cursor.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
    cursor.execute("PRAGMA journal_mode = WAL")
    cursor.execute("PRAGMA synchronous = NORMAL")
    cursor.execute("PRAGMA foreign_keys = ON")
    cursor.close()


def _sqlite_begin(connection: Connection) -> None:
    write = connection.get_execution_options().get("keel_write", False)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


class _Sqlite:
    """One writer at a time: ``BEGIN IMMEDIATE`` takes the database's write lock up front."""

    insert = staticmethod(sqlite_insert)
    snapshot: ClassVar[
        dict[str, Any]
    ] = {}  # a deferred BEGIN in WAL mode reads one snapshot already

    def engine(self, url: URL) -> Engine:
        engine = create_engine(url, connect_args={"timeout": BUSY_TIMEOUT_S})
        event.listen(engine, "connect", _sqlite_connect)
        event.listen(engine, "begin", _sqlite_begin)
        return engine

    def lock_migrations(self, connection: Connection) -> None:
        """Nothing to add: the migration runs in a BEGIN IMMEDIATE transaction."""


class _Postgres:
    """Row locks serialise writers; an advisory lock serialises migrations."""

    insert = staticmethod(pg_insert)
    snapshot: ClassVar[dict[str, Any]] = {"isolation_level": "REPEATABLE READ"}

    def engine(self, url: URL) -> Engine:
        args = {"connect_timeout": CONNECT_TIMEOUT_S, "application_name": "keel"}
        return create_engine(url, connect_args=args)

    def lock_migrations(self, connection: Connection) -> None:
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK})


def _retryable(error: DBAPIError) -> bool:
    if getattr(error.orig, "sqlstate", None) in _RETRY_SQLSTATES:
        return True
    message = str(error.orig).lower()
    if isinstance(error, OperationalError):
        return "locked" in message or "busy" in message
    return isinstance(error, IntegrityError) and "unique constraint" in message


def _first_line(error: BaseException) -> str:
    lines = str(getattr(error, "orig", None) or error).strip().splitlines()
    return lines[0] if lines else type(error).__name__


class SqlStore:
    """The :class:`~keel.registry.types.MetadataStore` on SQLite or PostgreSQL.

    ``url``: ``sqlite:///path/registry.db`` or ``postgresql://user:pass@host:5432/db`` (also
    ``postgresql+psycopg://``). Opening migrates the schema to the newest revision. ``clock``
    returns the current timezone-aware time (tests pass a fixed one). ``anchor`` writes a signed
    checkpoint of the audit head after every committed append (``Registry`` sets one).
    """

    def __init__(
        self,
        url: str,
        *,
        clock: Callable[[], datetime] | None = None,
        anchor: AuditAnchor | None = None,
    ) -> None:
        self.anchor = anchor
        self._chain: str | None = None  # the hash of audit entry 1, once known
        self._url = parse_url(url)
        self._dialect = _Postgres() if self._url.get_backend_name() == "postgresql" else _Sqlite()
        self._engine = self._dialect.engine(self._url)
        self._clock = clock or (lambda: datetime.now(UTC))
        try:
            self._migrate()
        except DBAPIError as exc:
            self._engine.dispose()
            raise UserError(
                f"cannot open the registry database {self.url}: {_first_line(exc)}: {_FIX} "
                "(and that the server is running)"
            ) from None
        except BaseException:
            self._engine.dispose()
            raise

    @property
    def url(self) -> str:
        """The database URL without its password."""
        return _safe(self._url)

    @property
    def engine(self) -> Engine:
        return self._engine

    def __repr__(self) -> str:
        return f"SqlStore({self.url!r})"

    def _migrate(self) -> None:
        with self._engine.connect() as connection:
            if migrations.at_head(connection, self.url):
                return
        with self._engine.connect() as connection:
            connection.execution_options(keel_write=True)
            with connection.begin():
                self._dialect.lock_migrations(connection)
                if not migrations.at_head(connection, self.url):  # another opener may have won
                    migrations.upgrade(connection)

    def _now(self) -> datetime:
        at = self._clock()
        if at.tzinfo is None:
            raise ValueError(f"the registry clock returned a naive datetime {at!r}")
        return at.astimezone(UTC)

    def _failure(self, error: DBAPIError) -> KeelError:
        if isinstance(error, OperationalError):
            return UserError(
                f"the registry database {self.url} failed: {_first_line(error)}: {_FIX} "
                "(and that the server is running)"
            )
        return KeelError(f"the registry database {self.url} failed: {_first_line(error)}")

    def _write(self, work: Callable[[Connection], T]) -> T:
        """Run ``work`` in one write transaction, retrying lock and uniqueness conflicts; once it
        has committed, anchor the audit entry it appended."""
        for attempt in range(1, ATTEMPTS + 1):
            try:
                with self._engine.connect() as connection:
                    connection.execution_options(keel_write=True)
                    connection.info.pop(_APPENDED, None)
                    with connection.begin():
                        result = work(connection)
                    appended = connection.info.pop(_APPENDED, None)
            except DBAPIError as exc:
                if attempt == ATTEMPTS or not _retryable(exc):
                    raise self._failure(exc) from exc
                time.sleep(random.uniform(0, 0.01 * 2**attempt))
                continue
            if appended is not None:
                self._anchor_entry(appended)
            return result
        raise AssertionError("unreachable")  # the loop returns or raises

    def _anchor_entry(self, entry: AuditEntry) -> None:
        if self.anchor is None:
            return
        if entry.seq == 1:
            self._chain = entry.hash
        chain = self._chain or self._stored_hash(1)
        if chain is None:  # entry 1 is gone: `keel audit verify` says so
            return
        self._chain = chain
        self.anchor.record(chain, entry, self._stored_hash)

    def _stored_hash(self, seq: int) -> str | None:
        query = select(t.audit.c.hash).where(t.audit.c.seq == seq)
        return self._read(lambda c: c.execute(query).scalar())

    def _read(self, work: Callable[[Connection], T], **options: Any) -> T:
        try:
            with self._engine.connect() as connection:
                if options:
                    connection.execution_options(**options)
                return work(connection)
        except DBAPIError as exc:
            raise self._failure(exc) from exc

    def _lock_head(self, connection: Connection) -> tuple[int, str]:
        query = select(t.audit_head.c.seq, t.audit_head.c.hash).where(t.audit_head.c.id == 1)
        row = connection.execute(query.with_for_update()).first()
        if row is None:
            raise KeelError(
                f"the audit head row of {self.url} is missing: the audit trail was tampered "
                "with; run `keel audit verify`"
            )
        return row.seq, row.hash

    def _write_entry(self, connection: Connection, entry: AuditEntry) -> None:
        values = {f: getattr(entry, f) for f in ("seq", "at", "actor", "action", "target")}
        values |= {"details": entry.details, "prev_hash": entry.prev_hash, "hash": entry.hash}
        connection.execute(t.audit.insert().values(**values))
        change = update(t.audit_head).where(t.audit_head.c.id == 1)
        connection.execute(change.values(seq=entry.seq, hash=entry.hash))
        connection.info[_APPENDED] = entry

    # -- versions ------------------------------------------------------------------------------

    def create_version(
        self,
        name: str,
        *,
        manifest_digest: str,
        sign: Signer,
        created_by: str,
        gates_passed: bool,
        metrics: dict[str, Any],
    ) -> VersionRecord:
        t.check_version_args(name, manifest_digest, created_by)
        plain = plain_json(dict(metrics), f"metrics of {name}")

        def work(connection: Connection) -> VersionRecord:
            at = self._now()
            new_model = self._dialect.insert(t.models).values(name=name, created_at=at)
            connection.execute(new_model.on_conflict_do_nothing(index_elements=["name"]))
            model = select(t.models.c.name).where(t.models.c.name == name)
            connection.execute(model.with_for_update())
            last = select(t.versions).where(t.versions.c.name == name)
            row = connection.execute(last.order_by(t.versions.c.version.desc()).limit(1)).first()
            parent = None if row is None else t.version_from_row(row)
            number = 1 if parent is None else parent.version + 1
            statement = VersionStatement.of(name, number, manifest_digest, parent)
            signature, key_id = sign(statement.digest())
            t.check_signed(signature, key_id)
            record = VersionRecord(
                name, number, manifest_digest, signature, key_id, at, created_by,
                bool(gates_passed), plain, statement.to_text(),
            )  # fmt: skip
            entry = next_entry(
                *self._lock_head(connection),
                at=at,
                actor=created_by,
                action=REGISTER,
                target=version_target(name, number),
                details=register_details(record),
            )
            row = {**asdict(record), "audit_seq": entry.seq}
            connection.execute(t.versions.insert().values(**row))
            self._write_entry(connection, entry)
            return record

        return self._write(work)

    def resign_version(self, record: VersionRecord, *, sign: Signer, actor: str) -> VersionRecord:
        t.check_text(actor, "actor")
        name, number = record.name, record.version

        def work(connection: Connection) -> VersionRecord:
            model = select(t.models.c.name).where(t.models.c.name == name)
            connection.execute(model.with_for_update())  # the model, then the head: as registering
            head = self._lock_head(connection)
            query = select(t.versions).where(
                t.versions.c.name == name, t.versions.c.version.in_([number - 1, number])
            )
            rows = {row.version: t.version_from_row(row) for row in connection.execute(query)}
            current = t.check_unsigned(record, rows.get(number))
            parent = rows.get(number - 1)
            statement = VersionStatement.of(name, number, current.manifest_digest, parent)
            signature, key_id = sign(statement.digest())
            t.check_signed(signature, key_id)
            resigned = VersionRecord(
                **{**asdict(current), "signature": signature, "key_id": key_id,
                   "statement": statement.to_text()}
            )  # fmt: skip
            entry = next_entry(
                *head,
                at=self._now(),
                actor=actor,
                action=RESIGN,
                target=version_target(name, number),
                details=resign_details(resigned, current),
            )
            change = update(t.versions).where(
                t.versions.c.name == name, t.versions.c.version == number
            )
            connection.execute(
                change.values(
                    signature=signature,
                    key_id=key_id,
                    statement=resigned.statement,
                    resign_seq=entry.seq,
                )
            )
            self._write_entry(connection, entry)
            return resigned

        return self._write(work)

    def get_version(self, name: str, version: int) -> VersionRecord | None:
        check_version(version)
        query = select(t.versions).where(t.versions.c.name == name, t.versions.c.version == version)
        row = self._read(lambda c: c.execute(query).first())
        return None if row is None else t.version_from_row(row)

    def latest_version(self, name: str) -> VersionRecord | None:
        query = select(t.versions).where(t.versions.c.name == name)
        query = query.order_by(t.versions.c.version.desc()).limit(1)
        row = self._read(lambda c: c.execute(query).first())
        return None if row is None else t.version_from_row(row)

    def list_versions(self, name: str) -> list[VersionRecord]:
        query = select(t.versions).where(t.versions.c.name == name).order_by(t.versions.c.version)
        return [t.version_from_row(row) for row in self._read(lambda c: c.execute(query).all())]

    def list_models(self) -> list[str]:
        query = select(t.models.c.name)
        return sorted(self._read(lambda c: list(c.execute(query).scalars())))

    # -- aliases -------------------------------------------------------------------------------

    def get_alias(self, name: str, stage: str) -> int | None:
        query = select(t.aliases.c.version).where(
            t.aliases.c.name == name, t.aliases.c.stage == stage
        )
        return self._read(lambda c: c.execute(query).scalar())

    def list_aliases(self, name: str) -> dict[str, int]:
        query = select(t.aliases.c.stage, t.aliases.c.version).where(t.aliases.c.name == name)
        rows = self._read(lambda c: c.execute(query).all())
        return {row.stage: row.version for row in sorted(rows)}

    def move_alias(
        self,
        name: str,
        stage: str,
        version: int,
        *,
        action: str,
        actor: str,
        reason: str,
        forced: bool,
        sign: Signer,
    ) -> AliasEvent:
        check_version(version)
        t.check_alias_args(stage, action, actor, reason)

        def work(connection: Connection) -> AliasEvent:
            at = self._now()
            head = self._lock_head(connection)
            digest = connection.execute(
                select(t.versions.c.manifest_digest).where(
                    t.versions.c.name == name, t.versions.c.version == version
                )
            ).scalar()
            if digest is None:
                raise NotFoundError(
                    f"model {name!r} has no version {version}: `keel models list` shows the "
                    "registered versions"
                )
            newest = connection.execute(
                self._history(name, stage).order_by(t.alias_events.c.id.desc()).limit(1)
            ).first()
            unsigned = AliasEvent(0, name, stage, version, None, action, actor, reason, forced, at)
            before = None if newest is None else t.event_from_row(newest)
            seq, previous, unsigned = signed_after(unsigned, before)
            move = sign_move(
                unsigned, seq=seq, manifest_digest=digest, previous=previous, sign=sign
            )
            entry = next_entry(
                *head,
                at=at,
                actor=actor,
                action=action,
                target=alias_target(name, stage),
                details=alias_details(move),
            )
            row = {k: v for k, v in asdict(move).items() if k != "id"}
            added = t.alias_events.insert().values(**row, audit_seq=entry.seq)
            event_id = connection.execute(added.returning(t.alias_events.c.id)).scalar_one()
            upsert = self._dialect.insert(t.aliases).values(
                name=name, stage=stage, version=version, updated_at=at
            )
            connection.execute(
                upsert.on_conflict_do_update(
                    index_elements=["name", "stage"], set_={"version": version, "updated_at": at}
                )
            )
            self._write_entry(connection, entry)
            return replace(move, id=event_id)

        return self._write(work)

    def resign_moves(
        self, events: Sequence[AliasEvent], *, sign: Signer, actor: str
    ) -> list[AliasEvent]:
        t.check_text(actor, "actor")
        if not events:
            raise UserError("no moves to re-sign: pass the history of one stage")
        name, stage = events[0].name, events[0].stage

        def work(connection: Connection) -> list[AliasEvent]:
            head = self._lock_head(connection)
            rows = connection.execute(self._history(name, stage).order_by(t.alias_events.c.id))
            current = t.check_unsigned_moves(events, [t.event_from_row(row) for row in rows])
            query = select(t.versions.c.version, t.versions.c.manifest_digest).where(
                t.versions.c.name == name
            )
            digests = {row.version: row.manifest_digest for row in connection.execute(query)}
            resigned = resign_history(current, digests, sign)
            entry = next_entry(
                *head,
                at=self._now(),
                actor=actor,
                action=STAGE_RESIGN,
                target=alias_target(name, stage),
                details=stage_resign_details(resigned),
            )
            for move in resigned:
                change = update(t.alias_events).where(t.alias_events.c.id == move.id)
                connection.execute(
                    change.values(
                        statement=move.statement,
                        signature=move.signature,
                        key_id=move.key_id,
                        resign_seq=entry.seq,
                    )
                )
            self._write_entry(connection, entry)
            return resigned

        return self._write(work)

    @staticmethod
    def _history(name: str, stage: str) -> Any:
        return select(t.alias_events).where(
            t.alias_events.c.name == name, t.alias_events.c.stage == stage
        )

    def alias_history(self, name: str, stage: str | None = None) -> list[AliasEvent]:
        query = select(t.alias_events).where(t.alias_events.c.name == name)
        if stage is not None:
            query = query.where(t.alias_events.c.stage == stage)
        rows = self._read(lambda c: c.execute(query.order_by(t.alias_events.c.id)).all())
        return [t.event_from_row(row) for row in rows]

    # -- API keys ------------------------------------------------------------------------------

    def create_api_key(
        self, *, key_id: str, key_hash: str, role: Role, name: str, actor: str, sign: Signer
    ) -> ApiKeyRecord:
        t.check_api_key_args(key_id, key_hash, role, name, actor)

        def work(connection: Connection) -> ApiKeyRecord:
            head = self._lock_head(connection)
            taken = select(t.api_keys.c.key_id).where(t.api_keys.c.key_id == key_id)
            if connection.execute(taken).first() is not None:
                raise UserError(f"API key id {key_id!r} is taken: create the key again")
            at = self._now()
            record = signed_key(ApiKeyRecord(key_id, name, role, key_hash, at, actor), sign)
            entry = next_entry(
                *head,
                at=at,
                actor=actor,
                action=KEY_CREATE,
                target=key_target(key_id),
                details=key_details(record),
            )
            row = {**asdict(record), "create_seq": entry.seq, "revoke_seq": None}
            connection.execute(t.api_keys.insert().values(**row))
            self._write_entry(connection, entry)
            return record

        return self._write(work)

    def get_api_key(self, key_id: str) -> ApiKeyRecord | None:
        query = select(t.api_keys).where(t.api_keys.c.key_id == key_id)
        row = self._read(lambda c: c.execute(query).first())
        return None if row is None else t.key_from_row(row)

    def list_api_keys(self) -> list[ApiKeyRecord]:
        query = select(t.api_keys).order_by(t.api_keys.c.create_seq)
        return [t.key_from_row(row) for row in self._read(lambda c: c.execute(query).all())]

    def revoke_api_key(self, key_id: str, *, actor: str) -> ApiKeyRecord:
        t.check_text(actor, "actor")

        def work(connection: Connection) -> ApiKeyRecord:
            head = self._lock_head(connection)
            query = select(t.api_keys).where(t.api_keys.c.key_id == key_id)
            row = connection.execute(query).first()
            if row is None:
                raise NotFoundError(
                    f"API key {key_id!r} does not exist: `keel keys list` shows the keys"
                )
            record = t.key_from_row(row)
            if record.revoked_at is not None:
                raise UserError(
                    f"API key {key_id!r} was already revoked at {record.revoked_at.isoformat()} "
                    f"by {record.revoked_by}: nothing to do"
                )
            at = self._now()
            revoked = ApiKeyRecord(**{**asdict(record), "revoked_at": at, "revoked_by": actor})
            entry = next_entry(
                *head,
                at=at,
                actor=actor,
                action=KEY_REVOKE,
                target=key_target(key_id),
                details=key_details(revoked),
            )
            change = update(t.api_keys).where(t.api_keys.c.key_id == key_id)
            connection.execute(change.values(revoked_at=at, revoked_by=actor, revoke_seq=entry.seq))
            self._write_entry(connection, entry)
            return revoked

        return self._write(work)

    # -- audit ---------------------------------------------------------------------------------

    def append_audit(
        self, *, actor: str, action: str, target: str, details: dict[str, Any]
    ) -> AuditEntry:
        t.check_audit_args(actor, action, target)

        def work(connection: Connection) -> AuditEntry:
            entry = next_entry(
                *self._lock_head(connection),
                at=self._now(),
                actor=actor,
                action=action,
                target=target,
                details=details,
            )
            self._write_entry(connection, entry)
            return entry

        return self._write(work)

    def audit_entries(self) -> list[AuditEntry]:
        query = select(t.audit).order_by(t.audit.c.seq)
        return [t.entry_from_row(row) for row in self._read(lambda c: c.execute(query).all())]

    def verify_audit(self, *, require_checkpoint: bool = True) -> list[str]:
        """Every problem with the audit trail, its cross-references and (with an anchor) its
        signed checkpoints; empty when intact."""
        found = None if self.anchor is None else self.anchor.load()  # before the snapshot

        def load(connection: Connection) -> list[str]:
            rows = connection.execute(select(t.audit).order_by(t.audit.c.seq)).all()
            entries = [t.entry_from_row(row) for row in rows]
            rows = connection.execute(select(t.versions).order_by(t.versions.c.id)).all()
            versions = [(t.version_from_row(r), r.audit_seq, r.resign_seq) for r in rows]
            rows = connection.execute(select(t.alias_events).order_by(t.alias_events.c.id)).all()
            events = [(t.event_from_row(row), row.audit_seq, row.resign_seq) for row in rows]
            rows = connection.execute(select(t.aliases)).all()
            aliases = {(row.name, row.stage): row.version for row in rows}
            rows = connection.execute(select(t.api_keys).order_by(t.api_keys.c.create_seq)).all()
            keys = [(t.key_from_row(row), row.create_seq, row.revoke_seq) for row in rows]
            head = connection.execute(select(t.audit_head.c.seq, t.audit_head.c.hash)).first()
            problems = [] if head is not None else ["the audit head row is missing"]
            problems += verify_audit(
                entries,
                versions=versions,
                events=events,
                aliases=aliases,
                keys=keys,
                head=None if head is None else (head.seq, head.hash),
            )
            if self.anchor is not None and found is not None:
                problems += self.anchor.problems(found, entries, require=require_checkpoint)
            return problems

        return self._read(load, **self._dialect.snapshot)

    def close(self) -> None:
        self._engine.dispose()
