"""Ten real data sets through the real ``keel run`` (bench/sweep.py's subset): none may crash.

Each set gets a spec with only ``source``, ``target`` and one epoch and runs as a subprocess, as
a user would run it. A run must train, or stop with exit 2 and one line of error text; never a
traceback, never another exit code. The sets that train today must keep training.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

BENCH = Path(__file__).parent.parent.parent / "bench" / "sweep.py"


def _sweep_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("_bench_sweep", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


sweep = _sweep_module()

TRAINS = (
    "datasets/iris",  # labels as strings
    "rpart/kyphosis",  # 81 rows
    "datasets/mtcars:carb",  # two classes of one row each
    "ggplot2/mpg:fl",  # a class of one row, a 38-level column
    "datasets/stackloss",  # 21 rows, dots in column names
    "ggplot2/economics",  # a date column
    "sklearn:linnerud",  # 20 rows, written to CSV
)
ONE_LINE_ERRORS = (
    "vcd/Arthritis",  # half the target missing
    "palmerpenguins/penguins",  # gaps in numeric and categorical columns
    "carData/Prestige",  # gaps in a categorical column
)


@pytest.mark.slow
def test_real_data_sets_train_or_stop_with_one_line(tmp_path: Path) -> None:
    cases = sweep.select(sweep.CASES, ",".join(TRAINS + ONE_LINE_ERRORS), None)
    rows = sweep.sweep(cases, tmp_path, epochs=1, timeout=240, jobs=2)
    by_name = {r.name: r for r in rows}
    report = sweep.table(rows)
    for row in rows:
        assert row.outcome != "crash", report
        assert "Traceback" not in row.stderr, (row.name, row.stderr)
    for name in ONE_LINE_ERRORS:
        row = by_name[name]
        if row.outcome == "error":  # a later issue may make it train; it must not crash
            assert row.returncode == 2 and row.detail.startswith("error: "), report
            assert "; " in row.detail, report  # the problem, then the fix
    for name in TRAINS:
        row = by_name[name]
        assert row.outcome == "trained", report
        assert row.task == sweep.CASES[[c.name for c in sweep.CASES].index(name)].task, report


@pytest.mark.parametrize(
    ("returncode", "stdout", "stderr", "outcome"),
    [
        (0, '{"metrics": {"test": {"accuracy": 0.9}}}\n', "", "trained"),
        (2, "", "error: column 'x' has 3 missing values; set [data] missing\n", "error"),
        (2, "", "error: one\nerror: two\n", "crash"),  # more than one line of error text
        (2, "", "Traceback (most recent call last):\nValueError: boom\n", "crash"),
        (1, "", "error: internal\n", "crash"),  # exit 1: not a user error
        (0, "", "Traceback (most recent call last):\nValueError: boom\n", "crash"),
        (0, "no json\n", "", "crash"),
        (None, "", "", "crash"),  # timed out
    ],
)
def test_judge_sorts_outcomes_as_a_user_sees_them(returncode, stdout, stderr, outcome) -> None:
    assert sweep.judge(returncode, stdout, stderr)[0] == outcome
