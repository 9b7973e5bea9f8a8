"""An error is one line whatever the value it quotes: a 20-digit number in a spec key or a flag
(no OverflowError from pyarrow, no terabyte allocation in torch), a newline, a carriage return or
a terminal escape in a spec value, a file name or a flag (written escaped), and a flag click
refuses (no usage box). Each is a real `keel` process: exit 2, one line, nothing written."""

from __future__ import annotations

import inspect
import json
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from keel.cli._app import app
from tests._cli import assert_nothing_written, assert_user_error

HUGE = "99999999999999999999"
BASE = 'name = "m"\n[data]\nsource = "builtin:iris"\n'
FAST = "[train]\nepochs = 1\nthreads = 1\n[report]\nenabled = false\n"


def write(tmp_path: Path, text: str, name: str = "spec.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


# (spec text, the key the line names): one key of each kind of section and value
HUGE_VALUES = [
    (f"seed = {HUGE}\n" + BASE, "seed"),
    (BASE + f"chunk_rows = {HUGE}\n", "data.chunk_rows"),
    (BASE + f"image_shape = [1, {HUGE}, 8]\n", "data.image_shape[1]"),
    (BASE + f'[model]\nname = "mlp"\nwidth = {HUGE}\n', "model.width"),
    (BASE + '[model]\nname = "mlp"\nwidth = 4000000000\n', "model.width"),
    (BASE + f'[model]\nname = "cnn"\nchannels = [16, {HUGE}]\n', "model.channels[1]"),
    (BASE + f"[train]\nepochs = {HUGE}\n", "train.epochs"),
    (BASE + "[train]\nclass_weights = { a = 1e400 }\n", "train.class_weights"),
    (BASE + "[train.schedule]\nmax_lr = inf\n", "train.schedule.max_lr"),
    (BASE + f"[serve]\nmax_queue = {HUGE}\n", "serve.max_queue"),
    (BASE + "[serve.prediction_log]\nflush_s = 1e300\n", "serve.prediction_log.flush_s"),
]


@pytest.mark.parametrize(("text", "key"), HUGE_VALUES, ids=[k for _, k in HUGE_VALUES])
def test_keel_validate_refuses_a_huge_value_in_one_line(tmp_path, keel_cli, text, key) -> None:
    assert_user_error(keel_cli("validate", write(tmp_path, text)), key)


@pytest.mark.parametrize(
    ("text", "key"), [HUGE_VALUES[i] for i in (0, 1, 4, 5)], ids=["seed", "chunk", "width", "ch"]
)
def test_keel_run_refuses_a_huge_value_in_one_line(
    tmp_path, keel_cli, keel_home, text, key
) -> None:
    assert_user_error(keel_cli("run", write(tmp_path, text + FAST)), key)
    assert_nothing_written(keel_home)


def test_a_network_of_terabytes_is_one_line_before_a_run_starts(
    tmp_path, keel_cli, keel_home
) -> None:
    text = BASE + '[model]\nname = "mlp"\nwidth = 65536\ndepth = 8\n' + FAST
    assert_user_error(keel_cli("run", write(tmp_path, text)), "parameters", "width or depth")
    assert_nothing_written(keel_home)


def test_the_largest_seed_trains_with_folds_and_resampling(tmp_path, keel_cli, keel_home) -> None:
    """A fold's seed (seed + fold + 1) once went past the 2**32 scikit-learn and imbalanced-learn
    take: a traceback from SMOTE at the top of the seed range."""
    text = (
        "seed = 4294967295\n" + BASE + '[data.balance]\nmethod = "smote"\n'
        "[data.features]\nselect_k = 3\n[evaluate]\ncv_folds = 3\n" + FAST
    )
    done = keel_cli("run", write(tmp_path, text), "--json", "--no-register")
    assert done.returncode == 0, done.stderr
    assert "cv" in json.loads(done.stdout)["metrics"]


def _csv(tmp_path: Path, name: str = "d.csv") -> Path:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x": rng.normal(size=80), "y": rng.choice(["a", "b"], size=80)})
    path = tmp_path / name
    frame.to_csv(path, index=False)
    return path


def test_keel_data_refuses_a_huge_chunk_size_in_one_line(tmp_path, keel_cli, keel_home) -> None:
    _csv(tmp_path)
    spec = write(tmp_path, 'name = "m"\n[data]\nsource = "d.csv"\ntarget = "y"\n')
    out = tmp_path / "out.csv"
    for flag in (HUGE, "0", "-5"):
        done = keel_cli("data", "clean", spec, "--out", out, "--chunk-rows", flag, "--no-html")
        assert_user_error(done, "--chunk-rows", "keel data clean --help")
    assert not out.exists()
    text = f'name = "m"\n[data]\nsource = "d.csv"\ntarget = "y"\nchunk_rows = {HUGE}\n'
    assert_user_error(keel_cli("data", "check", write(tmp_path, text)), "data.chunk_rows")
    assert not (keel_home / "checks").exists()


def _one_escaped_line(result, *needles: str) -> None:
    """Exit 2, one line, the control characters written escaped, none left raw."""
    assert_user_error(result, *needles)
    assert not any(c in result.stderr.rstrip("\n") for c in "\r\x1b\x85\u2028"), result.stderr


@pytest.mark.parametrize(("raw", "shown"), [("\\n", "\\\\n"), ("\\r", "\\\\r")])
def test_a_source_holding_a_line_break_is_one_line_in_every_command(
    tmp_path, keel_cli, keel_home, raw, shown
) -> None:
    spec = write(tmp_path, f'name = "m"\n[data]\nsource = "builtin:iris{raw}"\n' + FAST)
    escaped = shown.replace("\\\\", "\\")
    for command in (("run",), ("data", "check", "--no-html")):
        _one_escaped_line(keel_cli(*command, spec), f"iris{escaped}")
    assert_nothing_written(keel_home)
    valid = keel_cli("validate", spec)  # valid as a spec: the summary line is one line too
    assert valid.returncode == 0 and len(valid.stdout.strip().splitlines()) == 1, valid.stdout


def test_a_data_file_whose_name_holds_a_newline_is_one_line(tmp_path, keel_cli) -> None:
    _csv(tmp_path, "da\nta")  # exists, but has no extension keel reads
    spec = write(tmp_path, 'name = "m"\n[data]\nsource = "da\\nta"\ntarget = "y"\n' + FAST)
    _one_escaped_line(keel_cli("run", spec), "da\\nta", "unknown file type")
    spec = write(tmp_path, 'name = "m"\n[data]\nsource = "no\\r\\nne.csv"\ntarget = "y"\n')
    _one_escaped_line(keel_cli("run", spec), "no\\r\\nne.csv")


def test_a_terminal_escape_in_a_value_is_written_escaped(tmp_path, keel_cli) -> None:
    _csv(tmp_path)
    spec = write(tmp_path, 'name = "m"\n[data]\nsource = "d.csv"\ntarget = "\\u001b[2Jy"\n')
    _one_escaped_line(keel_cli("run", spec), "\\x1b[2Jy")


def test_a_path_or_a_flag_holding_a_newline_is_one_line(tmp_path, keel_cli, keel_home) -> None:
    _one_escaped_line(keel_cli("validate", tmp_path / "a\nb.toml"), "a\\nb.toml")
    spec = write(tmp_path, BASE + FAST)
    _one_escaped_line(keel_cli("run", spec, "--resume", "nope\r\n"), "nope\\r\\n")
    out = tmp_path / "o.csv"
    done = keel_cli("data", "clean", spec, "--out", out, "--chunk-rows", "1\n\u20282")
    _one_escaped_line(done, "--chunk-rows")
    assert not out.exists()


def test_a_flag_click_refuses_is_one_line_naming_the_help(tmp_path, keel_cli) -> None:
    assert_user_error(keel_cli("run"), "Missing argument", "keel run --help")
    assert_user_error(keel_cli("run", tmp_path / "s.toml", "--bogus"), "--bogus")
    assert_user_error(keel_cli("serve", "m", "--port", HUGE), "--port", "keel serve --help")
    group = keel_cli("data")  # a group without its command still shows its help
    assert group.returncode == 2 and "check" in group.stdout + group.stderr


# Numeric flags of `keel` without both min= and max=, and why. Those feeding a [serve] key are
# checked by ServeConfig when the server starts (one line, exit 2).
UNBOUNDED_FLAGS = {
    "keel serve --max-batch-size": "checked as [serve] max_batch_size",
    "keel serve --max-delay-ms": "checked as [serve] max_delay_ms",
    "keel serve --max-queue": "checked as [serve] max_queue",
    "keel serve --timeout-s": "checked as [serve] timeout_s",
    "keel serve --max-rows": "checked as [serve] max_rows",
    "keel serve --body-timeout-s": "checked as [serve] body_timeout_s",
    "keel serve --log-sample": "checked as [serve.prediction_log] sample",
}


def _numeric_flags() -> Iterator[tuple[str, Any]]:
    def commands(group: Any, path: list[str]) -> Iterator[tuple[list[str], Any]]:
        for command in group.registered_commands:
            yield [*path, command.name or command.callback.__name__], command.callback
        for sub in group.registered_groups:
            yield from commands(sub.typer_instance, [*path, sub.name])

    for path, callback in commands(app, ["keel"]):
        hints = typing.get_type_hints(callback)
        for name, parameter in inspect.signature(callback).parameters.items():
            kinds = [
                a for a in typing.get_args(hints[name]) or (hints[name],) if a is not type(None)
            ]
            if kinds and kinds[0] in (int, float):
                yield f"{' '.join(path)} --{name.replace('_', '-')}", parameter.default


def test_every_numeric_flag_has_both_bounds_or_a_reason() -> None:
    flags = dict(_numeric_flags())
    assert "keel data clean --chunk-rows" in flags and "keel serve --port" in flags
    missing = [
        f for f, info in flags.items() if (info.min is None or info.max is None)
    ]  # fmt: skip
    assert sorted(set(missing) - set(UNBOUNDED_FLAGS)) == []
    stale = sorted(set(UNBOUNDED_FLAGS) - set(missing))
    assert stale == [], f"bounded now: remove them from UNBOUNDED_FLAGS: {stale}"
