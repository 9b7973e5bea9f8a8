"""API keys tampered with in the registry database, as someone with write access to
``.keel/registry.db`` would do it (sqlite3 on the real file), against a real `keel serve`.

Each key row is bound by a key statement (id, role, hash, name, creation) signed by the workspace
key when the key is made, and a revocation is signed into the artifact store before the row is
marked. So an admin row inserted with a secret of the attacker's, a reader raised to admin, a
hash swapped under an admin's id, or a revoked key set back to live, is refused with 401 (logged
once as an integrity failure), never 500, while the legitimate keys keep working.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import secrets
from pathlib import Path

import httpx
import pytest
from alembic import command

from keel.errors import IntegrityError
from keel.registry import AuthError, KeyStore, migrations, open_registry
from keel.registry._key_statement import KeyStatement
from keel.registry._revocations import revocation_key
from tests.registry._attack import cli, serving, settings, sql, workspace

COLUMNS = "key_id, name, role, key_hash, created_at, created_by, create_seq, statement, signature"


def forged_key() -> tuple[str, str, str]:
    """``(key, key_id, sha256)``: a key of the documented form whose secret the attacker knows."""
    key_id = secrets.token_hex(6)
    key = f"keel_{key_id}_{secrets.token_urlsafe(32)}"
    return key, key_id, hashlib.sha256(key.encode()).hexdigest()


@pytest.fixture
def home(tmp_path: Path, model_files: Path) -> Path:
    return workspace(tmp_path, model_files, {"digits": 1})


@pytest.fixture
def keys(home: Path) -> dict[str, str]:
    """One live key per role and a revoked reader, made as `keel keys create` makes them."""
    made: dict[str, str] = {}
    with open_registry(settings(home), create=False) as registry:
        for role in ("reader", "operator", "admin", "revoked"):
            key, record = registry.create_api_key(
                "reader" if role == "revoked" else role, name=role
            )
            if role == "revoked":
                registry.revoke_api_key(record.key_id)
            made[role] = key
    return made


def key_id(key: str) -> str:
    return key.split("_")[1]


def insert_row(home: Path, **values: object) -> None:
    """INSERT an api_keys row, every column given (the audit seq of a key.create that exists)."""
    values.setdefault("created_at", "2026-01-01 00:00:00.000000")
    values.setdefault("created_by", "mallory")
    values.setdefault("name", "mine")
    values.setdefault("create_seq", 2)
    names = ", ".join(values)
    sql(home, f"INSERT INTO api_keys ({names}) VALUES ({', '.join('?' * len(values))})",
        *values.values())  # fmt: skip


def refusal(home: Path, key: str) -> str:
    """The line a fresh registry refuses ``key`` with (an AuthError: 401, exit 3)."""
    with open_registry(settings(home), create=False) as registry:
        try:
            registry.check_api_key(key)
        except AuthError as err:
            assert isinstance(err, IntegrityError) and err.http_status == 401
            return str(err)
    raise AssertionError(f"key {key_id(key)} was accepted")


def signed_columns(home: Path, key: str) -> tuple:
    return sql(home, "SELECT statement, signature, signer FROM api_keys WHERE key_id = ?",
               key_id(key))[0]  # fmt: skip


def attack(home: Path, keys: dict[str, str], tmp_path: Path) -> dict[str, str]:
    """Every way in tried here: name → the key the attacker then presents."""
    admin = key_id(keys["admin"])
    tried: dict[str, str] = {}

    key, kid, digest = forged_key()  # an admin row of their own, unsigned
    insert_row(home, key_id=kid, role="admin", key_hash=digest)
    tried["inserted, unsigned"] = key

    key, kid, digest = forged_key()  # ... carrying the real admin key's statement and signature
    statement, signature, signer = signed_columns(home, keys["admin"])
    insert_row(home, key_id=kid, role="admin", key_hash=digest, statement=statement,
               signature=signature, signer=signer)  # fmt: skip
    tried["inserted, a real statement copied"] = key

    key, kid, digest = forged_key()  # ... with a statement that fits, signed by their own key
    stranger = KeyStore(tmp_path / "stranger")
    stranger.init()
    fitted = KeyStatement(kid, "admin", digest, "mine", "2026-01-01T00:00:00.000000+00:00",
                          "mallory")  # fmt: skip
    own_signature, own_id = stranger.sign(fitted.digest())
    insert_row(home, key_id=kid, role="admin", key_hash=digest, statement=fitted.to_text(),
               signature=own_signature, signer=own_id)  # fmt: skip
    tried["inserted, signed by another key"] = key

    key, kid, digest = forged_key()  # ... fitted, with the workspace key's id and a real signature
    fitted = KeyStatement(kid, "admin", digest, "mine", "2026-01-01T00:00:00.000000+00:00",
                          "mallory")  # fmt: skip
    insert_row(home, key_id=kid, role="admin", key_hash=digest, statement=fitted.to_text(),
               signature=signature, signer=signer)  # fmt: skip
    tried["inserted, a real signature over another statement"] = key

    sql(home, "UPDATE api_keys SET role = 'admin' WHERE key_id = ?", key_id(keys["reader"]))
    tried["reader raised to admin"] = keys["reader"]

    key, _, digest = forged_key()  # the admin key's id with the attacker's secret
    key = f"keel_{admin}_{key.split('_', 2)[2]}"
    digest = hashlib.sha256(key.encode()).hexdigest()
    sql(home, "UPDATE api_keys SET key_hash = ? WHERE key_id = ?", digest, admin)
    tried["admin's hash swapped"] = key

    sql(home, "UPDATE api_keys SET revoked_at = NULL, revoked_by = NULL, revoke_seq = NULL "
        "WHERE key_id = ?", key_id(keys["revoked"]))  # fmt: skip
    tried["revoked key set back to live"] = keys["revoked"]
    return tried


def test_a_real_server_refuses_every_tampered_key_and_serves_the_real_ones(
    home: Path, keys: dict[str, str], tmp_path: Path
) -> None:
    tried = attack(home, keys, tmp_path)
    log = tmp_path / "serve.log"
    with serving(home, log, "digits:1", "--watch-s", "0") as url:
        for how, key in tried.items():
            for path in ("/v1/keys", "/v1/models"):  # admin, then reader
                for _ in range(3):
                    answer = httpx.get(url + path, headers={"X-API-Key": key}, timeout=30)
                    assert answer.status_code == 401, (how, path, answer.text)
                    assert key.split("_", 2)[2] not in answer.text, how  # never the secret
                    assert "\n" not in answer.json()["error"]
        operator = httpx.get(url + "/v1/models", headers={"X-API-Key": keys["operator"]},
                             timeout=30)  # fmt: skip
        assert operator.status_code == 200, operator.text
        made = httpx.post(url + "/v1/keys", headers={"X-API-Key": keys["operator"]},
                          json={"role": "reader"}, timeout=30)  # fmt: skip
        assert made.status_code == 403  # an operator does not manage keys
    output = log.read_text()
    failures = [line for line in output.splitlines() if "integrity failure" in line]
    assert len(failures) == len(tried), output  # one line per tampered key, not one per request
    assert "Traceback" not in output


@pytest.mark.parametrize(
    ("how", "expected"),
    [
        ("inserted, unsigned", "made by an older keel and is not signed"),
        ("inserted, a real statement copied", "it was signed for key"),
        ("inserted, signed by another key", "which is not in the trusted set"),
        ("inserted, a real signature over another statement", "does not match key statement"),
        ("reader raised to admin", "its role is 'admin', but 'reader' was signed"),
        ("admin's hash swapped", "its key hash is not the one signed"),
        ("revoked key set back to live", "its registry row says it is live"),
    ],
)
def test_each_tampered_key_is_refused_naming_what_does_not_match(
    home: Path, keys: dict[str, str], tmp_path: Path, how: str, expected: str
) -> None:
    key = attack(home, keys, tmp_path)[how]
    line = refusal(home, key)
    assert expected in line and "\n" not in line
    with open_registry(settings(home), create=False) as registry:
        assert registry.check_api_key(keys["operator"]).role == "operator"
    listed = cli(home, "keys", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    states = {row["key_id"]: row["state"] for row in json.loads(listed.stdout)}
    assert states[key_id(key)] == "refused" and states[key_id(keys["operator"])] == "live"


def test_un_revoking_with_its_audit_entry_removed_is_still_refused(
    home: Path, keys: dict[str, str]
) -> None:
    """Deleting the revocation's audit entry as well: the server still refuses (the signed
    revocation is outside the database), and `keel audit verify` shows the cut chain."""
    revoked = key_id(keys["revoked"])
    (seq,) = sql(home, "SELECT revoke_seq FROM api_keys WHERE key_id = ?", revoked)[0]
    sql(home, "UPDATE api_keys SET revoked_at = NULL, revoked_by = NULL, revoke_seq = NULL "
        "WHERE key_id = ?", revoked)  # fmt: skip
    sql(home, "DELETE FROM audit WHERE seq = ?", seq)
    line = refusal(home, keys["revoked"])
    assert "revoked at" in line and "its registry row says it is live" in line
    verify = cli(home, "audit", "verify")
    assert verify.returncode == 3, verify.stdout + verify.stderr


def test_audit_verify_reports_a_revocation_the_row_no_longer_shows(
    home: Path, keys: dict[str, str]
) -> None:
    revoked = key_id(keys["revoked"])
    assert cli(home, "audit", "verify").returncode == 0
    sql(home, "UPDATE api_keys SET revoked_at = NULL, revoked_by = NULL WHERE key_id = ?", revoked)
    verify = cli(home, "audit", "verify", "--json")
    assert verify.returncode == 3
    problems = json.loads(verify.stdout)["problems"]
    assert any(f"API key {revoked} was revoked at" in p and "says it is live" in p
               for p in problems), problems  # fmt: skip


def test_a_forged_or_altered_revocation_refuses_the_key_and_fails_audit_verify(
    home: Path, keys: dict[str, str]
) -> None:
    """Whoever can write the artifact store can refuse a key (as they can delete its blobs),
    never un-revoke one: the row still says revoked."""
    live = key_id(keys["reader"])
    path = home / "artifacts" / revocation_key(live)
    revoked_file = home / "artifacts" / revocation_key(key_id(keys["revoked"]))
    body = json.loads(revoked_file.read_text())
    path.write_text(json.dumps({**body, "key_id": live}))  # a real revocation moved to another
    assert "forged or altered" in refusal(home, keys["reader"])
    verify = cli(home, "audit", "verify")
    assert verify.returncode == 3 and "forged or altered" in verify.stderr
    revoked_file.unlink()  # deleting a revocation: the row still says revoked
    assert "was revoked at" in refusal(home, keys["revoked"])


def test_a_revocation_is_signed_outside_the_database_before_the_row_is_marked(
    home: Path, keys: dict[str, str]
) -> None:
    reader = key_id(keys["reader"])
    revoked = cli(home, "keys", "revoke", reader)
    assert revoked.returncode == 0, revoked.stderr
    stored = json.loads((home / "artifacts" / revocation_key(reader)).read_text())
    assert stored["format"] == "keel.api-key-revocation/1" and stored["key_id"] == reader
    assert stored["revoked_by"] == "alice" and len(base64.b64decode(stored["signature"])) == 64
    # a revocation whose database write failed still holds, and `keel keys revoke` completes it
    operator = key_id(keys["operator"])
    sql(home, "CREATE TRIGGER no_revoke BEFORE UPDATE ON api_keys BEGIN "
        "SELECT RAISE(ABORT, 'disk full'); END")  # fmt: skip
    failed = cli(home, "keys", "revoke", operator)
    assert failed.returncode != 0 and "Traceback" not in failed.stderr
    with open_registry(settings(home), create=False) as registry:
        assert registry.store.get_api_key(operator).revoked_at is None
        with pytest.raises(AuthError, match="the revocation did not finish"):
            registry.check_api_key(keys["operator"])
    sql(home, "DROP TRIGGER no_revoke")
    assert cli(home, "keys", "revoke", operator).returncode == 0
    assert cli(home, "audit", "verify").returncode == 0


def test_a_key_made_by_an_older_keel_is_refused_naming_the_fix(
    home: Path, keys: dict[str, str]
) -> None:
    """Below revision 0004 a key row has no statement: it is refused, and the line says to
    create a new key and revoke this one; the new key works."""
    with (
        open_registry(settings(home), create=False) as registry,
        registry.store.engine.begin() as connection,
    ):
        command.downgrade(migrations._config(connection), "0003")
    old = key_id(keys["operator"])
    with open_registry(settings(home), create=False) as registry:  # upgrades to the newest
        assert registry.store.get_api_key(old).statement is None
    line = refusal(home, keys["operator"])
    assert "made by an older keel" in line and "\n" not in line
    assert "`keel keys create --role operator`" in line and f"`keel keys revoke {old}`" in line
    assert cli(home, "audit", "verify").returncode == 0  # an upgrade, not tampering
    made = cli(home, "keys", "create", "--role", "operator", "--json")
    new = json.loads(made.stdout)["key"]
    with open_registry(settings(home), create=False) as registry:
        assert registry.check_api_key(new).role == "operator"
    assert cli(home, "keys", "revoke", old).returncode == 0


def test_the_server_logs_an_untrusted_key_once_across_cache_expiries(
    home: Path, keys: dict[str, str], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    import asyncio

    from keel.serve._guard import KeyCache

    key = attack(home, keys, tmp_path)["reader raised to admin"]
    with open_registry(settings(home), create=False) as registry:

        async def check(presented: str):  # the server runs it on its registry lane
            return registry.check_api_key(presented)

        cache = KeyCache(check, ttl_s=0.0)  # every call asks the registry again

        async def five() -> list[int]:
            codes = []
            for _ in range(5):
                try:
                    await cache.caller(key)
                except AuthError as err:
                    codes.append(err.http_status)
            return codes

        with caplog.at_level(logging.ERROR, logger="keel.serve"):
            assert asyncio.run(five()) == [401] * 5
    logged = [r for r in caplog.records if "integrity failure" in r.getMessage()]
    assert len(logged) == 1 and key_id(key) in logged[0].getMessage()


def test_keel_serve_warns_when_only_refused_keys_exist(home: Path, tmp_path: Path) -> None:
    """An inserted, unsigned admin row is no key the server accepts: `keel serve` still warns
    that every request but health will get 401 (it used to count such a row as a live key)."""
    key, kid, digest = forged_key()
    insert_row(home, key_id=kid, role="admin", key_hash=digest)
    log = tmp_path / "serve.log"
    with serving(home, log, "digits:1") as url:
        assert httpx.get(f"{url}/v1/models", headers={"X-API-Key": key}).status_code == 401
    assert "no API keys exist" in log.read_text()
