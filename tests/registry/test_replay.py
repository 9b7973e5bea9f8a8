"""A signed version replayed into another row of the registry database, as someone with write
access to ``.keel/registry.db`` would do it (sqlite3 on the real file): `keel verify`, `keel.load`
and `keel serve` refuse it with exit 3 / IntegrityError naming what does not match.

A version's signature covers its statement: model name, version number, manifest digest and
parent (the version before it). So version 1's digest and signature copied into version 4's row,
two rows swapped, a row copied to another model, or a parent link altered no longer pass.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

import keel
from keel.errors import IntegrityError
from keel.registry import open_registry
from tests.registry._attack import cli, columns, free_port, serve_outcome, settings, sql, workspace

ISSUE_COLUMNS = ["manifest_digest", "signature", "key_id"]  # what the issue's attacker copied


@pytest.fixture
def home(tmp_path: Path, model_files: Path) -> Path:
    return workspace(tmp_path, model_files, {"digits": 4, "other": 1})


def signed_columns(home: Path) -> list[str]:
    """Every column a version row's signature check reads (``statement`` where it exists)."""
    return [c for c in (*ISSUE_COLUMNS, "statement") if c in columns(home, "versions")]


def row(home: Path, name: str, version: int, cols: list[str]) -> tuple:
    query = f"SELECT {', '.join(cols)} FROM versions WHERE name = ? AND version = ?"
    return sql(home, query, name, version)[0]


def write_row(home: Path, name: str, version: int, cols: list[str], values: tuple) -> None:
    sets = ", ".join(f"{c} = ?" for c in cols)
    sql(home, f"UPDATE versions SET {sets} WHERE name = ? AND version = ?", *values, name, version)


def copy_row(home: Path, source: tuple[str, int], dest: tuple[str, int], cols: list[str]) -> None:
    write_row(home, *dest, cols, row(home, *source, cols))


def refused(home: Path, ref: str, version: str | None = None) -> str:
    """``ref`` (resolving to ``version``, ``ref`` by default) is refused by `keel verify` (exit 3,
    one line naming the version) and by `keel.load`; the line."""
    version = version or ref
    proc = cli(home, "verify", ref)
    assert proc.returncode == 3, proc.stdout + proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {version}: "), proc.stderr
    with pytest.raises(IntegrityError, match=f"^{version}: "):
        keel.load(ref, settings=settings(home))
    return lines[0]


def verifies(home: Path, ref: str) -> None:
    proc = cli(home, "verify", ref)
    assert proc.returncode == 0, proc.stderr
    assert keel.load(ref, settings=settings(home)).version == int(ref.rpartition(":")[2])


@pytest.mark.parametrize("copied", ["digest, signature and key id", "the whole signed row"])
def test_a_replayed_row_is_refused_by_verify_load_and_serve(home: Path, copied: str) -> None:
    cols = ISSUE_COLUMNS if copied.startswith("digest") else signed_columns(home)
    copy_row(home, ("digits", 1), ("digits", 4), cols)

    line = refused(home, "digits:4")
    if "statement" in cols:
        assert "it was signed as digits:1: the row was copied or moved from there" in line
    else:
        assert "the row's manifest" in line and "is not the" in line and "that was signed" in line
    code, output = serve_outcome(home, "digits:4")
    assert code == 3, output
    assert "digits:4: the registry row does not match its signed version statement" in output
    for n in (1, 2, 3):  # the refusal is the replayed row's only
        verifies(home, f"digits:{n}")


def test_the_stage_alias_pointing_at_a_replayed_row_is_refused(home: Path) -> None:
    with open_registry(settings(home), create=False) as registry:
        registry.promote("digits:4", "production")
    copy_row(home, ("digits", 1), ("digits", 4), signed_columns(home))
    refused(home, "digits@production", "digits:4")
    refused(home, "digits", "digits:4")  # the latest
    code, output = serve_outcome(home, "digits@production")
    assert code == 3, output


@pytest.mark.parametrize("edit", ["moved", "removed"])
def test_a_stage_alias_edited_in_the_database_is_refused(home: Path, edit: str) -> None:
    """The sibling of a replayed row: production pointed at a version nobody promoted (here one
    that was promoted once and then replaced) would be served as if promoted."""
    with open_registry(settings(home), create=False) as registry:
        registry.promote("digits:2", "production")
        registry.promote("digits:4", "production")
    if edit == "moved":
        sql(home, "UPDATE aliases SET version = 2 WHERE name = 'digits' AND stage = 'production'")
        expected = "digits@production points at version 2, but its last recorded move left it at "
    else:
        sql(home, "DELETE FROM aliases WHERE name = 'digits' AND stage = 'production'")
        expected = "digits@production points at nothing, but its last recorded move left it at "
    proc = cli(home, "verify", "digits@production")
    assert proc.returncode == 3 and expected + "version 4" in proc.stderr, proc.stderr
    with pytest.raises(IntegrityError, match="its last recorded move left it at version 4"):
        keel.load("digits@production", settings=settings(home))
    code, output = serve_outcome(home, "digits@production")
    assert code == 3 and expected in output, output
    verifies(home, "digits:2")  # the versions themselves are intact


def test_a_swapped_pair_of_rows_is_refused(home: Path) -> None:
    cols = signed_columns(home)
    two, three = row(home, "digits", 2, cols), row(home, "digits", 3, cols)
    write_row(home, "digits", 2, cols, three)
    write_row(home, "digits", 3, cols, two)
    assert "it was signed as digits:3" in refused(home, "digits:2")
    assert "it was signed as digits:2" in refused(home, "digits:3")
    # version 4 was signed after the version 3 that is no longer where it was
    assert "it was signed after version 3" in refused(home, "digits:4")
    verifies(home, "digits:1")


def test_a_row_copied_to_another_model_is_refused(home: Path) -> None:
    copy_row(home, ("digits", 2), ("other", 1), signed_columns(home))
    assert "it was signed as digits:2, a version of another model" in refused(home, "other:1")
    code, output = serve_outcome(home, "other:1")
    assert code == 3, output


def test_a_row_inserted_as_a_new_version_of_another_model_is_refused(home: Path) -> None:
    cols = [c for c in columns(home, "versions") if c not in ("id", "name", "version")]
    sql(
        home,
        f"INSERT INTO versions (name, version, {', '.join(cols)}) "
        f"SELECT 'other', 2, {', '.join(cols)} FROM versions WHERE name = 'digits' AND version = 3",
    )
    assert "it was signed as digits:3" in refused(home, "other:2")


def test_a_version_whose_predecessor_was_removed_is_refused(home: Path) -> None:
    sql(home, "DELETE FROM versions WHERE name = 'digits' AND version = 3")
    line = refused(home, "digits:4")
    assert "it was signed after version 3" in line and "no longer in the registry" in line


def test_a_version_whose_predecessor_was_replaced_is_refused(home: Path) -> None:
    copy_row(home, ("digits", 2), ("digits", 3), ["manifest_digest"])
    assert "that was signed" in refused(home, "digits:3")
    line = refused(home, "digits:4")
    assert "it was signed after version 3" in line and "the version before it is now" in line


def test_an_edited_parent_link_is_refused(home: Path) -> None:
    from keel.registry._statement import VersionStatement

    (text,) = row(home, "digits", 4, ["statement"])
    signed = VersionStatement.parse(text)
    assert signed.parent is not None and signed.parent.version == 3
    forged = VersionStatement("digits", 4, signed.manifest_digest, None)  # "a first version"
    write_row(home, "digits", 4, ["statement"], (forged.to_text(),))
    assert "it was signed as a first version" in refused(home, "digits:4")


def test_a_statement_forged_to_fit_the_replayed_row_fails_its_signature(home: Path) -> None:
    """The careful attacker: version 1's digest and signature in version 4's row, with a new
    statement that describes the row exactly. Every field matches; the signature does not."""
    from keel.registry._statement import VersionStatement

    copy_row(home, ("digits", 1), ("digits", 4), ISSUE_COLUMNS)
    (digest1,) = row(home, "digits", 1, ["manifest_digest"])
    (text,) = row(home, "digits", 4, ["statement"])
    fitted = VersionStatement("digits", 4, digest1, VersionStatement.parse(text).parent)
    write_row(home, "digits", 4, ["statement"], (fitted.to_text(),))
    line = refused(home, "digits:4")
    assert "does not match version statement digest" in line


def test_a_malformed_statement_is_refused(home: Path) -> None:
    write_row(home, "digits", 2, ["statement"], ('{"format": "keel.version/1"}',))
    assert "missing or unknown fields" in refused(home, "digits:2")


def test_a_running_server_keeps_its_verified_version_when_the_row_is_replayed(
    home: Path, tmp_path: Path
) -> None:
    """`keel serve digits@production` follows the stage's row: when the row changes it reloads
    through the same checks, refuses the replayed row, and goes on serving what it verified."""
    with open_registry(settings(home), create=False) as registry:
        registry.promote("digits:4", "production")
    port = free_port()
    log = tmp_path / "serve.log"
    env = {**os.environ, "KEEL_HOME": str(home), "COLUMNS": "300"}
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "keel", "serve", "digits@production", "--no-auth",
             "--port", str(port), "--watch-s", "0.2"],
            stdout=out, stderr=subprocess.STDOUT, env=env, text=True,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while not _ready(url):
            assert process.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        copy_row(home, ("digits", 1), ("digits", 4), signed_columns(home))
        deadline = time.monotonic() + 30
        # the stage's newest signed move names version 4's manifest: the replayed row is refused
        while "following the registry failed: digits:4: " not in log.read_text():
            assert process.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        assert _ready(url)
        assert "the registry database was altered" in log.read_text()
        assert "now serving" not in log.read_text()
    finally:
        process.terminate()
        process.wait(30)


def _ready(url: str) -> bool:
    try:
        return httpx.get(f"{url}/v2/health/ready", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False
