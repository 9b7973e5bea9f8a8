"""What only the SQL store has: URLs and their errors, SQLite's WAL settings, a schema made and
checked by Alembic, persistence across opens, and one transaction per mutation."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text

from keel.errors import KeelError, NotFoundError, UserError
from keel.registry import migrations
from keel.registry._schema import VERSION_TABLE, metadata
from keel.registry._sql import SqlStore, parse_url
from tests.registry._signer import sign

DIGEST = hashlib.sha256(b"manifest").hexdigest()


def register(store: SqlStore, name: str = "digits") -> None:
    store.create_version(
        name, manifest_digest=DIGEST, sign=sign, created_by="alice",
        gates_passed=True, metrics={"test": {"accuracy": 0.9}},
    )  # fmt: skip


def promote(store: SqlStore, name: str, stage: str, version: int) -> None:
    store.move_alias(
        name, stage, version, action="promote", actor="a", reason="", forced=False, sign=sign
    )


def snapshot(store: SqlStore) -> tuple[list, list, list]:
    return store.list_versions("digits"), store.alias_history("digits"), store.audit_entries()


@pytest.mark.parametrize(
    ("url", "error", "message"),
    [
        ("not a url", UserError, "is not a database URL: check KEEL_REGISTRY_URL"),
        ("mysql://u@h/db", UserError, "uses 'mysql'"),
        ("postgresql+psycopg2://u@h/db", UserError, "uses 'postgresql+psycopg2'"),
        ("sqlite://", UserError, "names no database file"),
        ("sqlite:///:memory:", UserError, "MemoryStore"),
        ("sqlite:////no/such/folder/registry.db", NotFoundError, "folder /no/such/folder"),
    ],
)
def test_a_bad_url_is_one_line_naming_the_fix(url: str, error: type, message: str) -> None:
    with pytest.raises(error, match=re.escape(message)) as caught:
        SqlStore(url)
    assert "\n" not in str(caught.value)


def test_an_unreachable_server_names_the_url_without_its_password() -> None:
    with pytest.raises(UserError) as caught:
        SqlStore("postgresql://keel:s3cret@127.0.0.1:1/registry")
    message = str(caught.value)
    assert "s3cret" not in message and "\n" not in message
    assert "postgresql+psycopg://keel:***@127.0.0.1:1/registry" in message
    assert "check KEEL_REGISTRY_URL" in message


def test_a_file_that_is_not_a_database_is_a_user_error(tmp_path: Path) -> None:
    (tmp_path / "registry.db").write_bytes(b"this is not sqlite " * 100)
    with pytest.raises(UserError, match="cannot open the registry database"):
        SqlStore(f"sqlite:///{tmp_path / 'registry.db'}")


@pytest.mark.parametrize("scheme", ["postgresql", "postgres", "postgresql+psycopg"])
def test_postgresql_urls_run_on_psycopg(scheme: str) -> None:
    assert parse_url(f"{scheme}://u@h:5432/db").drivername == "postgresql+psycopg"


def test_sqlite_runs_in_wal_mode_with_a_busy_timeout(store_sqlite: SqlStore) -> None:
    with store_sqlite.engine.connect() as connection:
        pragma = {
            name: connection.exec_driver_sql(f"PRAGMA {name}").scalar()
            for name in ("journal_mode", "synchronous", "busy_timeout", "foreign_keys")
        }
    assert pragma == {
        "journal_mode": "wal", "synchronous": 1, "busy_timeout": 30000, "foreign_keys": 1,
    }  # fmt: skip


def test_the_migrated_schema_matches_the_tables_the_code_uses(store_sql_url: str) -> None:
    store = SqlStore(store_sql_url)
    try:
        with store.engine.connect() as connection:
            context = MigrationContext.configure(
                connection, opts={"version_table": VERSION_TABLE, "compare_type": True}
            )
            assert compare_metadata(context, metadata) == []
            assert context.get_current_heads() == (migrations.HEAD,)
            head = connection.execute(text("SELECT seq, hash FROM audit_head")).one()
        assert tuple(head) == (0, "0" * 64)
    finally:
        store.close()


def test_the_revision_list_matches_the_migration_files() -> None:
    config = Config()
    config.set_main_option("script_location", str(migrations.HERE))
    script = ScriptDirectory.from_config(config)
    oldest_first = [r.revision for r in reversed(list(script.walk_revisions()))]
    assert tuple(oldest_first) == migrations.REVISIONS
    assert script.get_heads() == [migrations.HEAD]


def test_a_reopened_registry_keeps_everything(store_sql_url: str) -> None:
    store = SqlStore(store_sql_url)
    register(store)
    register(store)
    promote(store, "digits", "production", 2)
    before = snapshot(store)
    store.close()
    again = SqlStore(store_sql_url)
    try:
        assert snapshot(again) == before
        register(again)
        assert again.latest_version("digits").version == 3
        assert again.verify_audit() == []
    finally:
        again.close()


def test_a_schema_newer_than_this_keel_is_refused(store_sql_url: str) -> None:
    store = SqlStore(store_sql_url)
    with store.engine.begin() as connection:
        connection.execute(text(f"UPDATE {VERSION_TABLE} SET version_num = '9999'"))
    store.close()
    with pytest.raises(UserError, match="schema revision 9999, newer than this keel"):
        SqlStore(store_sql_url)


REFUSE_AUDIT = {
    "sqlite": [
        "CREATE TRIGGER refuse BEFORE INSERT ON audit BEGIN SELECT RAISE(ABORT, 'refused'); END"
    ],
    "postgresql": [
        "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS "
        "$$ BEGIN RAISE EXCEPTION 'refused'; END $$",
        "CREATE TRIGGER refuse BEFORE INSERT ON audit FOR EACH ROW EXECUTE FUNCTION refuse()",
    ],
}


def test_no_row_is_written_without_its_audit_entry(store_sql_url: str) -> None:
    store = SqlStore(store_sql_url)
    try:
        register(store)
        with store.engine.begin() as connection:
            for statement in REFUSE_AUDIT[store.engine.dialect.name]:
                connection.exec_driver_sql(statement)
        with pytest.raises(KeelError, match="refused"):
            register(store, "other")
        with pytest.raises(KeelError, match="refused"):
            promote(store, "digits", "prod", 1)
        assert store.list_models() == ["digits"]
        assert store.list_versions("other") == []
        assert store.get_alias("digits", "prod") is None and store.alias_history("digits") == []
        assert len(store.audit_entries()) == 1 and store.verify_audit() == []
    finally:
        store.close()
