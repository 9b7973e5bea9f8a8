"""A stage moved behind keel's back, as someone with write access to ``.keel/registry.db`` would
do it (sqlite3 on the real file): `keel verify NAME@production`, `keel.load`, `keel serve` (at
start and while it follows the stage), promote, rollback and history all refuse it, exit 3 /
IntegrityError naming what does not match, and a running server keeps serving what it verified.

Each move is a signed statement chained to the one before it; the newest is also kept signed in
the artifact store, so even the newest move deleted with the alias set back is seen.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from alembic import command

import keel
from keel.errors import IntegrityError
from keel.registry import migrations, open_registry
from tests.registry._attack import cli, serve_outcome, serving, settings, sql, workspace

FAKE_ROW = (
    "INSERT INTO alias_events (name, stage, version, previous_version, action, actor, reason, "
    "forced, at, audit_seq{extra}) SELECT name, stage, 5, version, 'promote', actor, 'hotfix', 0, "
    "at, audit_seq{extra} FROM alias_events ORDER BY id DESC LIMIT 1"
)
POINT = "UPDATE aliases SET version = ? WHERE name = 'digits' AND stage = 'production'"


@pytest.fixture
def home(tmp_path: Path, model_files: Path) -> Path:
    """digits:1..4 (gates passed) and digits:5 (a gate failed, never promoted); production moved
    to 2, then 3, then 4 (moves 1..3)."""
    home = workspace(tmp_path, model_files, {"digits": 4})
    with open_registry(settings(home), create=False) as registry:
        files = {p.name: p.read_bytes() for p in model_files.iterdir()}
        gate = {"condition": "accuracy >= 0.9", "passed": False, "value": 0.4}
        registry.register(
            "digits", files, spec={"model": {"name": "mlp", "width": 8, "depth": 1}},
            preprocessing={}, metrics={}, gates=[gate], lineage={},
        )  # fmt: skip
        for version in (2, 3, 4):
            registry.promote(f"digits:{version}", "production")
    return home


def refused(home: Path, *needles: str) -> str:
    """digits@production is refused by `keel verify` (exit 3, one line), `keel.load`, `keel serve`,
    promote, rollback, history and `keel audit verify`; the line."""
    proc = cli(home, "verify", "digits@production")
    assert proc.returncode == 3, proc.stdout + proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: digits@production: "), proc.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    with pytest.raises(IntegrityError, match=r"^digits@production: "):
        keel.load("digits@production", settings=settings(home))
    code, output = serve_outcome(home, "digits@production")
    assert code == 3 and needles[0] in output, output
    for args in (
        ("promote", "digits:1", "--to", "production"),
        ("rollback", "digits"),
        ("history", "digits"),
        ("models", "list"),
        ("audit", "verify"),
    ):
        other = cli(home, *args)
        assert other.returncode == 3, (args, other.stdout, other.stderr)
    return lines[0]


def unchanged(home: Path) -> None:
    """The versions themselves verify, and the other stages read."""
    for n in (2, 3, 4):
        assert cli(home, "verify", f"digits:{n}").returncode == 0


@pytest.mark.parametrize("looks", ["unsigned", "with the newest move's signature"])
def test_a_fake_promote_row_with_the_alias_pointed_at_it_is_refused(home: Path, looks: str) -> None:
    """The issue's attacker: a history row 'promoting' digits:5 (its gate failed) and production
    pointed at it, consistently: before signed moves, every read followed it."""
    extra = "" if looks == "unsigned" else ", statement, signature, key_id"
    sql(home, FAKE_ROW.format(extra=extra))
    sql(home, POINT, 5)
    if looks == "unsigned":
        refused(home, "its move 4 (promote to version 5 by alice) has no signed statement")
    else:
        refused(home, "its move 4", "it was signed as move 3, but it is move 4")
    unchanged(home)


def test_a_copied_signature_is_refused(home: Path) -> None:
    sql(home, "UPDATE alias_events SET signature = (SELECT signature FROM alias_events "
        "WHERE id = 1) WHERE id = 3")  # fmt: skip
    refused(home, "its move 3: signature by key", "does not match move statement digest")


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        (
            "reason = 'approved by the CISO'",
            "its reason 'approved by the CISO' is not the '' signed",
        ),
        ("actor = 'ciso'", "its actor 'ciso' is not the 'alice' signed"),
    ],
)
def test_an_edited_reason_or_actor_is_refused(home: Path, change: str, needle: str) -> None:
    sql(home, f"UPDATE alias_events SET {change} WHERE id = 3")
    refused(home, "its move 3 (promote to version 4 by", needle)
    unchanged(home)


def test_the_newest_move_deleted_with_its_audit_entry_and_the_alias_set_back_is_refused(
    home: Path,
) -> None:
    """Put back the version production held before, consistently: the move, its audit entry and
    the audit head gone, the alias set back. What is left is a genuine older history; the
    signed head in the artifact store still holds move 3."""
    (seq,) = sql(home, "SELECT audit_seq FROM alias_events WHERE id = 3")[0]
    sql(home, "DELETE FROM alias_events WHERE id = 3")
    sql(home, "DELETE FROM audit WHERE seq = ?", seq)
    sql(home, "UPDATE audit_head SET seq = ?, hash = (SELECT hash FROM audit WHERE seq = ?)",
        seq - 1, seq - 1)  # fmt: skip
    sql(home, POINT, 3)
    refused(
        home,
        "its history ends at move 2, but move 3 (promote to version 4 by alice at",
        "move 3 was deleted from the registry database",
    )
    unchanged(home)


def test_a_running_server_keeps_serving_what_it_verified_and_logs_once(
    home: Path, tmp_path: Path
) -> None:
    """`keel serve digits@production` follows the stage: a fake move is refused, logged once
    however many times the watcher looks, and digits:4 goes on answering."""
    log = tmp_path / "serve.log"
    with serving(home, log, "digits@production", "--no-auth", "--watch-s", "0.2") as url:
        sql(home, FAKE_ROW.format(extra=""))
        sql(home, POINT, 5)
        deadline = time.monotonic() + 30
        while "following the registry failed: digits@production: " not in log.read_text():
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        time.sleep(3)  # the watcher looks again (backing off), finding the same refusal
        assert log.read_text().count("following the registry failed") == 1, log.read_text()
        assert "has no signed statement" in log.read_text()
        assert httpx.get(f"{url}/v2/health/ready", timeout=5).status_code == 200
        assert httpx.get(f"{url}/v2/models/digits", timeout=5).json()["versions"] == ["4"]
        assert "now serving" not in log.read_text()


def test_a_lost_or_forged_head_outside_the_database(home: Path) -> None:
    """Without a head (its write failed) the database alone vouches for the history; a head
    that is not a valid one signed by a trusted key is refused, naming the file."""
    heads = sorted((home / "artifacts" / "stages").rglob("*.json"))
    assert [p.name for p in heads] == ["000000000003.json"]  # the lower ones are removed
    heads[0].unlink()
    assert cli(home, "verify", "digits@production").returncode == 0
    forged = heads[0].with_name("000000000004.json")
    forged.write_text(json.dumps({"format": "keel.stage-head/1", "statement": "{}",
                                  "signature": "", "key_id": ""}))  # fmt: skip
    proc = cli(home, "verify", "digits@production")
    assert proc.returncode == 3, proc.stderr
    assert "the stage head stages/" in proc.stderr and "it was forged or altered" in proc.stderr


def test_concurrent_moves_are_never_read_as_tampering(home: Path) -> None:
    """Promotions from three processes while a fourth reads the stage: a move changes the alias,
    its history and its head one after the other, and a reader caught in between reads again."""
    promoter = (
        "import sys\nfrom keel.errors import UserError\nfrom keel.registry import "
        "RegistrySettings, open_registry\n"
        f"r = open_registry(RegistrySettings(home={str(home)!r}, user=sys.argv[1]))\n"
        "for i in range(12):\n"
        "    try: r.promote(f'digits:{2 + i % 3}', 'production')\n"
        "    except UserError: pass\n"
    )
    reader = (
        "import sys, time\nfrom keel.registry import RegistrySettings, open_registry\n"
        f"r = open_registry(RegistrySettings(home={str(home)!r}, user='reader'))\n"
        "end = time.monotonic() + float(sys.argv[1])\nn = 0\n"
        "while time.monotonic() < end:\n"
        "    r.resolve('digits@production'); n += 1\n"
        "print(n)\n"
    )
    readers = subprocess.Popen([sys.executable, "-c", reader, "8"], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)  # fmt: skip
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", promoter, f"w{n}"], stderr=subprocess.PIPE, text=True
        )
        for n in range(3)
    ]
    for writer in writers:
        assert writer.wait(120) == 0, writer.stderr.read() if writer.stderr else ""
    out, err = readers.communicate(timeout=120)
    assert readers.returncode == 0, err
    assert int(out) > 0
    assert cli(home, "verify", "digits@production").returncode == 0
    assert cli(home, "audit", "verify").returncode == 0


# -- an older keel's history ------------------------------------------------------------------


def older_keel(home: Path) -> None:
    """Make ``home`` as a keel before signed moves left it: the moves without statements
    (schema revision 0004, then upgraded) and no stage heads in the artifact store."""
    with (
        open_registry(settings(home), create=False) as registry,
        registry.store.engine.begin() as connection,
    ):
        command.downgrade(migrations._config(connection), "0004")
    for head in (home / "artifacts" / "stages").rglob("*.json"):
        head.unlink()
    with open_registry(settings(home), create=False) as registry:  # migrates to the newest
        assert all(e.statement is None for e in registry.store.alias_history("digits"))


def test_an_older_keels_history_is_refused_then_resigned_after_the_audit_check(
    home: Path,
) -> None:
    older_keel(home)
    proc = cli(home, "verify", "digits@production")
    assert proc.returncode == 3, proc.stderr
    assert "recorded by an older keel" in proc.stderr
    assert "`keel models resign digits`" in proc.stderr
    with pytest.raises(IntegrityError, match="recorded by an older keel"):
        keel.load("digits@production", settings=settings(home))
    assert cli(home, "promote", "digits:2", "--to", "production").returncode == 3
    assert cli(home, "verify", "digits:4").returncode == 0  # the versions are not concerned
    done = cli(home, "models", "resign", "digits")
    assert done.returncode == 0, done.stderr
    assert "signed the history of 1 stage(s): digits@production" in done.stdout
    assert cli(home, "verify", "digits@production").returncode == 0
    assert keel.load("digits@production", settings=settings(home)).version == 4
    audit = cli(home, "audit", "verify")
    assert audit.returncode == 0, audit.stderr
    back = cli(home, "rollback", "digits", "--json")
    assert back.returncode == 0 and json.loads(back.stdout)["version"] == 3, back.stderr
    again = cli(home, "models", "resign")
    assert again.returncode == 0 and "nothing to re-sign" in again.stdout


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        ("version = 5", "differs from its audit entry"),
        ("actor = 'ciso'", "in its actor or time"),
    ],
)
def test_resign_refuses_an_older_keels_history_edited_in_the_database(
    home: Path, change: str, needle: str
) -> None:
    older_keel(home)
    sql(home, f"UPDATE alias_events SET {change} WHERE id = 2")
    proc = cli(home, "models", "resign")
    assert proc.returncode == 3, proc.stderr
    assert "not re-signing: the audit trail is not intact" in proc.stderr
    assert needle in proc.stderr
    assert sql(home, "SELECT count(*) FROM alias_events WHERE statement IS NOT NULL") == [(0,)]


def test_a_signed_history_passed_off_as_an_older_keels_is_refused_and_not_resigned(
    home: Path,
) -> None:
    """Statements removed to make a history look like an older keel's, so that `keel models
    resign` (which the refusal of an older history names) would vouch for it: its signed head in
    the artifact store shows it was moved by this keel."""
    sql(home, "UPDATE alias_events SET statement = NULL, signature = NULL, key_id = NULL")
    needle = "its history was replaced in the registry database, so it is neither read nor re-"
    refused(home, "its moves have no statements, but a signed move of it is kept", needle)
    proc = cli(home, "models", "resign")
    assert proc.returncode == 3 and needle in proc.stderr, proc.stderr
    assert sql(home, "SELECT count(*) FROM alias_events WHERE statement IS NOT NULL") == [(0,)]
