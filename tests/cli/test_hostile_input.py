"""Hostile values typed at the CLI: a version number past every store's range, a stage or a
reference ending in a newline, spec values ending in a newline. Each is exit 2 with one line
naming the value and leaves the registry as it was (one "production" row, never two)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from keel.registry import RegistrySettings, open_registry
from tests._cli import assert_user_error


@pytest.fixture
def registered(keel_home: Path) -> Path:
    with open_registry(RegistrySettings(home=str(keel_home), user="t")) as registry:
        registry.register(
            "digits", {"w.bin": b"weights"}, spec={}, preprocessing={}, metrics={}, gates=[],
            lineage={},
        )  # fmt: skip
    return keel_home


@pytest.mark.parametrize(
    "ref", ["digits:99999999999999999999", "digits:9223372036854775808", "digits:2147483648"]
)
def test_a_version_number_past_the_stores_range_is_one_line(registered, keel_cli, ref) -> None:
    for command in (("verify", ref), ("models", "show", ref), ("promote", ref, "--to", "prod")):
        assert_user_error(keel_cli(*command), "bad model reference", ref, "version number")


def test_a_version_number_of_thousands_of_digits_is_one_short_line(registered, keel_cli) -> None:
    result = keel_cli("verify", "digits:" + "9" * 5000)
    assert_user_error(result, "bad model reference", "version number")
    assert len(result.stderr) < 400


@pytest.mark.parametrize("stage", ["production\n", "production\r\n"])
def test_a_stage_ending_in_a_newline_is_refused(registered, keel_cli, stage: str) -> None:
    assert keel_cli("promote", "digits:1", "--to", "production").returncode == 0
    assert_user_error(keel_cli("promote", "digits:1", "--to", stage), "bad stage")
    assert_user_error(keel_cli("rollback", "digits", "--stage", stage), "bad stage")
    models = json.loads(keel_cli("models", "list", "--json").stdout)
    assert models[0]["stages"] == {"production": 1}
    history = json.loads(keel_cli("history", "digits", "--json").stdout)
    assert [event["stage"] for event in history] == ["production"]


@pytest.mark.parametrize("ref", ["digits:1\n", "digits@production\n", "digits\r\n"])
def test_a_reference_ending_in_a_newline_is_refused(registered, keel_cli, ref: str) -> None:
    assert_user_error(keel_cli("verify", ref), "bad model reference")


@pytest.mark.parametrize("ending", ["\\n", "\\r\\n"])
def test_spec_names_ending_in_a_newline_are_refused(tmp_path: Path, keel_cli, ending) -> None:
    # pydantic's default (Rust) regex engine reads `$` as the end of the text: keep it that way
    spec = tmp_path / "spec.toml"
    spec.write_text(f'name = "digits{ending}"\n[data]\nsource = "builtin:iris"\n')
    assert_user_error(keel_cli("validate", spec), "name = ")
    spec.write_text(
        f'name = "digits"\n[data]\nsource = "builtin:iris"\n[data.pii]\nkey_env = "KEY{ending}"\n'
    )
    assert_user_error(keel_cli("validate", spec), "data.pii.key_env")


def test_a_data_source_ending_in_a_newline_is_not_the_builtin_set(tmp_path: Path, keel_cli):
    spec = tmp_path / "spec.toml"
    spec.write_text('name = "x"\n[data]\nsource = "builtin:iris\\n"\n')
    result = keel_cli("data", "check", spec, "--no-html")
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
