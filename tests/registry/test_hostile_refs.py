"""Hostile references and numbers: a version outside 1..2**31-1 (what a PostgreSQL integer
holds), a stage or a reference ending in a newline. Each is one UserError line from the parser, the
Registry and every metadata store alike (never an OverflowError, never a second "production"
row)."""

from __future__ import annotations

from pathlib import Path

import pytest

from keel.errors import NotFoundError, UserError
from keel.registry import ContentStore, KeyStore, MemoryBackend, Ref, Registry, parse_ref
from keel.registry._refs import MAX_VERSION, check_stage, check_version
from tests.registry._signer import sign

HUGE = [MAX_VERSION + 1, 2**63, 2**64, 99999999999999999999, 10**5000]
HUGE_IDS = ["2**31", "2**63", "2**64", "20-nines", "10**5000"]
SPEC = {"name": "m", "model": {"name": "mlp", "width": 8, "depth": 1}}


def one_line(err: pytest.ExceptionInfo[BaseException]) -> str:
    text = str(err.value)
    assert "\n" not in text and len(text) < 300, text
    return text


# -- the parser -----------------------------------------------------------------------------------


def test_the_largest_version_parses_and_one_more_is_refused() -> None:
    assert parse_ref(f"m:{MAX_VERSION}") == Ref("m", version=MAX_VERSION)
    assert parse_ref("m:007").version == 7
    for text in (f"m:{MAX_VERSION + 1}", "m:99999999999999999999", "m:0", "m:000"):
        with pytest.raises(UserError, match=r"bad model reference .* version number") as err:
            parse_ref(text)
        one_line(err)


def test_thousands_of_digits_are_refused_without_converting_them() -> None:
    # int() of more than 4,300 digits raises ValueError in Python: the parser never gets there
    for text in ("m:" + "9" * 5000, "m:" + "0" * 5000 + "1" + "0" * 30):
        with pytest.raises(UserError, match=r"bad model reference .* version number") as err:
            parse_ref(text)
        one_line(err)
    assert parse_ref("m:" + "0" * 5000 + "12").version == 12


@pytest.mark.parametrize(
    "text",
    ["m\n", "m:1\n", "m@production\n", "m@production\r\n", "m:1\r\n", " m:1", "m:1 ", "\tm"],
)
def test_a_reference_with_a_newline_or_spaces_around_it_is_refused(text: str) -> None:
    with pytest.raises(UserError, match="bad model reference") as err:
        parse_ref(text)
    one_line(err)


@pytest.mark.parametrize("stage", ["production\n", "production\r\n", "\nproduction", "prod\nx"])
def test_a_stage_with_a_newline_is_refused(stage: str) -> None:
    with pytest.raises(UserError, match="bad stage") as err:
        check_stage(stage)
    one_line(err)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"version": MAX_VERSION + 1},
        {"version": 0},
        {"version": True},
        {"version": 1, "stage": "production"},
        {"stage": "production\n"},
    ],
)
def test_a_ref_cannot_be_built_from_bad_parts(kwargs: dict) -> None:
    with pytest.raises(UserError):
        Ref("m", **kwargs)
    with pytest.raises(UserError, match="bad model name"):
        Ref("m\n")


@pytest.mark.parametrize("bad", [*HUGE, 0, -1, True, 1.0, "1"], ids=[*HUGE_IDS, *"abcde"])
def test_check_version_refuses_anything_but_a_version_number(bad: object) -> None:
    with pytest.raises(UserError, match="bad version number") as err:
        check_version(bad)
    one_line(err)


# -- the stores (memory, SQLite, PostgreSQL) ------------------------------------------------------


def _register(store, name: str = "m") -> None:
    store.create_version(
        name, manifest_digest="a" * 64, sign=sign, created_by="t",
        gates_passed=True, metrics={},
    )  # fmt: skip


@pytest.mark.parametrize("version", HUGE, ids=HUGE_IDS)
def test_a_store_refuses_a_version_beyond_its_columns(store, version: int) -> None:
    _register(store)
    with pytest.raises(UserError, match="bad version number") as err:
        store.get_version("m", version)
    one_line(err)
    with pytest.raises(UserError, match="bad version number") as err:
        store.move_alias(
            "m",
            "production",
            version,
            action="promote",
            actor="t",
            reason="",
            forced=False,
            sign=sign,
        )
    one_line(err)
    assert store.list_aliases("m") == {}


def test_a_store_answers_the_largest_version_without_overflow(store) -> None:
    _register(store)
    assert store.get_version("m", MAX_VERSION) is None
    with pytest.raises(NotFoundError):
        store.move_alias(
            "m",
            "production",
            MAX_VERSION,
            action="promote",
            actor="t",
            reason="",
            forced=False,
            sign=sign,
        )
    assert store.verify_audit() == []


# -- the Registry over each store -----------------------------------------------------------------


@pytest.fixture
def registry(store, tmp_path: Path, model_files: Path) -> Registry:
    keys = KeyStore(tmp_path / "keys")
    keys.init()
    reg = Registry(store, ContentStore(MemoryBackend()), keys, actor="t")
    files = {p.name: p.read_bytes() for p in model_files.iterdir()}
    reg.register("m", files, spec=SPEC, preprocessing={}, metrics={}, gates=[], lineage={})
    return reg


@pytest.mark.parametrize("ref", ["m:2147483648", "m:9223372036854775808", "m:99999999999999999999"])
def test_registry_refuses_a_huge_version_in_every_call(registry: Registry, ref: str) -> None:
    for call in (registry.verify, registry.load, registry.get, registry.resolve):
        with pytest.raises(UserError, match="version number must be a whole number") as err:
            call(ref)
        one_line(err)
    with pytest.raises(UserError, match="version number must be a whole number"):
        registry.promote(ref, "production")
    assert registry.aliases("m") == {}
    assert registry.load(f"m:{1}").version == 1


@pytest.mark.parametrize("stage", ["production\n", "production\r\n"])
def test_registry_refuses_a_stage_ending_in_a_newline(registry: Registry, stage: str) -> None:
    registry.promote("m:1", "production")
    with pytest.raises(UserError, match="bad stage"):
        registry.promote("m:1", stage)
    with pytest.raises(UserError, match="bad stage"):
        registry.rollback("m", stage)
    assert registry.aliases("m") == {"production": 1}
    assert [e.stage for e in registry.history("m")] == ["production"]
